// The in-process harness of the vitest benchmarks (chain.bench.ts, kubernetes.bench.ts): real
// server blocks set up from a Corefile, driven through serveQuery (wire parse → route → chain →
// writer → reply bytes) without sockets.
import path from 'node:path';
import { builtinPlugins } from '../plugins/order.js';
import { PluginRegistry } from '../src/plugin/registry.js';
import { parseConfig } from '../src/config/compile.js';
import { DnsServer } from '../src/server/server.js';
import { Generation } from '../src/server/generation.js';
import { memoryLogger } from '../src/observe/log.js';
import { MetricsRegistry } from '../src/observe/metrics.js';
import { serveQuery, type ServeContext } from '../src/server/serve.js';
import type { Sender } from '../src/request/writer.js';

export interface Harness {
  /** A ServeContext for a Corefile's only listener, as the UDP listener would hold it. */
  contextFor(corefile: string): Promise<ServeContext>;
  /** A bench function answering `queries` in turn. */
  driver(ctx: ServeContext, queries: Buffer[]): () => void;
  /** Bytes of replies written so far. */
  readonly bytes: number;
  close(): Promise<void>;
}

/** `dir` holds the Corefiles' data files (relative paths resolve there). */
export function harness(dir: string): Harness {
  const registry = new PluginRegistry(builtinPlugins);
  const log = memoryLogger();
  const metrics = new MetricsRegistry();
  const proc = new DnsServer({ registry, log, metrics, defaultPort: 0, quiet: true });
  const generations: Generation[] = [];
  let bytes = 0;
  const sender: Sender = { send: (buf) => void (bytes += buf.length) };
  const client = { ip: '127.0.0.1', port: 40000, family: 4 as const };
  const local = { ip: '127.0.0.1', port: 53 };
  return {
    async contextFor(corefile) {
      const gen = new Generation(parseConfig({ text: corefile, file: path.join(dir, 'Corefile') }, registry, 0), dir);
      await gen.setup(proc, log, metrics, false);
      await gen.start();
      generations.push(gen);
      const l = [...gen.listeners().values()][0]!;
      return { table: l.table, log, panics: metrics.counter('bench_panics_total', 'panics'), inflight: 0 };
    },
    driver(ctx, queries) {
      let i = 0;
      return () => {
        serveQuery(ctx, queries[i]!, client, local, 'udp', sender);
        i = (i + 1) % queries.length;
      };
    },
    get bytes() {
      return bytes;
    },
    async close() {
      for (const g of generations) await g.stop(log);
      await proc.stop(0);
    },
  };
}
