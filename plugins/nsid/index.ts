// nsid: RFC 5001 name server identifier. When a request's OPT carries the NSID option, the reply's
// OPT carries NSID with this server's identifier (DATA, or the host name): an existing NSID
// option in the reply is replaced, otherwise it is added (and an OPT with it, if the reply has
// none). The writer is wrapped only for requests that ask. Wire replies (cache hits, forward) are
// patched in a copy without decoding them.
import os from 'node:os';
import dnsPacket from 'dns-packet';
import { definePlugin, findOpt, WrappedWriter, type Message, type Request, type ResponseWriter } from '../../src/plugin/api.js';

export const NSID = 3;

export interface NsidConfig {
  /** undefined: the host name. */
  data: string | undefined;
}

/** True when the request's OPT has an NSID option. */
export function asksNsid(req: Request): boolean {
  if (!req.edns) return false;
  const wire = req.wire;
  const at = findOpt(wire);
  if (at < 0) return false;
  let o = at + 11;
  const end = o + ((wire[at + 9]! << 8) | wire[at + 10]!);
  while (o + 4 <= end) {
    if (((wire[o]! << 8) | wire[o + 1]!) === NSID) return true;
    o += 4 + ((wire[o + 2]! << 8) | wire[o + 3]!);
  }
  return false;
}

/** A copy of the wire reply `res` whose OPT carries NSID `id` (an OPT is appended if there is none). */
export function withNsid(res: Uint8Array, id: Buffer, udpSize: number): Buffer {
  const at = findOpt(res);
  const opt: number[] = [];
  let head: Uint8Array;
  let tail: Uint8Array;
  let added = 0;
  if (at >= 0) {
    const rdlen = (res[at + 9]! << 8) | res[at + 10]!;
    const end = at + 11 + rdlen;
    for (let o = at + 11; o + 4 <= end; ) {
      const len = (res[o + 2]! << 8) | res[o + 3]!;
      if (((res[o]! << 8) | res[o + 1]!) !== NSID) for (let i = o; i < o + 4 + len && i < end; i++) opt.push(res[i]!);
      o += 4 + len;
    }
    head = res.subarray(0, at + 9); // the OPT up to its RDLENGTH
    tail = res.subarray(end);
  } else {
    head = res;
    tail = new Uint8Array(0);
    added = 1;
  }
  const rdata = opt.length + 4 + id.length;
  const extra = added ? 9 : 0; // root name, type, class (size), TTL of a new OPT
  const out = Buffer.allocUnsafe(head.length + extra + 2 + rdata + tail.length);
  out.set(head, 0);
  let p = head.length;
  if (added) {
    out[p++] = 0;
    out[p++] = 0;
    out[p++] = 41;
    out[p++] = udpSize >> 8;
    out[p++] = udpSize & 0xff;
    out[p++] = 0;
    out[p++] = 0;
    out[p++] = 0;
    out[p++] = 0;
    const ar = ((out[10]! << 8) | out[11]!) + 1;
    out[10] = ar >> 8;
    out[11] = ar & 0xff;
  }
  out[p++] = rdata >> 8;
  out[p++] = rdata & 0xff;
  out.set(opt, p);
  p += opt.length;
  out[p++] = 0;
  out[p++] = NSID;
  out[p++] = id.length >> 8;
  out[p++] = id.length & 0xff;
  out.set(id, p);
  p += id.length;
  out.set(tail, p);
  return out;
}

class NsidWriter extends WrappedWriter {
  constructor(
    inner: ResponseWriter,
    private readonly id: Buffer,
    private readonly udpSize: number,
  ) {
    super(inner);
  }

  override write(res: Message | Uint8Array): void {
    if (res instanceof Uint8Array) return this.inner.write(withNsid(res, this.id, this.udpSize));
    const nsid = { code: NSID, data: this.id };
    let found = false;
    const additionals = (res.additionals ?? []).map((a) => {
      if (a.type !== 'OPT') return a;
      found = true;
      const options = ((a as { options?: Array<{ code: number | string }> }).options ?? []).filter((o) => o.code !== NSID && o.code !== 'NSID');
      return { ...a, options: [...options, nsid] } as typeof a;
    });
    if (!found) additionals.push({ type: 'OPT', name: '.', udpPayloadSize: this.udpSize, extendedRcode: 0, ednsVersion: 0, flags: 0, options: [nsid] } as dnsPacket.Answer);
    this.inner.write({ ...res, additionals });
  }
}

export default definePlugin<NsidConfig>({
  name: 'nsid',
  api: '^1',
  once: true,
  parse(d) {
    d.next();
    const args = d.remainingArgs();
    if (d.nextBlock()) throw d.unknownProperty();
    return { data: args.length > 0 ? args.join(' ') : undefined };
  },
  setup(cfg) {
    let data = cfg.data;
    if (data === undefined) {
      try {
        data = os.hostname() || 'localhost';
      } catch {
        data = 'localhost';
      }
    }
    const id = Buffer.from(data);
    return {
      serve(req, w, next) {
        if (!asksNsid(req)) return next(req, w);
        return next(req, new NsidWriter(w, id, req.bufsize));
      },
    };
  },
});
