// cache: a frontend cache that serves hits from stored wire bytes. At store time the reply is
// encoded once (or taken as the wire bytes forward wrote), its OPT dropped and the offsets of
// every TTL field recorded; a hit copies the bytes and patches ID, RD/CD, the TTLs (remaining
// TTL) and appends an OPT when the client sent one: no decode, no encode.
//   setup.ts   parse (Corefile → CacheConfig) and setup (stores, metrics)
//   store.ts   the success and denial stores (entry cap, byte budget, oldest evicted first)
//   handler.ts serve: hit, miss (the writer that stores), admit (what is stored, for how long)
//   stale.ts   prefetch and serve_stale (immediate, verify)
//   wire.ts    reading a reply once at store time
import { definePlugin } from '../../src/plugin/api.js';
import { parseCache, setupCache, type CacheConfig } from './setup.js';

export type { CacheConfig } from './setup.js';
export { parseCache } from './setup.js';

export default definePlugin<CacheConfig>({
  name: 'cache',
  api: '^1',
  once: true,
  parse: parseCache,
  setup: setupCache,
});
