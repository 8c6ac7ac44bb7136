// cache [TTL] [ZONES...] { success CAPACITY [TTL [MINTTL]]; denial …; prefetch AMOUNT [DURATION]
// [PERCENTAGE%]; serve_stale …; servfail DURATION; disable success|denial [ZONES...]; keepttl;
// max_bytes SIZE } → CacheConfig (pure), and setup: the two stores and their metrics.
import { parseDuration, Zones, fqdn } from '../../src/plugin/api.js';
import type { Dispenser, Plugin, SetupContext } from '../../src/plugin/api.js';
import { Cache, type CacheMetrics } from './handler.js';
import { Store, type Kind } from './store.js';

/** CoreDNS splits each cache into 256 shards of at least 4 entries: capacities are read in those steps. */
const CAP_STEP = 256;
const DEFAULT_CAP = 9984;
const MIN_CAP = 1024;
const MIN_TTL = 5;
const MAX_TTL = 3600;
const MAX_NTTL = 1800;
/** Default byte budget of each of the two caches (success, denial): bounds memory, not only entries. */
const DEFAULT_MAX_BYTES = 32 * 1024 * 1024;

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
  return Math.max(MIN_CAP, Math.floor(Number(s) / CAP_STEP) * CAP_STEP);
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

/** The two stores and the metrics, labelled once; the handler is in handler.ts. */
export function setupCache(cfg: CacheConfig, ctx: SetupContext): Plugin {
  const server = ctx.server.label;
  const zonesLabel = cfg.zones.join(',');
  const view = ctx.server.view;
  const m = ctx.metrics;
  const entriesG = m.gauge('entries', 'The number of elements in the cache.', ['server', 'type', 'zones', 'view']);
  const bytesG = m.gauge('size_bytes', 'The bytes held by the elements in the cache (typedns; bounded by max_bytes).', ['server', 'type', 'zones', 'view']);
  const hitsC = m.fastCounter('hits_total', 'The count of cache hits.', ['server', 'type', 'zones', 'view']);
  const evictC = m.counter('evictions_total', 'The count of cache evictions.', ['server', 'type', 'zones', 'view']);
  const metrics: CacheMetrics = {
    hits: { success: hitsC.labels(server, 'success', zonesLabel, view), denial: hitsC.labels(server, 'denial', zonesLabel, view) },
    misses: m.fastCounter('misses_total', 'The count of cache misses. Deprecated, derive misses from cache hits/requests counters.', ['server', 'zones', 'view']).labels(server, zonesLabel, view),
    requests: m.fastCounter('requests_total', 'The count of cache requests.', ['server', 'zones', 'view']).labels(server, zonesLabel, view),
    prefetch: m.fastCounter('prefetch_total', 'The number of times the cache has prefetched a cached item.', ['server', 'zones', 'view']).labels(server, zonesLabel, view),
    drops: m.counter('drops_total', 'The number responses that are not cached, because the reply is malformed.', ['server', 'zones', 'view']).labels(server, zonesLabel, view),
    stale: m.fastCounter('served_stale_total', 'The number of requests served from stale cache entries.', ['server', 'zones', 'view']).labels(server, zonesLabel, view),
  };
  const store = (kind: Kind, cap: number): Store => {
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
  return new Cache(cfg, ctx.name, ctx.log, metrics, store('success', cfg.success.capacity), store('denial', cfg.denial.capacity));
}
