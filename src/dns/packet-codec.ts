// Names with a '.' or a '\' inside a label (`a\.b.example.org`, RFC 1035 5.1 / 4343 escapes)
// through dns-packet, which splits a name's text at every dot and reads a label's bytes as UTF-8:
// its name codec is replaced, once, by one that reads the zone-file escapes (\. \\ \X \DDD)
// when writing (names.ts encodeName) and, when reading, spells a name as wire.ts readName spells
// a query name (escapeLabelByte: `a\.b` is the one label "a.b", 03 61 2e 62; a byte that is no
// printable ASCII is `\DDD`, so it keeps its value — dns-packet made 0xff the three bytes of
// U+FFFD). Names without a backslash are written by dns-packet's own code; names of printable
// ASCII read as dns-packet read them. The `mail` form (SOA RNAME), which dns-packet already
// escapes, is left to dns-packet.
//
// Classes: dns-packet knows IN, CS, CH, HS and ANY by name and writes 0 for any other; zone files
// may also hold NONE and CLASSn (RFC 3597), which are written as their number here (and a class
// dns-packet read as UNKNOWN_n is written back as n).
import { createRequire } from 'node:module';
import dnsPacket from 'dns-packet';
import { encodeName, escapeLabelByte, nameLabels } from './names.js';

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
    const wire = encodeName(s);
    if (!buf) buf = Buffer.alloc(wire.length);
    buf.set(wire, offset);
    encode.bytes = wire.length;
    return buf;
  }) as NameCodec['encode'];
  encode.bytes = 0;

  const decode = ((buf: Buffer, offset = 0, o?: { mail?: boolean }): string => {
    if (o?.mail === true) return decode0(buf, offset, o); // (it sets codec.decode.bytes: this function's)
    const name = readWireName(buf, offset);
    decode.bytes = readBytes;
    return name;
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

/** Bytes of a label that are spelled as they are (escapeLabelByte's plain characters). */
const plainByte = (c: number): boolean => c > 0x20 && c < 0x7f && c !== 0x2e && c !== 0x5c && c !== 0x22 && c !== 0x28 && c !== 0x29 && c !== 0x3b && c !== 0x40 && c !== 0x24;

/** The label bytes of the name being read, with a dot after each label (a name is at most 255 bytes). */
const scratch = Buffer.alloc(256);
/** Where each label of the name being read ends in `scratch`. */
const labelEnds = new Uint16Array(128);
/** Bytes the last readWireName took at its offset (up to its first pointer, or its final zero). */
let readBytes = 0;

/**
 * The name at `off` in presentation form, in one walk: plain label bytes as they are, every other
 * byte as escapeLabelByte spells it (so a name reads as wire.ts readName reads a query name, and
 * a byte that is no UTF-8 keeps its value). Errors as dns-packet's: overflow, too long, a pointer
 * that is not backwards, a reserved label type.
 */
function readWireName(buf: Buffer, off: number): string {
  let p = off;
  let stop = off;
  let jumped = false;
  let n = 0;
  let labels = 0;
  let plain = true;
  for (;;) {
    if (p >= buf.length) throw new Error('Cannot decode name (buffer overflow)');
    const l = buf[p]!;
    if (l === 0) {
      if (!jumped) readBytes = p + 1 - off;
      break;
    }
    if ((l & 0xc0) === 0xc0) {
      if (p + 1 >= buf.length) throw new Error('Cannot decode name (buffer overflow)');
      const to = ((l & 0x3f) << 8) | buf[p + 1]!;
      if (to >= stop) throw new Error('Cannot decode name (bad pointer)');
      if (!jumped) readBytes = p + 2 - off;
      jumped = true;
      p = stop = to;
      continue;
    }
    if ((l & 0xc0) !== 0) throw new Error('Cannot decode name (bad label)');
    if (p + 1 + l > buf.length) throw new Error('Cannot decode name (buffer overflow)');
    if (n + l + 1 > 254) throw new Error('Cannot decode name (name too long)');
    for (let i = p + 1; i <= p + l; i++) {
      const c = buf[i]!;
      if (!plainByte(c)) plain = false;
      scratch[n++] = c;
    }
    labelEnds[labels++] = n;
    scratch[n++] = 0x2e;
    p += l + 1;
  }
  if (n === 0) return '.';
  // dns-packet's form: no final dot
  if (plain) return scratch.toString('latin1', 0, n - 1);
  let out = '';
  let from = 0;
  for (let k = 0; k < labels; k++) {
    if (k > 0) out += '.';
    for (let i = from; i < labelEnds[k]!; i++) out += escapeLabelByte(scratch[i]!);
    from = labelEnds[k]! + 1;
  }
  return out;
}
