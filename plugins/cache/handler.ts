// The cache's handler: a hit is the stored wire bytes copied and patched (ID, flags, the client's
// spelling of the name, the remaining TTL, an OPT for an EDNS client); a miss passes to the next
// plugin with a writer that stores the reply on its way up.
import { isSubdomain, Zones, fqdn, QTYPE, RCODE, FLAG, writeOpt, typeFromName, WrappedWriter } from '../../src/plugin/api.js';
import type { FastCounterChild, Logger, Message, Next, Plugin, Rcode, Request, ResponseWriter } from '../../src/plugin/api.js';
import type { CacheConfig } from './setup.js';
import { refresh, verifyStale } from './stale.js';
import { remaining, type Entry, type Kind, type Store } from './store.js';
import { encodeReply, parseReply, questionMatches } from './wire.js';

const FAILSAFE_TTL = 5;

export interface CacheMetrics {
  hits: Record<Kind, FastCounterChild>;
  misses: FastCounterChild;
  requests: FastCounterChild;
  prefetch: FastCounterChild;
  drops: { inc(): void };
  stale: FastCounterChild;
}

/**
 * Whether a reply to `req` may keep its AD bit: only when the query had DO or AD set (RFC 6840
 * 5.7-5.8; CoreDNS's cache clears it otherwise, on the reply it passes and on hits).
 */
function adWanted(req: Request): boolean {
  return req.do || (req.flags & FLAG.AD) !== 0;
}

/**
 * `res` with every record's TTL (OPT excepted) set to `ttl`, and the AD bit cleared unless `keepAd`:
 * wire bytes are copied and patched at `offsets` (the TTL fields parseReply found, valid in `res`
 * since its OPT is last), a Message is copied section by section.
 */
function withTtl(res: Message | Uint8Array, ttl: number, offsets: Uint32Array, keepAd: boolean): Message | Uint8Array {
  if (res instanceof Uint8Array) {
    const out = Buffer.allocUnsafe(res.length);
    out.set(res, 0);
    for (let i = 0; i < offsets.length; i++) out.writeUInt32BE(ttl, offsets[i]!);
    if (!keepAd) out[3]! &= ~FLAG.AD;
    return out;
  }
  const set = (rrs: Message['answers']): Message['answers'] => rrs?.map((a) => (a.type === 'OPT' ? a : ({ ...a, ttl } as typeof a)));
  const flags = keepAd ? res.flags : (res.flags ?? 0) & ~FLAG.AD;
  return { ...res, flags, answers: set(res.answers), authorities: set(res.authorities), additionals: set(res.additionals) };
}

/** The writer of a miss: stores the reply written below, and passes it on with the capped TTL. */
class CacheWriter extends WrappedWriter {
  constructor(
    inner: ResponseWriter,
    private readonly cache: Cache,
    private readonly req: Request,
    private readonly key: string,
  ) {
    super(inner);
  }
  override write(res: Message | Uint8Array): void {
    let out = res;
    if (!this.inner.written) {
      try {
        out = this.cache.admit(this.req, this.key, res, undefined, true);
      } catch (e) {
        this.cache.log.debug(`not cached: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    this.inner.write(out);
  }
}

export class Cache implements Plugin {
  private readonly zones: Zones;
  /** serve_stale is on. */
  readonly stale: boolean;

  constructor(
    readonly cfg: CacheConfig,
    private readonly name: string,
    readonly log: Logger,
    readonly metrics: CacheMetrics,
    private readonly pcache: Store,
    private readonly ncache: Store,
  ) {
    this.zones = Zones.from(cfg.zones, cfg.zones);
    this.stale = cfg.serveStale.upTo > 0;
  }

  private disabled(kind: Kind, name: string): boolean {
    for (const z of this.cfg.disable[kind]) if (isSubdomain(name, z)) return true;
    return false;
  }

  /**
   * Store a reply for `req` under `key` (the previous entry's popularity carries over: prefetch)
   * and return it as it goes to the client: every record's TTL set to the entry's lifetime, as
   * CoreDNS's cache does for the reply it passes ("capped TTL" — the first answer already says 30
   * under `cache 30`). `send` false: only store (prefetch, refresh), no copy is made.
   */
  admit(req: Request, key: string, res: Message | Uint8Array, prev: Entry | undefined, send: boolean): Message | Uint8Array {
    const cfg = this.cfg;
    let bytes: Uint8Array;
    // Not the reply to this query (CoreDNS's request.Match): no QR bit, or another name or type.
    if (res instanceof Uint8Array) {
      if (res.length < 4 || (res[2]! & (FLAG.QR >> 8)) === 0 || !questionMatches(res, req)) {
        this.metrics.drops.inc();
        return res;
      }
      bytes = res;
    } else {
      const q = res.questions?.[0];
      if (res.type === 'query' || (q !== undefined && (fqdn(q.name.toLowerCase()) !== req.name || typeFromName(String(q.type)) !== req.qtype))) {
        this.metrics.drops.inc();
        return res;
      }
      bytes = encodeReply(res, req);
    }
    const p = parseReply(bytes, req.questionEnd);
    if (p === undefined) return res;
    // CoreDNS's duration: what the entry lives for and what every record of the reply says.
    let kind: Kind;
    let ttl: number;
    let storable = (bytes[2]! & (FLAG.TC >> 8)) === 0; // truncated: never cached
    const msgTtl = p.minTtl < 0 ? FAILSAFE_TTL : p.minTtl;
    // An expired signature in the reply to a DO query: not cached (CoreDNS types it OtherError).
    if (req.do && p.expiredSig) storable = false;
    if (p.rcode === RCODE.SERVFAIL || p.rcode === RCODE.NOTIMP) {
      kind = 'denial';
      ttl = Math.floor(cfg.servfail / 1000);
    } else if (p.rcode === RCODE.NXDOMAIN || (p.rcode === RCODE.NOERROR && p.answers === 0 && p.soa)) {
      kind = 'denial';
      ttl = Math.min(Math.max(msgTtl, cfg.denial.minTtl), cfg.denial.maxTtl);
      if (!p.soa) storable = false; // NXDOMAIN without SOA: not cached
    } else {
      kind = 'success';
      if (p.rcode === RCODE.NOERROR) ttl = Math.min(Math.max(msgTtl, cfg.success.minTtl), cfg.success.maxTtl);
      else {
        ttl = Math.min(Math.max(FAILSAFE_TTL, cfg.success.minTtl), cfg.success.maxTtl);
        storable = false; // REFUSED, NOTIMP, FORMERR, …
      }
    }
    if (req.trace !== undefined) {
      const why = !storable ? 'not stored (truncated, an error rcode or an expired signature)' : ttl <= 0 ? 'not stored (TTL 0)' : this.disabled(kind, req.name) ? `not stored (disable ${kind})` : `stored as ${kind} for ${ttl}s`;
      req.trace.note(`reply ${why}, key ${key}`, this.name);
    }
    if (storable && ttl > 0 && !this.disabled(kind, req.name)) {
      const now = Date.now();
      const e: Entry = { p, kind, stored: now, ttl, hits: prev?.hits ?? 0, lastHit: prev?.lastHit ?? now, refreshing: false, recheckUntil: 0 };
      if (kind === 'success') {
        this.ncache.delete(key);
        this.pcache.set(key, e);
      } else {
        this.pcache.delete(key);
        this.ncache.set(key, e);
      }
    }
    return send ? withTtl(res, ttl, p.ttlOffsets, adWanted(req)) : res;
  }

  /** Serve an entry: copy, patch ID, flags, TTLs, add OPT for an EDNS client. */
  serveEntry(e: Entry, req: Request, w: ResponseWriter, ttl: number, stale = false): Rcode {
    const src = e.p.bytes;
    const edns = req.edns;
    const out = Buffer.allocUnsafe(src.length + (edns ? 11 : 0));
    out.set(src, 0);
    out[0] = req.id >> 8;
    out[1] = req.id & 0xff;
    // AA set (as CoreDNS does for cached answers), TC clear, RD and CD as the client asked.
    // AD as stored only when the client asked for DNSSEC or AD.
    const clear = FLAG.TC | FLAG.RD | FLAG.CD | (adWanted(req) ? 0 : FLAG.AD);
    const flags = ((e.p.flags & ~clear) | FLAG.AA | (req.flags & (FLAG.RD | FLAG.CD))) & 0xffff;
    out[2] = flags >> 8;
    out[3] = flags & 0xff;
    out.set(req.wire.subarray(12, req.questionEnd), 12); // the client's spelling of the name
    if (!this.cfg.keepttl || stale) {
      const t = ttl < 0 ? 0 : ttl;
      const offs = e.p.ttlOffsets;
      for (let i = 0; i < offs.length; i++) out.writeUInt32BE(t, offs[i]!);
    }
    if (edns) {
      writeOpt(out, src.length, 0, req.do);
      const ar = ((out[10]! << 8) | out[11]!) + 1;
      out[10] = ar >> 8;
      out[11] = ar & 0xff;
    }
    w.write(out);
    return e.p.rcode;
  }

  serve(req: Request, w: ResponseWriter, next: Next): Rcode | Promise<Rcode> {
    const cfg = this.cfg;
    if (req.qtype === QTYPE.AXFR || req.qtype === QTYPE.IXFR || this.zones.match(req.name) === undefined) {
      req.trace?.note(`not cached here (${this.zones.match(req.name) === undefined ? `outside the cache's zones ${cfg.zones.join(' ')}` : 'zone transfer'})`);
      return next(req, w);
    }
    this.metrics.requests.inc();
    const key = `${req.qtype}/${req.qclass}/${req.do ? 1 : 0}${req.cd ? 1 : 0}/${req.name}`;
    const now = Date.now();
    const e = this.ncache.get(key) ?? this.pcache.get(key);
    if (e !== undefined) {
      const left = remaining(e, now);
      if (left > 0) {
        this.metrics.hits[e.kind].inc();
        req.trace?.note(`hit (${e.kind}), key ${key}, ${left}s of ${e.ttl}s left, stored ${Math.floor((now - e.stored) / 1000)}s ago`);
        if (cfg.prefetch.amount > 0) {
          if (now - e.lastHit >= cfg.prefetch.duration) e.hits = 0;
          e.hits++;
          e.lastHit = now;
          const threshold = Math.ceil((cfg.prefetch.percentage / 100) * e.ttl);
          if (e.hits >= cfg.prefetch.amount && left <= Math.max(threshold, 1)) {
            if (!e.refreshing) this.metrics.prefetch.inc();
            refresh(this, e, req, key, next);
          }
        }
        return this.serveEntry(e, req, w, left);
      }
      const expiredMs = now - (e.stored + e.ttl * 1000);
      if (this.stale && expiredMs < cfg.serveStale.upTo) {
        this.metrics.hits[e.kind].inc();
        req.trace?.note(`stale hit (${e.kind}), key ${key}, expired ${Math.floor(expiredMs / 1000)}s ago; serve_stale ${cfg.serveStale.verify ? 'verify' : 'immediate'}`);
        // RECHECK: after a failed refresh (or while one runs) the stale entry goes out without asking again.
        const hold = cfg.serveStale.recheck > 0 && (e.refreshing || now < e.recheckUntil);
        if (cfg.serveStale.verify && !hold) return verifyStale(this, e, req, w, key, next);
        this.metrics.stale.inc();
        if (!hold) refresh(this, e, req, key, next);
        return this.serveEntry(e, req, w, cfg.serveStale.respTtl, true);
      }
      (e.kind === 'success' ? this.pcache : this.ncache).delete(key);
    }
    this.metrics.misses.inc();
    req.trace?.note(`miss, key ${key}${e !== undefined ? ' (the entry had expired)' : ''}`);
    return next(req, new CacheWriter(w, this, req, key));
  }
}
