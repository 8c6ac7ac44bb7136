// cache: a frontend cache that serves hits from stored wire bytes. At store time the reply is
// encoded once (or taken as the wire bytes forward wrote), its OPT dropped and the offsets of
// every TTL field recorded; a hit copies the bytes and patches ID, RD/CD, the TTLs (remaining
// TTL) and appends an OPT when the client sent one: no decode, no encode.
import { definePlugin, parseDuration, isSubdomain, Zones, fqdn, QTYPE, RCODE, writeOpt, typeFromName } from '../../src/plugin/api.js';
import type { Dispenser, Message, Next, Rcode, Request, ResponseWriter } from '../../src/plugin/api.js';
import { WrappedWriter } from '../../src/plugin/api.js';
import { CaptureWriter } from '../../src/plugin/api.js';
import { encodeReply, parseReply, questionMatches, type Parsed } from './wire.js';

const SHARDS = 256;
const DEFAULT_CAP = 9984;
const MIN_CAP = 1024;
const MIN_TTL = 5;
const MAX_TTL = 3600;
const MAX_NTTL = 1800;
const FAILSAFE_TTL = 5;
/** Default byte budget of each of the two caches (success, denial): bounds memory, not only entries. */
const DEFAULT_MAX_BYTES = 32 * 1024 * 1024;
/** What an entry costs beside its reply bytes: the key, the offsets, the objects (measured roughly). */
const ENTRY_OVERHEAD = 200;

type Kind = 'success' | 'denial';

export interface CacheConfig {
  zones: string[];
  success: { capacity: number; maxTtl: number; minTtl: number };
  denial: { capacity: number; maxTtl: number; minTtl: number };
  prefetch: { amount: number; duration: number; percentage: number };
  /**
   * serve_stale window in ms (0 = off), refresh mode, and the optional arguments: `timeout` (ms,
   * verify only; 0 = wait for the plugins below), `respTtl` (TTL of stale answers, s), `recheck`
   * (ms after a failed refresh during which stale answers are served without asking again).
   */
  serveStale: { upTo: number; verify: boolean; timeout: number; respTtl: number; recheck: number };
  /** SERVFAIL cache duration, ms (0 = not cached). */
  servfail: number;
  disable: { success: string[]; denial: string[] };
  keepttl: boolean;
  /** Byte budget of each cache (typedns's `max_bytes`; CoreDNS bounds entries only). */
  maxBytes: number;
}

function ttlArg(d: Dispenser, s: string): number {
  if (!/^\d+$/.test(s)) throw d.err(`invalid TTL '${s}', expected seconds`);
  return Number(s);
}

function capArg(d: Dispenser): number {
  const s = d.arg();
  if (!/^\d+$/.test(s)) throw d.err(`invalid capacity '${s}'`);
  const n = Number(s);
  return Math.max(MIN_CAP, Math.floor(n / SHARDS) * SHARDS);
}

export function parseCache(d: Dispenser, blockZones: readonly string[]): CacheConfig {
  const cfg: CacheConfig = {
    zones: [...blockZones],
    success: { capacity: DEFAULT_CAP, maxTtl: MAX_TTL, minTtl: MIN_TTL },
    denial: { capacity: DEFAULT_CAP, maxTtl: MAX_NTTL, minTtl: MIN_TTL },
    prefetch: { amount: 0, duration: 60_000, percentage: 10 },
    serveStale: { upTo: 0, verify: false, timeout: 0, respTtl: 0, recheck: 0 },
    servfail: 5000,
    disable: { success: [], denial: [] },
    keepttl: false,
    maxBytes: DEFAULT_MAX_BYTES,
  };
  d.next();
  let args = d.remainingArgs();
  if (args.length > 0 && /^[-+]?\d+$/.test(args[0]!)) {
    const ttl = Number(args[0]);
    if (ttl <= 0) throw d.err(`invalid TTL '${args[0]}', must be positive`);
    cfg.success.maxTtl = ttl;
    cfg.denial.maxTtl = ttl;
    cfg.success.minTtl = Math.min(cfg.success.minTtl, ttl);
    cfg.denial.minTtl = Math.min(cfg.denial.minTtl, ttl);
    args = args.slice(1);
  }
  if (args.length > 0) cfg.zones = [...Zones.from(args, blockZones).list];
  while (d.nextBlock()) {
    const opt = d.val();
    switch (opt) {
      case 'success':
      case 'denial': {
        const n = d.countRemainingArgs();
        if (n < 1 || n > 3) throw d.argErr();
        const c = cfg[opt];
        c.capacity = capArg(d);
        if (n >= 2) {
          c.maxTtl = ttlArg(d, d.arg());
          if (c.maxTtl <= 0) throw d.err('TTL must be positive');
        }
        if (n === 3) c.minTtl = ttlArg(d, d.arg());
        if (c.minTtl > c.maxTtl) c.minTtl = c.maxTtl;
        break;
      }
      case 'prefetch': {
        const a = d.remainingArgs();
        if (a.length < 1 || a.length > 3) throw d.argErr();
        if (!/^\d+$/.test(a[0]!) || Number(a[0]) < 1) throw d.err(`invalid prefetch amount '${a[0]}'`);
        cfg.prefetch.amount = Number(a[0]);
        for (const x of a.slice(1)) {
          if (x.endsWith('%')) {
            const pct = x.slice(0, -1);
            if (!/^\d+$/.test(pct) || Number(pct) < 10 || Number(pct) > 90) throw d.err(`invalid prefetch percentage '${x}', expected 10%..90%`);
            cfg.prefetch.percentage = Number(pct);
          } else {
            const ms = parseDur(d, x);
            if (ms <= 0) throw d.err(`invalid prefetch duration '${x}'`);
            cfg.prefetch.duration = ms;
          }
        }
        break;
      }
      case 'serve_stale': {
        // serve_stale [DURATION] [immediate [RESP_TTL [RECHECK]] | verify [TIMEOUT [RESP_TTL [RECHECK]]]]
        const a = d.remainingArgs();
        if (a.length > 5) throw d.argErr();
        const ss = cfg.serveStale;
        ss.upTo = 3_600_000;
        if (a[0] !== undefined) {
          const ms = parseDur(d, a[0]);
          if (ms < 0) throw d.err('serve_stale duration must be positive');
          ss.upTo = ms;
        }
        if (a[1] !== undefined) {
          const mode = a[1].toLowerCase();
          if (mode === 'verify') ss.verify = true;
          else if (mode !== 'immediate') throw d.err(`invalid value for serve_stale refresh mode '${a[1]}', expected immediate or verify`);
        }
        const rest = a.slice(2);
        if (rest.length > (ss.verify ? 3 : 2)) throw d.argErr();
        if (ss.verify && rest.length > 0) {
          ss.timeout = parseDur(d, rest.shift()!);
          if (ss.timeout < 0) throw d.err('serve_stale verify timeout must not be negative');
        }
        if (rest[0] !== undefined) {
          const ms = parseDur(d, rest[0]);
          if (ms < 0) throw d.err('serve_stale response TTL must not be negative');
          // A TTL on the wire is whole seconds in 32 bits: 100ms or 4294967296s cannot be one.
          if (ms % 1000 !== 0 || ms / 1000 > 0xffffffff) throw d.err(`invalid serve_stale response TTL '${rest[0]}', expected whole seconds up to 4294967295s`);
          ss.respTtl = ms / 1000;
        }
        if (rest[1] !== undefined) {
          const ms = parseDur(d, rest[1]);
          if (ms < 0 || ms > 300_000) throw d.err('serve_stale failure recheck must be between 0 and 5m');
          ss.recheck = ms;
        }
        break;
      }
      case 'servfail': {
        if (d.countRemainingArgs() !== 1) throw d.argErr();
        const ms = parseDur(d, d.arg());
        if (ms > 300_000) throw d.err('caching SERVFAIL responses over 5 minutes is not permitted');
        cfg.servfail = ms;
        break;
      }
      case 'disable': {
        const a = d.remainingArgs();
        if (a.length < 1) throw d.argErr();
        const kind = a[0]!;
        if (kind !== 'success' && kind !== 'denial') throw d.err(`cache type for disable must be "success" or "denial", got '${kind}'`);
        cfg.disable[kind] = a.length > 1 ? a.slice(1).map((z) => fqdn(z.toLowerCase())) : [...cfg.zones];
        break;
      }
      case 'keepttl':
        if (d.countRemainingArgs() !== 0) throw d.argErr();
        cfg.keepttl = true;
        break;
      case 'max_bytes': {
        if (d.countRemainingArgs() !== 1) throw d.argErr();
        const v = d.arg();
        const n = parseBytes(v);
        if (n === undefined || n < 64 * 1024) throw d.err(`invalid max_bytes '${v}', expected a size of at least 64KiB (e.g. 32MiB, 1GiB, 500000)`);
        cfg.maxBytes = n;
        break;
      }
      default:
        throw d.unknownProperty();
    }
  }
  return cfg;
}

/** "1048576", "512KiB", "32MiB", "1GiB" (also KB/MB/GB as powers of 1000) → bytes. */
function parseBytes(s: string): number | undefined {
  const m = /^(\d+)(KiB|MiB|GiB|KB|MB|GB|K|M|G)?$/i.exec(s);
  if (!m) return undefined;
  const unit = (m[2] ?? '').toLowerCase();
  const mult: Record<string, number> = { '': 1, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3, kb: 1e3, mb: 1e6, gb: 1e9 };
  return Number(m[1]) * mult[unit]!;
}

/** A Go duration (time.ParseDuration, as CoreDNS reads these options): a bare number is refused, 0 excepted. */
function parseDur(d: Dispenser, s: string): number {
  const ms = s !== '0' && /^\d+$/.test(s) ? undefined : parseDuration(s);
  if (ms === undefined) throw d.err(`invalid duration '${s}', expected e.g. 5s, 500ms, 1m30s`);
  return ms;
}

// ---------------------------------------------------------------------------------------------

interface Entry {
  p: Parsed;
  kind: Kind;
  /** Time stored (Date.now() ms). */
  stored: number;
  /** TTL given to the entry, seconds. */
  ttl: number;
  hits: number;
  lastHit: number;
  refreshing: boolean;
  /** serve_stale: until this time (ms) after a failed refresh, stale answers go out without a new one. */
  recheckUntil: number;
}

/** Seconds left (may be negative once expired). */
function remaining(e: Entry, now: number): number {
  return e.ttl - Math.floor((now - e.stored) / 1000);
}

/** FNV-1a over the key's chars → shard index. */
function shardOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) & (SHARDS - 1);
}

/** The AD bit of the header flags. */
const AD = 0x0020;

/**
 * Whether a reply to `req` may keep its AD bit: only when the query had DO or AD set (RFC 6840
 * 5.7-5.8; CoreDNS's cache clears it otherwise, on the reply it passes and on hits).
 */
function adWanted(req: Request): boolean {
  return req.do || (req.wire[3]! & AD) !== 0;
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
    if (!keepAd) out[3]! &= ~AD;
    return out;
  }
  const set = (rrs: Message['answers']): Message['answers'] => rrs?.map((a) => (a.type === 'OPT' ? a : ({ ...a, ttl } as typeof a)));
  const flags = keepAd ? res.flags : (res.flags ?? 0) & ~AD;
  return { ...res, flags, answers: set(res.answers), authorities: set(res.authorities), additionals: set(res.additionals) };
}

class Store {
  private readonly shards: Array<Map<string, Entry>> = Array.from({ length: SHARDS }, () => new Map());
  private readonly perShard: number;
  /** Next shard to evict from when the inserting shard is empty but the byte budget is spent. */
  private cursor = 0;
  size = 0;
  bytes = 0;

  constructor(
    capacity: number,
    private readonly maxBytes: number,
    private readonly onEvict: () => void,
    private readonly onSize: (n: number, bytes: number) => void,
  ) {
    this.perShard = Math.max(1, Math.floor(capacity / SHARDS));
  }

  get(key: string, shard: number): Entry | undefined {
    return this.shards[shard]!.get(key);
  }

  /**
   * Insert. While the shard is full, evict its oldest insertion (O(1): Map keeps insertion order);
   * while the whole cache is over its byte budget, evict the oldest of this shard, or of the next
   * non-empty shard once this one is empty. An entry larger than the whole budget is not kept.
   */
  set(key: string, shard: number, e: Entry): void {
    const m = this.shards[shard]!;
    const cost = entryCost(key, e);
    this.remove(m, key);
    if (cost > this.maxBytes) {
      this.onSize(this.size, this.bytes);
      return;
    }
    while (m.size >= this.perShard) this.evictOldest(m);
    while (this.bytes + cost > this.maxBytes && this.size > 0) {
      if (m.size > 0) this.evictOldest(m);
      else {
        let other = this.shards[this.cursor]!;
        while (other.size === 0) {
          this.cursor = (this.cursor + 1) & (SHARDS - 1);
          other = this.shards[this.cursor]!;
        }
        this.evictOldest(other);
      }
    }
    m.set(key, e);
    this.size++;
    this.bytes += cost;
    this.onSize(this.size, this.bytes);
  }

  delete(key: string, shard: number): void {
    if (this.remove(this.shards[shard]!, key)) this.onSize(this.size, this.bytes);
  }

  private remove(m: Map<string, Entry>, key: string): boolean {
    const e = m.get(key);
    if (e === undefined) return false;
    m.delete(key);
    this.size--;
    this.bytes -= entryCost(key, e);
    return true;
  }

  private evictOldest(m: Map<string, Entry>): void {
    const first = m.keys().next();
    if (first.done) return;
    this.remove(m, first.value);
    this.onEvict();
  }
}

/** Bytes an entry holds: its reply, its TTL offsets, its key (UTF-16) and a fixed overhead. */
function entryCost(key: string, e: Entry): number {
  return e.p.bytes.length + e.p.ttlOffsets.byteLength + key.length * 2 + ENTRY_OVERHEAD;
}

export default definePlugin<CacheConfig>({
  name: 'cache',
  api: '^1',
  once: true,
  parse: parseCache,
  setup(cfg, ctx) {
    const server = ctx.server.label;
    const zonesLabel = cfg.zones.join(',');
    const view = ctx.server.view;
    const m = ctx.metrics;
    const entriesG = m.gauge('entries', 'The number of elements in the cache.', ['server', 'type', 'zones', 'view']);
    const bytesG = m.gauge('size_bytes', 'The bytes held by the elements in the cache (typedns; bounded by max_bytes).', ['server', 'type', 'zones', 'view']);
    const hitsC = m.fastCounter('hits_total', 'The count of cache hits.', ['server', 'type', 'zones', 'view']);
    const missesC = m.fastCounter('misses_total', 'The count of cache misses. Deprecated, derive misses from cache hits/requests counters.', ['server', 'zones', 'view']).labels(server, zonesLabel, view);
    const requestsC = m.fastCounter('requests_total', 'The count of cache requests.', ['server', 'zones', 'view']).labels(server, zonesLabel, view);
    const prefetchC = m.fastCounter('prefetch_total', 'The number of times the cache has prefetched a cached item.', ['server', 'zones', 'view']).labels(server, zonesLabel, view);
    const dropsC = m.counter('drops_total', 'The number responses that are not cached, because the reply is malformed.', ['server', 'zones', 'view']).labels(server, zonesLabel, view);
    const staleC = m.fastCounter('served_stale_total', 'The number of requests served from stale cache entries.', ['server', 'zones', 'view']).labels(server, zonesLabel, view);
    const evictC = m.counter('evictions_total', 'The count of cache evictions.', ['server', 'type', 'zones', 'view']);
    const hits = { success: hitsC.labels(server, 'success', zonesLabel, view), denial: hitsC.labels(server, 'denial', zonesLabel, view) };
    const mkStore = (kind: Kind, cap: number): Store => {
      const g = entriesG.labels(server, kind, zonesLabel, view);
      const gb = bytesG.labels(server, kind, zonesLabel, view);
      const ev = evictC.labels(server, kind, zonesLabel, view);
      g.set(0);
      gb.set(0);
      return new Store(
        cap,
        cfg.maxBytes,
        () => ev.inc(),
        (n, b) => {
          g.set(n);
          gb.set(b);
        },
      );
    };
    const pcache = mkStore('success', cfg.success.capacity);
    const ncache = mkStore('denial', cfg.denial.capacity);
    const zones = Zones.from(cfg.zones, cfg.zones);
    const stale = cfg.serveStale.upTo > 0;
    const staleTtl = cfg.serveStale.respTtl;
    /** A refresh that may replace a stale entry: NOERROR or NXDOMAIN. */
    const usable = (cw: CaptureWriter): boolean => cw.written && (cw.rcode === RCODE.NOERROR || cw.rcode === RCODE.NXDOMAIN);

    const disabled = (kind: Kind, name: string): boolean => {
      for (const z of cfg.disable[kind]) if (isSubdomain(name, z)) return true;
      return false;
    };

    /**
     * Store a reply for `req` under `key` (the previous entry's popularity carries over: prefetch)
     * and return it as it goes to the client: every record's TTL set to the entry's lifetime, as
     * CoreDNS's cache does for the reply it passes ("capped TTL" — the first answer already says 30
     * under `cache 30`). `send` false: only store (prefetch, refresh), no copy is made.
     */
    const admit = (req: Request, key: string, shard: number, res: Message | Uint8Array, prev: Entry | undefined, send: boolean): Message | Uint8Array => {
      let bytes: Uint8Array;
      // Not the reply to this query (CoreDNS's request.Match): no QR bit, or another name or type.
      if (res instanceof Uint8Array) {
        if (res.length < 4 || (res[2]! & 0x80) === 0 || !questionMatches(res, req)) {
          dropsC.inc();
          return res;
        }
        bytes = res;
      } else {
        const q = res.questions?.[0];
        if (res.type === 'query' || (q !== undefined && (fqdn(q.name.toLowerCase()) !== req.name || typeFromName(String(q.type)) !== req.qtype))) {
          dropsC.inc();
          return res;
        }
        bytes = encodeReply(res, req);
      }
      const p = parseReply(bytes, req.questionEnd);
      if (p === undefined) return res;
      // CoreDNS's duration: what the entry lives for and what every record of the reply says.
      let kind: Kind;
      let ttl: number;
      let storable = (bytes[2]! & 0x02) === 0; // truncated: never cached
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
        const why = !storable ? 'not stored (truncated, an error rcode or an expired signature)' : ttl <= 0 ? 'not stored (TTL 0)' : disabled(kind, req.name) ? `not stored (disable ${kind})` : `stored as ${kind} for ${ttl}s`;
        req.trace.note(`reply ${why}, key ${key}`, ctx.name);
      }
      if (storable && ttl > 0 && !disabled(kind, req.name)) {
        const now = Date.now();
        const e: Entry = { p, kind, stored: now, ttl, hits: prev?.hits ?? 0, lastHit: prev?.lastHit ?? now, refreshing: false, recheckUntil: 0 };
        if (kind === 'success') {
          ncache.delete(key, shard);
          pcache.set(key, shard, e);
        } else {
          pcache.delete(key, shard);
          ncache.set(key, shard, e);
        }
      }
      return send ? withTtl(res, ttl, p.ttlOffsets, adWanted(req)) : res;
    };

    class CacheWriter extends WrappedWriter {
      constructor(
        inner: ResponseWriter,
        private readonly req: Request,
        private readonly key: string,
        private readonly shard: number,
      ) {
        super(inner);
      }
      override write(res: Message | Uint8Array): void {
        let out = res;
        if (!this.inner.written) {
          try {
            out = admit(this.req, this.key, this.shard, res, undefined, true);
          } catch (e) {
            ctx.log.debug(`not cached: ${e instanceof Error ? e.message : String(e)}`);
          }
        }
        this.inner.write(out);
      }
    }

    /** Serve an entry: copy, patch ID, flags, TTLs, add OPT for an EDNS client. */
    const serveEntry = (e: Entry, req: Request, w: ResponseWriter, ttl: number, stale = false): Rcode => {
      const src = e.p.bytes;
      const edns = req.edns;
      const out = Buffer.allocUnsafe(src.length + (edns ? 11 : 0));
      out.set(src, 0);
      out[0] = req.id >> 8;
      out[1] = req.id & 0xff;
      // AA set (as CoreDNS does for cached answers), TC clear, RD and CD as the client asked.
      // AD as stored only when the client asked for DNSSEC or AD.
      const flags = ((e.p.flags & ~(0x0200 | 0x0100 | 0x0010 | (adWanted(req) ? 0 : AD))) | 0x0400 | (((req.wire[2]! << 8) | req.wire[3]!) & 0x0110)) & 0xffff;
      out[2] = flags >> 8;
      out[3] = flags & 0xff;
      out.set(req.wire.subarray(12, req.questionEnd), 12); // the client's spelling of the name
      if (!cfg.keepttl || stale) {
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
    };

    /** Re-run the chain below in the background for `req` and store the result (one per entry). */
    const refresh = (e: Entry, req: Request, key: string, shard: number, next: Next): void => {
      if (e.refreshing) return;
      e.refreshing = true;
      const cw = new CaptureWriter((res) => {
        // With serve_stale a failed refresh (SERVFAIL, REFUSED, …) keeps the entry to serve stale.
        if (stale && !usable(cw)) return;
        try {
          admit(req, key, shard, res, e, false);
        } catch {
          // not cacheable
        }
      });
      const done = (): void => {
        e.refreshing = false;
        if (stale && !usable(cw)) e.recheckUntil = Date.now() + cfg.serveStale.recheck;
      };
      try {
        const r = next(req, cw);
        if (r instanceof Promise) r.then(done, (err: unknown) => {
          done();
          ctx.log.debug(`refresh of ${req.name} failed: ${err instanceof Error ? err.message : String(err)}`);
        });
        else done();
      } catch {
        done();
      }
    };

    /**
     * verify: ask the plugins below first; a NOERROR or NXDOMAIN reply is stored and answered,
     * anything else (SERVFAIL, REFUSED, no reply) gets the stale entry. With a TIMEOUT the stale
     * entry goes out when the plugins below take longer, and their late reply still refreshes it.
     */
    const verifyStale = (e: Entry, req: Request, w: ResponseWriter, key: string, shard: number, next: Next): Promise<Rcode> =>
      new Promise<Rcode>((resolve) => {
        let answered = false;
        let timer: NodeJS.Timeout | undefined;
        const answerStale = (): void => {
          if (answered) return;
          answered = true;
          if (timer !== undefined) clearTimeout(timer);
          staleC.inc();
          resolve(serveEntry(e, req, w, staleTtl, true));
        };
        const cw = new CaptureWriter(() => {});
        e.refreshing = true;
        const finish = (): void => {
          e.refreshing = false;
          const res = cw.res;
          if (res === undefined || !usable(cw)) {
            e.recheckUntil = Date.now() + cfg.serveStale.recheck;
            answerStale();
            return;
          }
          let out = res;
          try {
            out = admit(req, key, shard, res, e, !answered);
          } catch {
            // not cacheable: still the fresh answer
          }
          if (answered) return;
          answered = true;
          if (timer !== undefined) clearTimeout(timer);
          if (!w.written) w.write(out);
          resolve(cw.rcode as Rcode);
        };
        if (cfg.serveStale.timeout > 0) timer = setTimeout(answerStale, cfg.serveStale.timeout);
        try {
          const r = next(req, cw);
          if (r instanceof Promise) r.then(finish, finish);
          else finish();
        } catch {
          finish();
        }
      });

    return {
      serve(req: Request, w: ResponseWriter, next: Next) {
        if (req.qtype === QTYPE.AXFR || req.qtype === QTYPE.IXFR || zones.match(req.name) === undefined) {
          req.trace?.note(`not cached here (${zones.match(req.name) === undefined ? `outside the cache's zones ${cfg.zones.join(' ')}` : 'zone transfer'})`);
          return next(req, w);
        }
        requestsC.inc();
        const key = `${req.qtype}/${req.qclass}/${req.do ? 1 : 0}${req.cd ? 1 : 0}/${req.name}`;
        const shard = shardOf(key);
        const now = Date.now();
        const e = ncache.get(key, shard) ?? pcache.get(key, shard);
        if (e !== undefined) {
          const left = remaining(e, now);
          if (left > 0) {
            hits[e.kind].inc();
            req.trace?.note(`hit (${e.kind}), key ${key}, ${left}s of ${e.ttl}s left, stored ${Math.floor((now - e.stored) / 1000)}s ago`);
            if (cfg.prefetch.amount > 0) {
              if (now - e.lastHit >= cfg.prefetch.duration) e.hits = 0;
              e.hits++;
              e.lastHit = now;
              const threshold = Math.ceil((cfg.prefetch.percentage / 100) * e.ttl);
              if (e.hits >= cfg.prefetch.amount && left <= Math.max(threshold, 1)) {
                if (!e.refreshing) prefetchC.inc();
                refresh(e, req, key, shard, next);
              }
            }
            return serveEntry(e, req, w, left);
          }
          const expiredMs = now - (e.stored + e.ttl * 1000);
          if (stale && expiredMs < cfg.serveStale.upTo) {
            hits[e.kind].inc();
            req.trace?.note(`stale hit (${e.kind}), key ${key}, expired ${Math.floor(expiredMs / 1000)}s ago; serve_stale ${cfg.serveStale.verify ? 'verify' : 'immediate'}`);
            // RECHECK: after a failed refresh (or while one runs) the stale entry goes out without asking again.
            const hold = cfg.serveStale.recheck > 0 && (e.refreshing || now < e.recheckUntil);
            if (cfg.serveStale.verify && !hold) return verifyStale(e, req, w, key, shard, next);
            staleC.inc();
            if (!hold) refresh(e, req, key, shard, next);
            return serveEntry(e, req, w, staleTtl, true);
          }
          (e.kind === 'success' ? pcache : ncache).delete(key, shard);
        }
        missesC.inc();
        req.trace?.note(`miss, key ${key}${e !== undefined ? ' (the entry had expired)' : ''}`);
        return next(req, new CacheWriter(w, req, key, shard));
      },
    };
  },
});
