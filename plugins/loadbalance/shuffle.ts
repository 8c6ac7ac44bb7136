// The reordering loadbalance applies to replies: on Messages (copy, never mutate the records) and on
// wire bytes (cache hits) by permuting the answer records' bytes in a copy, when no compression
// pointer points into the records that move; otherwise decode → reorder → write the Message.
import { fqdn, readName, skipName, type Cidr, type Message, type RR } from '../../src/plugin/api.js';

export interface Order {
  /**
   * Reorder the address records (A/AAAA) of the answer; `ips` are their addresses, `owner(i)` the
   * lower-cased owner name of record i (read only when asked). Returns a permutation.
   */
  addresses(ips: readonly string[], owner: (i: number) => string): number[];
  /** Reorder MX records. */
  mx(n: number): number[];
  /** Keep at most this many answer records (0 = all). */
  limit: number;
  /** Leave an answer without A/AAAA records as written (the weighted policy, as CoreDNS's). */
  onlyWithAddresses?: boolean;
}

/** A uniformly random permutation of 0..n-1 (Fisher–Yates). */
export function shuffled(n: number): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

/** Stable partition of a permutation: indexes whose address is in one of `prefer` first. */
export function preferFirst(perm: number[], ips: readonly string[], prefer: readonly Cidr[], contains: (c: Cidr, ip: string) => boolean): number[] {
  if (prefer.length === 0) return perm;
  const yes: number[] = [];
  const no: number[] = [];
  for (const i of perm) (prefer.some((c) => contains(c, ips[i]!)) ? yes : no).push(i);
  return [...yes, ...no];
}

/** CNAMEs first (glibc is particular about that), then other records, then addresses, then MX. */
export function reorderMessage(m: Message, o: Order): Message {
  const answers = m.answers ?? [];
  if (answers.length < 2 && o.limit === 0) return m;
  const cname: RR[] = [];
  const addr: RR[] = [];
  const mx: RR[] = [];
  const rest: RR[] = [];
  for (const a of answers) {
    if (a.type === 'CNAME') cname.push(a);
    else if (a.type === 'A' || a.type === 'AAAA') addr.push(a);
    else if (a.type === 'MX') mx.push(a);
    else rest.push(a);
  }
  if (addr.length === 0 && o.onlyWithAddresses && o.limit === 0) return m;
  const ap = o.addresses(
    addr.map((a) => String((a as { data: unknown }).data)),
    (i) => fqdn(addr[i]!.name.toLowerCase()),
  );
  const mp = o.mx(mx.length);
  let out = [...cname, ...rest, ...ap.map((i) => addr[i]!), ...mp.map((i) => mx[i]!)];
  if (o.limit > 0 && out.length > o.limit) out = out.slice(0, o.limit);
  return { ...m, answers: out };
}

// ---- wire level ----


/** True when the name at `p` uses a pointer to an offset in [lo, hi) (or is malformed). */
function pointsInto(b: Uint8Array, p: number, lo: number, hi: number): boolean {
  for (;;) {
    if (p >= b.length) return true;
    const l = b[p]!;
    if (l === 0) return false;
    if ((l & 0xc0) === 0xc0) {
      if (p + 1 >= b.length) return true;
      const t = ((l & 0x3f) << 8) | b[p + 1]!;
      return t >= lo && t < hi;
    }
    if ((l & 0xc0) !== 0) return true;
    p += l + 1;
  }
}

interface WireRR {
  start: number;
  end: number;
  type: number;
  rdata: number;
}

function readRR(b: Uint8Array, p: number): WireRR | null {
  const q = skipName(b, p);
  if (q < 0 || q + 10 > b.length) return null;
  const rdlen = (b[q + 8]! << 8) | b[q + 9]!;
  const end = q + 10 + rdlen;
  if (end > b.length) return null;
  return { start: p, end, type: (b[q]! << 8) | b[q + 1]!, rdata: q + 10 };
}

/** Offsets of the names inside the rdata of types whose names may be compressed. */
function rdataNames(rr: WireRR, b: Uint8Array): number[] {
  switch (rr.type) {
    case 2: // NS
    case 5: // CNAME
    case 12: // PTR
    case 39: // DNAME
      return [rr.rdata];
    case 15: // MX
      return [rr.rdata + 2];
    case 33: // SRV
      return [rr.rdata + 6];
    case 6: {
      // SOA
      const second = skipName(b, rr.rdata);
      return second < 0 ? [rr.rdata] : [rr.rdata, second];
    }
    default:
      return [];
  }
}

function ipOf(b: Uint8Array, rr: WireRR): string {
  if (rr.type === 1) return `${b[rr.rdata]}.${b[rr.rdata + 1]}.${b[rr.rdata + 2]}.${b[rr.rdata + 3]}`;
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(((b[rr.rdata + i]! << 8) | b[rr.rdata + i + 1]!).toString(16));
  return parts.join(':');
}

/**
 * Reorder the answer of a wire reply in a copy, or return null when that cannot be done safely at
 * the byte level (then the caller decodes). Handles the common shape: any CNAMEs, then a run of
 * A/AAAA records (or of MX records) that ends the answer section.
 */
export function reorderWire(b: Uint8Array, o: Order): Uint8Array | null {
  if (b.length < 12) return null;
  const qd = (b[4]! << 8) | b[5]!;
  const an = (b[6]! << 8) | b[7]!;
  const ns = (b[8]! << 8) | b[9]!;
  const ar = (b[10]! << 8) | b[11]!;
  if (an < 2) return o.limit > 0 && an > o.limit ? null : b;
  if (o.limit > 0 && an > o.limit) return null;
  let p = 12;
  for (let i = 0; i < qd; i++) {
    p = skipName(b, p);
    if (p < 0) return null;
    p += 4;
  }
  const rrs: WireRR[] = [];
  for (let i = 0; i < an + ns + ar; i++) {
    const rr = readRR(b, p);
    if (rr === null) return null;
    rrs.push(rr);
    p = rr.end;
  }
  // answer = k CNAMEs, then a run of one shufflable kind to the end of the answer
  let k = 0;
  while (k < an && rrs[k]!.type === 5) k++;
  if (an - k < 2) return b;
  const kind = rrs[k]!.type;
  const isAddr = kind === 1 || kind === 28;
  if (!isAddr && kind !== 15) return null;
  for (let i = k; i < an; i++) {
    const t = rrs[i]!.type;
    if (isAddr ? t !== 1 && t !== 28 : t !== 15) return null;
  }
  const block = rrs.slice(k, an);
  const lo = block[0]!.start;
  const hi = block[block.length - 1]!.end;
  // no pointer may point into the moving block, from inside it or from later sections
  for (const rr of block) {
    if (pointsInto(b, rr.start, lo, hi + 1)) return null;
    for (const n of rdataNames(rr, b)) if (pointsInto(b, n, lo, hi + 1)) return null;
  }
  for (let i = an; i < rrs.length; i++) {
    const rr = rrs[i]!;
    if (pointsInto(b, rr.start, lo, hi)) return null;
    for (const n of rdataNames(rr, b)) if (pointsInto(b, n, lo, hi)) return null;
  }
  const perm = isAddr
    ? o.addresses(
        block.map((rr) => ipOf(b, rr)),
        (i) => {
          const n: [string, string] = ['', ''];
          return readName(b, block[i]!.start, n) < 0 ? '' : fqdn(n[1]);
        },
      )
    : o.mx(block.length);
  const out = new Uint8Array(b.length);
  out.set(b);
  let w = lo;
  for (const i of perm) {
    const rr = block[i]!;
    out.set(b.subarray(rr.start, rr.end), w);
    w += rr.end - rr.start;
  }
  return out;
}
