// minimal: minimal responses. A successful reply that is not a delegation goes out with only its
// answer section: the authority and additional records are dropped (the OPT record stays).
// Negative replies (NXDOMAIN, NODATA), errors, delegations, transfers, NOTIFY and UPDATE, and
// DNSSEC replies with expired signatures pass unchanged — CoreDNS's minimal over its
// response.Typify. Wire replies are classified and cut without decoding.
import { definePlugin, findOpt, QTYPE, replyRcode, skipName, WrappedWriter, type Message, type RR } from '../../src/plugin/api.js';

const OPCODE_NOTIFY = 4;
const OPCODE_UPDATE = 5;
const YEAR68 = 2 ** 31;

/** An RRSIG's validity period covers `now` (seconds), in serial arithmetic as miekg/dns's ValidityPeriod. */
export function validAt(inception: number, expiration: number, now: number): boolean {
  const ti = inception + Math.trunc((inception - now) / YEAR68) * YEAR68;
  const te = expiration + Math.trunc((expiration - now) / YEAR68) * YEAR68;
  return ti <= now && now <= te;
}

const u32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) >>> 0) + (b[o + 1]! << 16) + (b[o + 2]! << 8) + b[o + 3]!;

/** What to do with a reply: keep it, or strip it to its answer section. */
interface Shape {
  opcode: number;
  qtype: number;
  rcode: number;
  answers: number;
  soa: boolean;
  ns: number;
  /** DO set in the reply's OPT and some RRSIG outside its validity period. */
  expired: boolean;
}

/** CoreDNS's minimal: strip only a NoError reply that is not a delegation (Typify order). */
export function strips(s: Shape): boolean {
  if (s.opcode === OPCODE_UPDATE || s.opcode === OPCODE_NOTIFY) return false;
  if (s.qtype === QTYPE.AXFR || s.qtype === QTYPE.IXFR) return false;
  if (s.expired) return false;
  if (s.answers > 0) return s.rcode === 0;
  if (s.rcode !== 0) return false; // NXDOMAIN, SERVFAIL, NOTIMP, other errors
  if (s.soa) return false; // NODATA
  return s.ns === 0; // a referral keeps its NS and glue
}

/** The reply's bytes up to the end of the answer section plus its OPT, or null to keep it as it is. */
export function minimalWire(res: Uint8Array, now: number): Uint8Array | null {
  if (res.length < 12) return null;
  const qd = (res[4]! << 8) | res[5]!;
  const an = (res[6]! << 8) | res[7]!;
  const ns = (res[8]! << 8) | res[9]!;
  const ar = (res[10]! << 8) | res[11]!;
  if (ns === 0 && ar === 0) return null;
  if (ar === 1 && ns === 0 && findOpt(res) >= 0) return null; // only the OPT: nothing to strip
  let pos = 12;
  let qtype = 0;
  for (let i = 0; i < qd; i++) {
    pos = skipName(res, pos);
    if (pos < 0 || pos + 4 > res.length) return null;
    if (i === 0) qtype = (res[pos]! << 8) | res[pos + 1]!;
    pos += 4;
  }
  const shape: Shape = { opcode: (res[2]! >> 3) & 0xf, qtype, rcode: replyRcode(res), answers: an, soa: false, ns: 0, expired: false };
  let answerEnd = pos;
  let sigBad = false;
  let doBit = false;
  let optStart = -1;
  let optEnd = -1;
  for (let i = 0; i < an + ns + ar; i++) {
    const start = pos;
    const p = skipName(res, pos);
    if (p < 0 || p + 10 > res.length) return null;
    const type = (res[p]! << 8) | res[p + 1]!;
    const rdlen = (res[p + 8]! << 8) | res[p + 9]!;
    pos = p + 10 + rdlen;
    if (pos > res.length) return null;
    if (i >= an && i < an + ns) {
      if (type === QTYPE.SOA) shape.soa = true;
      else if (type === QTYPE.NS) shape.ns++;
    }
    if (type === QTYPE.RRSIG && rdlen >= 16) {
      // RRSIG rdata: type covered (2), algorithm, labels, original TTL (4), expiration (4), inception (4), …
      if (!validAt(u32(res, p + 10 + 12), u32(res, p + 10 + 8), now)) sigBad = true;
    }
    if (type === QTYPE.OPT && i >= an + ns) {
      optStart = start;
      optEnd = pos;
      doBit = (res[p + 6]! & 0x80) !== 0;
    }
    if (i === an - 1) answerEnd = pos;
  }
  shape.expired = doBit && sigBad;
  if (!strips(shape)) return null;
  const optLen = optStart >= 0 ? optEnd - optStart : 0;
  const out = Buffer.allocUnsafe(answerEnd + optLen);
  out.set(res.subarray(0, answerEnd), 0);
  if (optLen > 0) out.set(res.subarray(optStart, optEnd), answerEnd);
  out[8] = 0;
  out[9] = 0;
  out[10] = 0;
  out[11] = optLen > 0 ? 1 : 0;
  return out;
}

function rrsigExpired(list: readonly RR[] | undefined, now: number): boolean {
  for (const r of list ?? []) {
    if (r.type !== 'RRSIG') continue;
    const d = r.data as { expiration: number; inception: number };
    if (!validAt(d.inception, d.expiration, now)) return true;
  }
  return false;
}

/** The Message without authority and additional records (OPT kept), or null to keep it as it is. */
export function minimalMessage(m: Message, qtype: number, now: number): Message | null {
  const opt = (m.additionals ?? []).find((a) => a.type === 'OPT') as { flags?: number; flag_do?: boolean; extendedRcode?: number } | undefined;
  const doBit = opt !== undefined && (opt.flag_do === true || ((opt.flags ?? 0) & 0x8000) !== 0);
  let soa = false;
  let ns = 0;
  for (const a of m.authorities ?? []) {
    if (a.type === 'SOA') soa = true;
    else if (a.type === 'NS') ns++;
  }
  const shape: Shape = {
    opcode: ((m.flags ?? 0) >> 11) & 0xf,
    qtype,
    rcode: ((m.flags ?? 0) & 0xf) | ((opt?.extendedRcode ?? 0) << 4),
    answers: m.answers?.length ?? 0,
    soa,
    ns,
    expired: doBit && (rrsigExpired(m.answers, now) || rrsigExpired(m.authorities, now) || rrsigExpired(m.additionals, now)),
  };
  if (!strips(shape)) return null;
  if ((m.authorities?.length ?? 0) === 0 && (m.additionals ?? []).every((a) => a.type === 'OPT')) return null;
  return { ...m, authorities: [], additionals: (m.additionals ?? []).filter((a) => a.type === 'OPT') };
}

class MinimalWriter extends WrappedWriter {
  constructor(
    inner: WrappedWriter['inner'],
    private readonly qtype: number,
  ) {
    super(inner);
  }

  override write(res: Message | Uint8Array): void {
    const now = Math.floor(Date.now() / 1000);
    const out = res instanceof Uint8Array ? minimalWire(res, now) : minimalMessage(res, this.qtype, now);
    this.inner.write(out ?? res);
  }
}

export default definePlugin<Record<string, never>>({
  name: 'minimal',
  api: '^1',
  parse(d) {
    d.next();
    if (d.nextArg()) throw d.argErr();
    if (d.nextBlock()) throw d.unknownProperty();
    return {};
  },
  setup() {
    return {
      serve(req, w, next) {
        return next(req, new MinimalWriter(w, req.qtype));
      },
    };
  },
});
