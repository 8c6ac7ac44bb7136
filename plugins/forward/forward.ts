// forward's handler: a Forwarder per `forward` line (policy order, attempts, TC retry over TCP,
// failover, health-check triggers, dnstap taps) and the plugin's serve (longest FROM, `next`,
// max_concurrent). setup.ts builds the forwarders; proxy.ts talks to one upstream.
import { performance } from 'node:perf_hooks';
import { deadlineOf, setMetadata, isSubdomain, rcodeName, replyRcode, setId, RCODE, FLAG } from '../../src/plugin/api.js';
import type { FastHistogram, FastHistogramChild, MaybePromise, Next, Plugin, Rcode, Request, ResponseWriter } from '../../src/plugin/api.js';
import type { ForwarderConfig } from './setup.js';
import { ExchangeError, type Upstream, type Inc } from './proxy.js';
import { udpFirst } from '../../src/server/udp-native.js';
import type { ForwarderTap } from '../dnstap/tap.js';

/** CoreDNS's defaultTimeout: the whole forwarding attempt for one query. */
const OVERALL_TIMEOUT = 5000;
/** Health probes wait at most this long for a reply. */
export const HC_TIMEOUT = 1000;

export const BUCKETS = Array.from({ length: 16 }, (_, i) => 0.00025 * 2 ** i);

const ms = (t0: number): string => `${(performance.now() - t0).toFixed(3)} ms`;

export class Forwarder {
  inflight = 0;
  private rr = 0;
  readonly attemptsCap: number;
  /** Histogram children per proxy, per rcode (bound lazily, reused). */
  private readonly durations: Array<Array<FastHistogramChild | undefined>>;

  constructor(
    readonly cfg: ForwarderConfig,
    readonly proxies: Upstream[],
    private readonly hist: FastHistogram,
    private readonly broken: Inc,
    /** The block's dnstap plugin(s), found at startup: each attempt is sent as FORWARDER_QUERY/RESPONSE. */
    private readonly taps: { list: readonly ForwarderTap[] },
  ) {
    this.attemptsCap = cfg.maxConnectAttempts < 0 ? 2 * proxies.length : cfg.maxConnectAttempts;
    this.durations = proxies.map(() => []);
  }

  match(name: string): boolean {
    if (!isSubdomain(name, this.cfg.from)) return false;
    for (const e of this.cfg.except) if (isSubdomain(name, e)) return false;
    return true;
  }

  /** Upstreams in the order this query tries them. */
  list(): Upstream[] {
    const p = this.proxies;
    const n = p.length;
    if (n === 1) return p;
    switch (this.cfg.policy) {
      case 'sequential':
        return p;
      case 'round_robin': {
        const start = this.rr++ % n;
        return start === 0 ? p : [...p.slice(start), ...p.slice(0, start)];
      }
      default: {
        const out = p.slice();
        for (let i = n - 1; i > 0; i--) {
          const j = Math.floor(Math.random() * (i + 1));
          const t = out[i]!;
          out[i] = out[j]!;
          out[j] = t;
        }
        return out;
      }
    }
  }

  private observe(p: Upstream, rcode: number, seconds: number): void {
    const idx = this.proxies.indexOf(p);
    const row = this.durations[idx]!;
    let child = row[rcode];
    if (child === undefined) {
      child = this.hist.labels('forward', p.addr.label, rcodeName(rcode));
      row[rcode] = child;
    }
    child.observe(seconds);
  }

  /** Forward `req`: the upstream's reply bytes, or undefined when every attempt failed. */
  resolve(req: Request): Promise<Buffer | undefined> {
    const cfg = this.cfg;
    // req.wire as it is: no path changes the bytes it sends (each puts its own ID in its own copy:
    // the native send queue, node:dgram's copy, the TCP frame)
    const query = Buffer.isBuffer(req.wire) ? req.wire : Buffer.from(req.wire);
    const proto: 'udp' | 'tcp' = cfg.forceTcp ? 'tcp' : cfg.preferUdp ? 'udp' : req.transport;
    // the overall timeout, or the query's own deadline (cancel) when that comes first
    const own = deadlineOf(req);
    const t0 = performance.now();
    const deadline = Math.min(t0 + OVERALL_TIMEOUT, own ?? Infinity);
    const list = this.list();
    const p = list[0]!;
    // The common case without an async frame of its own (one less per query in flight): no trace,
    // no dnstap, the first upstream up. A reply that needs nothing more is the answer; anything
    // else (an error, TC over UDP, a failover rcode) goes to the loop as its first attempt's outcome.
    if (req.trace !== undefined || this.taps.list.length !== 0 || p.down(cfg.maxFails) || t0 >= deadline) {
      return this.attempts(req, query, proto, deadline, list, undefined);
    }
    const timeout = Math.max(1, Math.min(cfg.readTimeout, deadline - t0));
    return p.exchange(query, req.questionEnd, proto, timeout).then(
      (reply) => {
        const rcode = replyRcode(reply);
        if (this.truncated(p, proto, reply) || this.failsOver(rcode)) {
          return this.attempts(req, query, proto, deadline, list, { t0, reply, error: undefined });
        }
        this.observe(p, rcode, (performance.now() - t0) / 1000);
        setMetadata(req, 'forward/upstream', p.labelValue);
        return reply;
      },
      (error: unknown) => this.attempts(req, query, proto, deadline, list, { t0, reply: undefined, error }),
    );
  }

  /** A reply over plain UDP with TC set, to be asked again over TCP (unless force_tcp already did). */
  private truncated(p: Upstream, proto: 'udp' | 'tcp', reply: Buffer): boolean {
    return proto === 'udp' && !p.tls && (reply[2]! & (FLAG.TC >> 8)) !== 0 && !this.cfg.forceTcp;
  }

  /** An rcode the `failover` option sends to the next upstream. */
  private failsOver(rcode: number): boolean {
    return this.cfg.failover.length > 0 && this.cfg.failover.includes(rcode);
  }

  /**
   * The attempts of one query, in `list`'s order, until one is answered or the deadline; `first`
   * is the outcome of an attempt to list[0] already made (resolve's common case), taken as the
   * loop's first.
   */
  private async attempts(
    req: Request,
    query: Buffer,
    proto: 'udp' | 'tcp',
    deadline: number,
    list: Upstream[],
    first: { t0: number; reply: Buffer | undefined; error: unknown } | undefined,
  ): Promise<Buffer | undefined> {
    const cfg = this.cfg;
    const qEnd = req.questionEnd;
    const t = req.trace;
    if (t !== undefined) t.note(`forward ${cfg.from} (${cfg.where}): policy ${cfg.policy}, order ${list.map((p) => p.addr.label).join(' ')}, over ${proto}`);
    let last: Buffer | undefined;
    let fails = 0;
    let attempts = 0;
    let busy = 0;
    let i = 0;
    let made = first;
    while (made !== undefined || performance.now() < deadline) {
      if (i >= list.length) {
        if (last !== undefined) break; // every upstream answered with a failover rcode
        i = 0;
        fails = 0;
      }
      let p = list[i++]!;
      if (made === undefined && p.down(cfg.maxFails)) {
        t?.note(`${p.addr.label} is marked down (max_fails ${cfg.maxFails}): skipped`);
        fails++;
        if (fails < list.length) continue;
        // Every upstream is down: assume health checking is broken.
        if (cfg.failfastAllUnhealthy) return undefined;
        p = this.proxies[Math.floor(Math.random() * this.proxies.length)]!;
        this.broken.inc();
      }
      if (made === undefined && this.attemptsCap > 0 && attempts >= this.attemptsCap) break;
      attempts++;
      const t0 = made?.t0 ?? performance.now();
      const timeout = Math.max(1, Math.min(cfg.readTimeout, deadline - t0));
      let reply: Buffer;
      let sentOver: 'udp' | 'tcp' = p.tls ? 'tcp' : proto;
      try {
        if (made !== undefined) {
          const m = made;
          made = undefined;
          if (m.reply === undefined) throw m.error;
          reply = m.reply;
        } else {
          reply = await p.exchange(query, qEnd, proto, timeout);
        }
        if (this.truncated(p, proto, reply)) {
          // Truncated over UDP: ask again over TCP for the whole answer.
          t?.note(`attempt ${attempts}: ${p.addr.label} answered truncated (TC) over UDP in ${ms(t0)}: asking again over TCP`);
          sentOver = 'tcp';
          reply = await p.exchange(query, qEnd, 'tcp', Math.max(1, Math.min(cfg.readTimeout, deadline - performance.now())));
        }
      } catch (e) {
        if (!(e instanceof ExchangeError)) throw e;
        if (this.taps.list.length !== 0 && e.kind !== 'busy' && e.kind !== 'closed') this.tap(req, p, sentOver, query, t0, undefined);
        t?.note(`attempt ${attempts}: ${p.addr.label} over ${proto} failed after ${ms(t0)}: ${e.message}`);
        if (e.kind === 'busy') {
          // No room at this upstream (its connection caps are reached): not a health failure; give
          // up at once when every upstream is that full rather than spin until the deadline.
          if (++busy >= list.length) break;
          continue;
        }
        if (cfg.maxFails !== 0) p.healthcheck();
        continue;
      }
      if (this.taps.list.length !== 0) this.tap(req, p, sentOver, query, t0, reply);
      const rcode = replyRcode(reply);
      this.observe(p, rcode, (performance.now() - t0) / 1000);
      t?.note(`attempt ${attempts}: ${p.addr.label} answered ${rcodeName(rcode)} in ${ms(t0)} (${reply.length} bytes, ${reply.readUInt16BE(6)} answer(s))`);
      if (this.failsOver(rcode)) {
        t?.note(`failover ${rcodeName(rcode)}: trying the next upstream`);
        last = reply;
        if (i < list.length) continue;
        break;
      }
      setMetadata(req, 'forward/upstream', p.labelValue);
      return reply;
    }
    t?.note(last !== undefined ? 'every upstream answered with a failover rcode: the last reply is used' : `no upstream answered (${attempts} attempt(s))`);
    return last;
  }

  /** One attempt to the block's dnstap plugin(s): the query as sent to `p`, and its reply if one came. */
  private tap(req: Request, p: Upstream, proto: 'udp' | 'tcp', query: Buffer, start: number, reply: Buffer | undefined): void {
    const f = { host: p.addr.host, port: p.addr.port, proto, query, start, reply };
    for (const tap of this.taps.list) tap.forwarded(req, f);
  }

  close(): void {
    for (const p of this.proxies) p.close();
  }
}

/** The plugin over its forwarders (Corefile order); `rejects` counts max_concurrent refusals. */
export function forwardPlugin(forwarders: readonly Forwarder[], rejects: Inc): Plugin {
  // The forwarder for a name: longest FROM that matches (and whose except does not), first in Corefile order on ties.
  const pick = (name: string, after: number): number => {
    let best = -1;
    for (let i = after + 1; i < forwarders.length; i++) {
      const f = forwarders[i]!;
      if (!f.match(name)) continue;
      if (after >= 0) return i; // `next`: the following matching forwarder in Corefile order
      if (best < 0 || f.cfg.from.length > forwarders[best]!.cfg.from.length) best = i;
    }
    return best;
  };

  // No async frame per query: the reply's promise carries on to `answer` (one less object set
  // held per query in flight).
  const run = (idx: number, req: Request, w: ResponseWriter): MaybePromise<Rcode> => {
    const f = forwarders[idx]!;
    if (f.cfg.maxConcurrent > 0 && f.inflight >= f.cfg.maxConcurrent) {
      req.trace?.note(`max_concurrent ${f.cfg.maxConcurrent} reached: REFUSED`);
      rejects.inc();
      return RCODE.REFUSED;
    }
    f.inflight++;
    let r: Promise<Buffer | undefined>;
    try {
      r = f.resolve(req);
    } catch (e) {
      f.inflight--;
      return Promise.reject(e);
    }
    return r.then(
      (reply) => {
        f.inflight--;
        return answer(idx, req, w, reply);
      },
      (e: unknown) => {
        f.inflight--;
        throw e;
      },
    );
  };

  /** The reply forwarder `idx` got for `req`: written, or handed to the next forward (`next`). */
  const answer = (idx: number, req: Request, w: ResponseWriter, reply: Buffer | undefined): MaybePromise<Rcode> => {
    // (a promise's continuation, no chain below it: the TCP replies read together are answered
    // one after another in one run of microtasks, and UDP that came meanwhile is served in
    // between; a UDP query's reply is UDP work itself, and its batches stay whole)
    if (req.transport === 'tcp') udpFirst();
    if (reply === undefined) return RCODE.SERVFAIL;
    const f = forwarders[idx]!;
    const rcode = replyRcode(reply);
    if ((f.cfg.next.length > 0 && f.cfg.next.includes(rcode)) || (f.cfg.nextOnNodata && rcode === RCODE.NOERROR && reply.readUInt16BE(6) === 0)) {
      const n = pick(req.name, idx);
      req.trace?.note(`next ${rcodeName(rcode)}: ${n >= 0 ? `handing the query to the next forward (${forwarders[n]!.cfg.where})` : 'no further forward matches, the reply stands'}`);
      if (n >= 0) return run(n, req, w);
    }
    setId(reply, req.id);
    // Same question (validated), maybe another case: give the client its own spelling back.
    const wire = req.wire;
    for (let k = 12; k < req.questionEnd; k++) reply[k] = wire[k]!;
    w.write(reply);
    return rcode;
  };

  return {
    serve(req: Request, w: ResponseWriter, next: Next) {
      const idx = pick(req.name, -1);
      if (idx < 0) {
        req.trace?.note(`no forward matches ${req.name}: next plugin`);
        return next(req, w);
      }
      return run(idx, req, w);
    },
    close() {
      for (const f of forwarders) f.close();
    },
  };
}
