// The response class of a reply (CoreDNS's response.Typify + Classify) for log's `class` filter:
// success (NOERROR with answers, a delegation, or NOERROR without SOA), denial (NXDOMAIN or
// NOERROR with a SOA in authority), error (everything else: SERVFAIL, NXDOMAIN without SOA,
// REFUSED, an expired RRSIG asked for with DO, a transfer or an update, no reply at all).
import { QTYPE, rcodeOf, skipName, type Message, type Request } from '../../src/plugin/api.js';

export type ResponseClass = 'success' | 'denial' | 'error';

const OPCODE_NOTIFY = 4;
const OPCODE_UPDATE = 5;

/** Classify the reply `res` (undefined: nothing was sent) to `req`; `now` in Unix seconds. */
export function classifyReply(req: Request, res: Message | Uint8Array | undefined, now: number): ResponseClass {
  if (res === undefined) return 'error';
  const opcode = (req.wire[2]! >> 3) & 0xf;
  if (opcode === OPCODE_UPDATE || opcode === OPCODE_NOTIFY) return 'error';
  if (req.qtype === QTYPE.AXFR || req.qtype === QTYPE.IXFR) return 'error';
  const s = res instanceof Uint8Array ? scanWire(res, req.do, now) : scanMessage(res, req.do, now);
  if (s === undefined || s.expired) return 'error';
  const { rcode, answers, soa, ns } = s;
  if (answers > 0 && rcode === 0) return 'success';
  if (soa && (rcode === 0 || rcode === 3)) return 'denial';
  if (rcode === 2 || rcode === 4) return 'error';
  if (ns > 0 && rcode === 0) return 'success';
  return rcode === 0 ? 'success' : 'error';
}

interface Shape {
  rcode: number;
  answers: number;
  soa: boolean;
  ns: number;
  expired: boolean;
}

/** RRSIG validity as RFC 4034 3.1.5 serial numbers: inception ≤ now ≤ expiration. */
function sigExpired(inception: number, expiration: number, now: number): boolean {
  const n = now >>> 0;
  const before = (((n - inception) >>> 0) & 0x80000000) !== 0;
  const after = (((expiration - n) >>> 0) & 0x80000000) !== 0;
  return before || after;
}

function scanMessage(m: Message, checkSigs: boolean, now: number): Shape {
  let soa = false;
  let ns = 0;
  for (const a of m.authorities ?? []) {
    if (a.type === 'SOA') soa = true;
    else if (a.type === 'NS') ns++;
  }
  let expired = false;
  if (checkSigs) {
    for (const sec of [m.answers, m.authorities, m.additionals]) {
      for (const a of sec ?? []) {
        if (a.type !== 'RRSIG') continue;
        const d = a.data as { inception: number; expiration: number };
        if (sigExpired(d.inception, d.expiration, now)) expired = true;
      }
    }
  }
  return { rcode: rcodeOf(m), answers: m.answers?.length ?? 0, soa, ns, expired };
}

/** The same from wire bytes (a cache hit), without decoding the records. */
function scanWire(b: Uint8Array, checkSigs: boolean, now: number): Shape | undefined {
  if (b.length < 12) return undefined;
  const qd = (b[4]! << 8) | b[5]!;
  const an = (b[6]! << 8) | b[7]!;
  const nsCount = (b[8]! << 8) | b[9]!;
  const ar = (b[10]! << 8) | b[11]!;
  let rcode = b[3]! & 0xf;
  let pos = 12;
  for (let i = 0; i < qd; i++) {
    pos = skipName(b, pos);
    if (pos < 0) return undefined;
    pos += 4;
  }
  let soa = false;
  let ns = 0;
  let expired = false;
  const total = an + nsCount + ar;
  for (let i = 0; i < total; i++) {
    pos = skipName(b, pos);
    if (pos < 0 || pos + 10 > b.length) return undefined;
    const type = (b[pos]! << 8) | b[pos + 1]!;
    const rdlen = (b[pos + 8]! << 8) | b[pos + 9]!;
    const rd = pos + 10;
    if (rd + rdlen > b.length) return undefined;
    if (i >= an && i < an + nsCount) {
      if (type === QTYPE.SOA) soa = true;
      else if (type === QTYPE.NS) ns++;
    }
    if (type === QTYPE.OPT) rcode |= b[pos + 4]! << 4;
    if (checkSigs && type === QTYPE.RRSIG && rdlen >= 18) {
      const dv = new DataView(b.buffer, b.byteOffset + rd, rdlen);
      if (sigExpired(dv.getUint32(12), dv.getUint32(8), now)) expired = true;
    }
    pos = rd + rdlen;
  }
  return { rcode, answers: an, soa, ns, expired };
}
