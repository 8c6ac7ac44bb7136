// dnssec: online DNSSEC signing of the replies of the plugins below it (CoreDNS's dnssec plugin).
import { definePlugin } from '../../src/plugin/api.js';
import { Dnssec } from './dnssec.js';
import { parseDnssec, type DnssecConfig } from './setup.js';

export default definePlugin<DnssecConfig>({
  name: 'dnssec',
  api: '^1',
  once: true,
  parse: (d, zones) => parseDnssec(d, zones),
  setup(cfg, ctx) {
    const entries = ctx.metrics.gauge('cache_entries', 'The number of elements in the dnssec cache.', ['server', 'type']);
    const hits = ctx.metrics.counter('cache_hits_total', 'The count of cache hits.', ['server']);
    const misses = ctx.metrics.counter('cache_misses_total', 'The count of cache misses.', ['server']);
    // the server label is final once the block is set up (bind): take it on first use
    let hit: { inc(): void } | undefined;
    let miss: { inc(): void } | undefined;
    const h = new Dnssec(cfg, {
      hit: () => (hit ??= hits.labels(ctx.server.label)).inc(),
      miss: () => (miss ??= misses.labels(ctx.server.label)).inc(),
      entries: (n) => entries.labels(ctx.server.label, 'signature').set(n),
    });
    return { serve: (req, w, next) => h.serve(req, w, next) };
  },
});
