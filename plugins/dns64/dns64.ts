// The dns64 handler (RFC 6147): an AAAA query (from an IPv6 client, or any with allow_ipv4) whose
// answer holds no AAAA record is answered with AAAA records synthesised from the name's A records
// (RFC 6052: the IPv4 address embedded in the prefix), asked of the whole server as CoreDNS asks
// its upstream. NXDOMAIN goes out as it is.
import { CaptureWriter, QCLASS, QTYPE, RCODE, type FastCounterChild, type Message, type Next, type Rcode, type Request, type ResponseWriter, type RR, type SetupContext } from '../../src/plugin/api.js';
import type { Dns64Config } from './setup.js';

/** RFC 6052 §2.2: the IPv4 address after the prefix, skipping bits 64–71. */
export function to6(prefix: Uint8Array, len: number, v4: string): string {
  const a = v4.split('.').map(Number);
  const out = new Uint8Array(16);
  let i = 0;
  let j = 0;
  for (; i < len / 8; i++) out[i] = prefix[i]!;
  for (; i < 8 && j < 4; i++, j++) out[i] = a[j]!;
  if (i === 8) i++;
  for (; j < 4; i++, j++) out[i] = a[j]!;
  const groups: string[] = [];
  for (let k = 0; k < 16; k += 2) groups.push(((out[k]! << 8) | out[k + 1]!).toString(16));
  return groups.join(':');
}

const ttlOf = (r: RR): number => (r as { ttl?: number }).ttl ?? 0;

export class Dns64 {
  constructor(
    private readonly cfg: Dns64Config,
    private readonly lookup: SetupContext['lookup'],
    private readonly translated: FastCounterChild | { inc(): void },
  ) {}

  /** RFC 6147 §5.1: AAAA, class IN, from an IPv6 client unless allow_ipv4. */
  intercepts(req: Request): boolean {
    if (!this.cfg.allowIpv4 && req.client.family === 4) return false;
    return req.qtype === QTYPE.AAAA && req.qclass === QCLASS.IN;
  }

  /** §5.1.1–5.1.2: not NXDOMAIN, and (unless translate_all) no AAAA in the answer. */
  shouldSynthesise(m: Message): boolean {
    if (((m.flags ?? 0) & 0xf) === RCODE.NXDOMAIN) return false;
    if (this.cfg.translateAll) return true;
    return !(m.answers ?? []).some((a) => a.type === 'AAAA');
  }

  serve(req: Request, w: ResponseWriter, next: Next): Rcode | Promise<Rcode> {
    if (!this.intercepts(req)) return next(req, w);
    return this.intercept(req, w, next);
  }

  private async intercept(req: Request, w: ResponseWriter, next: Next): Promise<Rcode> {
    const cw = new CaptureWriter();
    const rc = await next(req, cw);
    if (cw.msg === undefined) return rc; // nothing written: as it is
    if (!this.shouldSynthesise(cw.msg)) {
      w.write(cw.msg);
      return rc;
    }
    const a = await this.lookup(req, req.name, QTYPE.A);
    const out = this.synthesise(cw.msg, a);
    this.translated.inc();
    w.write(out);
    return RCODE.NOERROR;
  }

  /** The A reply's records as AAAA (§5.1.7: TTL ≤ the SOA's of the AAAA reply, else ≤ 600). */
  synthesise(aaaaReply: Message, a: Message): Message {
    let soaTtl = 600;
    for (const r of aaaaReply.authorities ?? []) if (r.type === 'SOA') soaTtl = ttlOf(r);
    const answers: RR[] = [];
    for (const r of a.answers ?? []) {
      if (r.type !== 'A') {
        answers.push(r); // §5.3.3: other records unchanged
        continue;
      }
      answers.push({ name: r.name, type: 'AAAA', class: 'IN', ttl: Math.min(ttlOf(r), soaTtl), data: to6(this.cfg.prefix, this.cfg.prefixLen, String((r as { data: string }).data)) } as RR);
    }
    // §5.3.2: authority and additional sections of the A reply; its TC bit
    return { type: 'response', flags: (a.flags ?? 0) & 0x0200, answers, authorities: a.authorities ?? [], additionals: (a.additionals ?? []).filter((r) => r.type !== 'OPT') };
  }
}
