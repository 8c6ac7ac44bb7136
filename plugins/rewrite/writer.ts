// The writer rewrite puts around the chain below it when a rule matched: it maps the reply back to
// what the client asked (answer auto/name/value), sets TTLs and rcodes, and re-resolves rewritten
// CNAME targets. The question itself needs no work: the core writes the client's own question.
import { CaptureWriter, WrappedWriter, rcodeOf } from '../../src/plugin/api.js';
import type { Message, Next, RR, Request, ResponseWriter } from '../../src/plugin/api.js';
import dnsPacket from 'dns-packet';
import type { CnameRule } from './cname.js';
import type { NameMap, ResponseRule } from './rule.js';

const fq = (s: string): string => {
  const l = s.toLowerCase();
  return l === '' ? '.' : l.endsWith('.') ? l : l + '.';
};

function mapName(n: string, maps: readonly NameMap[]): string | undefined {
  let cur = fq(n);
  let changed = false;
  for (const m of maps) {
    const r = m(cur);
    if (r !== undefined) {
      cur = r;
      changed = true;
    }
  }
  return changed ? cur : undefined;
}

/** Copy of a record with the names in its data mapped (undefined when nothing changed). */
function mapData(rr: RR, maps: readonly NameMap[]): RR | undefined {
  const d = (rr as { data?: unknown }).data;
  switch (rr.type) {
    case 'CNAME':
    case 'DNAME':
    case 'NS':
    case 'PTR': {
      const n = mapName(String(d), maps);
      return n === undefined ? undefined : ({ ...rr, data: n } as RR);
    }
    case 'MX': {
      const x = d as { preference: number; exchange: string };
      const n = mapName(x.exchange, maps);
      return n === undefined ? undefined : ({ ...rr, data: { ...x, exchange: n } } as RR);
    }
    case 'SRV': {
      const x = d as { priority: number; weight: number; port: number; target: string };
      const n = mapName(x.target, maps);
      return n === undefined ? undefined : ({ ...rr, data: { ...x, target: n } } as RR);
    }
    case 'SOA': {
      const x = d as { mname: string; rname: string };
      const m = mapName(x.mname, maps);
      const r = mapName(x.rname, maps);
      return m === undefined && r === undefined ? undefined : ({ ...rr, data: { ...x, mname: m ?? x.mname, rname: r ?? x.rname } } as RR);
    }
    case 'NAPTR': {
      const x = d as { replacement: string };
      const n = mapName(x.replacement, maps);
      return n === undefined ? undefined : ({ ...rr, data: { ...x, replacement: n } } as RR);
    }
    default:
      return undefined;
  }
}

/** Apply the response rules (already in reverse rule order) to a copy of `m`. */
export function rewriteResponse(m: Message, rules: readonly ResponseRule[]): Message {
  const owner: NameMap[] = [];
  const value: NameMap[] = [];
  let ttl: readonly [number, number] | undefined;
  let rcode: readonly [number, number] | undefined;
  for (const r of rules) {
    owner.push(...r.owner);
    value.push(...r.value);
    if (r.ttl && ttl === undefined) ttl = r.ttl;
    if (r.rcode && rcode === undefined) rcode = r.rcode;
  }
  const fix = (rr: RR): RR => {
    if (rr.type === 'OPT') return rr;
    let out: RR = rr;
    if (owner.length > 0) {
      const n = mapName(rr.name, owner);
      if (n !== undefined) out = { ...out, name: n } as RR;
    }
    if (value.length > 0) {
      const c = mapData(out, value);
      if (c !== undefined) out = c;
    }
    if (ttl !== undefined) {
      const t = (out as { ttl?: number }).ttl ?? 0;
      const nt = t < ttl[0] ? ttl[0] : t > ttl[1] ? ttl[1] : t;
      if (nt !== t) out = { ...out, ttl: nt } as RR;
    }
    return out;
  };
  const res: Message = { ...m };
  if (m.answers) res.answers = m.answers.map(fix);
  if (m.authorities) res.authorities = m.authorities.map(fix);
  if (m.additionals) res.additionals = m.additionals.map(fix);
  if (rcode !== undefined && rcodeOf(m) === rcode[0]) {
    const to = rcode[1];
    res.flags = ((m.flags ?? 0) & ~0xf) | (to & 0xf);
    const adds: RR[] = (res.additionals ?? []).filter((a) => a.type !== "OPT");
    const opt = (res.additionals ?? []).find((a) => a.type === 'OPT');
    if (to > 15 || opt !== undefined) {
      adds.push({ ...(opt ?? { type: 'OPT', name: '.', udpPayloadSize: 1232, ednsVersion: 0, flags: 0, options: [] }), extendedRcode: to >> 4 } as RR);
    }
    res.additionals = adds;
  }
  return res;
}

export class RewriteWriter extends WrappedWriter {
  /** Set while a rewritten CNAME target is being resolved; serve() waits for it. */
  pending: Promise<void> | null = null;

  constructor(
    inner: ResponseWriter,
    private readonly rules: readonly ResponseRule[],
    private readonly req: Request,
    private readonly cname: readonly CnameRule[],
    private readonly next: Next,
  ) {
    super(inner);
  }

  override write(res: Message | Uint8Array): void {
    const m = res instanceof Uint8Array ? dnsPacket.decode(Buffer.from(res.buffer, res.byteOffset, res.byteLength)) : res;
    const out = this.rules.length > 0 ? rewriteResponse(m, this.rules) : m;
    if (this.req.trace !== undefined && out !== m) this.req.trace.note(`reply rewritten: ${describeChanges(m, out)}`, 'rewrite');
    if (this.cname.length > 0 && this.pending === null) {
      const p = this.resolveCname(out);
      if (p !== null) {
        this.pending = p;
        return;
      }
    }
    this.inner.write(out);
  }

  /** When a CNAME target matches a cname rule: point it at the new target and resolve that below. */
  private resolveCname(m: Message): Promise<void> | null {
    const answers = m.answers ?? [];
    for (let i = 0; i < answers.length; i++) {
      const a = answers[i]!;
      if (a.type !== 'CNAME') continue;
      let target: string | undefined;
      for (const r of this.cname) if ((target = r.target(fq(String(a.data)))) !== undefined) break;
      if (target === undefined) continue;
      const head = [...answers.slice(0, i), { ...a, data: target } as RR];
      const sub = this.req.withQuestion(target, this.req.qtype, this.req.qclass);
      const cap = new CaptureWriter();
      const done = (): void => {
        const got = cap.msg?.answers ?? [];
        this.inner.write({ ...m, answers: [...head, ...got] });
      };
      try {
        const r = this.next(sub, cap);
        return r instanceof Promise ? r.then(done, done) : Promise.resolve().then(done);
      } catch {
        return Promise.resolve().then(done);
      }
    }
    return null;
  }
}


/** What rewriteResponse changed, for an explained query: "owner a → b", "CNAME data x → y", "rcode …". */
function describeChanges(before: Message, after: Message): string {
  const out: string[] = [];
  const sections = ['answers', 'authorities', 'additionals'] as const;
  for (const sec of sections) {
    const a = before[sec] ?? [];
    const b = after[sec] ?? [];
    for (let i = 0; i < a.length && i < b.length; i++) {
      const x = a[i]!;
      const y = b[i]!;
      if (x === y) continue;
      if (x.name !== y.name) out.push(`${y.type} owner ${fq(x.name)} → ${fq(y.name)}`);
      const dx = JSON.stringify((x as { data?: unknown }).data);
      const dy = JSON.stringify((y as { data?: unknown }).data);
      if (dx !== dy) out.push(`${y.type} data ${dx} → ${dy}`);
      const tx = (x as { ttl?: number }).ttl;
      const ty = (y as { ttl?: number }).ttl;
      if (tx !== ty) out.push(`${y.type} ttl ${tx} → ${ty}`);
    }
  }
  if (((before.flags ?? 0) & 0xf) !== ((after.flags ?? 0) & 0xf)) out.push(`rcode ${(before.flags ?? 0) & 0xf} → ${(after.flags ?? 0) & 0xf}`);
  return out.length === 0 ? 'nothing to change' : out.join('; ');
}
