// Names with a '.' or a '\' inside a label (`a\.b.example.org`, RFC 1035 5.1 / 4343 escapes)
// through dns-packet, which splits a name's text at every dot and writes a decoded label's text as
// it is: its name codec is replaced, once, by one that reads the zone-file escapes (\. \\ \X \DDD)
// when writing and escapes '.' and '\' inside a label when reading, so that such a label keeps
// its bytes on the wire (a\.b is the one label "a.b", 03 61 2e 62). Names without a backslash are
// written by dns-packet's own code, and read the same as before unless a label holds '.' or '\'.
// The `mail` form (SOA RNAME), which dns-packet already escapes, is left to dns-packet.
//
// Classes: dns-packet knows IN, CS, CH, HS and ANY by name and writes 0 for any other; zone files
// may also hold NONE and CLASSn (RFC 3597), which are written as their number here (and a class
// dns-packet read as UNKNOWN_n is written back as n).
import { createRequire } from 'node:module';
import dnsPacket from 'dns-packet';
import { nameLabels } from './names.js';

interface NameCodec {
  encode: ((s: string, buf?: Buffer, offset?: number, o?: { mail?: boolean }) => Buffer) & { bytes: number };
  decode: ((buf: Buffer, offset?: number, o?: { mail?: boolean }) => string) & { bytes: number };
  encodingLength: (s: string) => number;
}

const codec = (dnsPacket as unknown as { name: NameCodec }).name;
const PATCHED = Symbol.for('typedns.dns-packet.names');

function escapedLength(s: string): number {
  let len = 1;
  for (const l of nameLabels(s)) len += l.length + 1;
  return len;
}

if (!(codec as unknown as Record<symbol, boolean>)[PATCHED]) {
  (codec as unknown as Record<symbol, boolean>)[PATCHED] = true;
  const encode0 = codec.encode;
  const decode0 = codec.decode;
  const length0 = codec.encodingLength;

  const encode = ((s: string, buf?: Buffer, offset = 0, o?: { mail?: boolean }): Buffer => {
    if (o?.mail === true || !s.includes('\\')) {
      return encode0(s, buf, offset, o); // (it sets codec.encode.bytes: this function's)
    }
    const labels = nameLabels(s);
    if (!buf) buf = Buffer.alloc(escapedLength(s));
    let p = offset;
    for (const l of labels) {
      if (l.length > 63) throw new Error(`label too long in '${s}'`);
      buf[p++] = l.length;
      buf.set(l, p);
      p += l.length;
    }
    buf[p++] = 0;
    encode.bytes = p - offset;
    return buf;
  }) as NameCodec['encode'];
  encode.bytes = 0;

  const decode = ((buf: Buffer, offset = 0, o?: { mail?: boolean }): string => {
    const name = decode0(buf, offset, o); // (it sets codec.decode.bytes: this function's)
    if (o?.mail === true || (!name.includes('\\') && !hasDotInLabel(buf, offset))) return name;
    // a label holds '.' or '\': spelled again from the wire with escapes
    const out: string[] = [];
    let p = offset;
    for (let hops = 0; hops < 128; ) {
      const l = buf[p]!;
      if (l === 0) break;
      if ((l & 0xc0) === 0xc0) {
        p = buf.readUInt16BE(p) & 0x3fff;
        hops++;
        continue;
      }
      out.push(buf.toString('utf-8', p + 1, p + 1 + l).replace(/[\\.]/g, (c) => `\\${c}`));
      p += l + 1;
    }
    return out.length === 0 ? '.' : out.join('.');
  }) as NameCodec['decode'];
  decode.bytes = 0;

  codec.encode = encode;
  codec.decode = decode;
  codec.encodingLength = (s: string): number => (s.includes('\\') ? escapedLength(s) : length0(s));
}

interface ClassCodec {
  toClass: (name: string) => number;
}
const classes = createRequire(import.meta.url)('dns-packet/classes') as ClassCodec;
if (!(classes as unknown as Record<symbol, boolean>)[PATCHED]) {
  (classes as unknown as Record<symbol, boolean>)[PATCHED] = true;
  const toClass0 = classes.toClass;
  classes.toClass = (name: string): number => {
    const n = toClass0(name);
    if (n !== 0) return n;
    const up = name.toUpperCase();
    if (up === 'NONE') return 254;
    const m = /^(?:CLASS|UNKNOWN_)(\d{1,5})$/.exec(up);
    return m !== null && Number(m[1]) <= 0xffff ? Number(m[1]) : 0;
  };
}

/** True when a label of the (already validated) name at `off` holds a '.' byte. */
function hasDotInLabel(buf: Buffer, off: number): boolean {
  let p = off;
  for (let hops = 0; hops < 128; ) {
    const l = buf[p]!;
    if (l === 0) return false;
    if ((l & 0xc0) === 0xc0) {
      p = buf.readUInt16BE(p) & 0x3fff;
      hops++;
      continue;
    }
    for (let i = p + 1; i <= p + l; i++) if (buf[i] === 0x2e) return true;
    p += l + 1;
  }
  return false;
}
