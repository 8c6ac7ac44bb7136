// The in-process driver: a Corefile's blocks set up as the server sets them up (every plugin's
// parse, setup and onStartup hooks), and queries sent through the same path a listener takes
// (serveQuery: wire parse → route → chain → writer → reply bytes), without a socket. For tests of
// what plugins answer; keep socket tests for what crosses a socket (truncation over UDP is still
// applied: the writer fits a reply to the query's transport). Nothing is bound, so onListening
// hooks do not run.
import path from 'node:path';
import dnsPacket from 'dns-packet';
import type { PluginDefinition } from '../plugin/types.js';
import { PluginRegistry } from '../plugin/registry.js';
import { parseConfig } from '../config/compile.js';
import { DnsServer } from '../server/server.js';
import { Generation } from '../server/generation.js';
import { serveQuery, type ServeContext } from '../server/serve.js';
import { memoryLogger, type TextLogger } from '../observe/log.js';
import { MetricsRegistry } from '../observe/metrics.js';
import { builtinPlugins } from '../../plugins/all.js';
import { buildQuery, rcodeOfWire, type QueryOptions, type QueryResult } from './client.js';

export interface InProcessServer {
  /** The configuration as set up (its blocks, their plugins). */
  readonly generation: Generation;
  /** The route table of the first listener, as a UDP or TCP listener holds it (bench drivers). */
  readonly context: ServeContext;
  readonly log: TextLogger & { lines: string[] };
  readonly metrics: MetricsRegistry;
  /** Ask as a client would (`source` is the client address); rejects when the chain sends no reply. */
  query(name: string, type: string, o?: QueryOptions): Promise<QueryResult>;
  /** Send query bytes; the reply bytes, or undefined when the chain sent none (a drop). */
  exchange(wire: Buffer, o?: { tcp?: boolean; source?: string }): Promise<Buffer | undefined>;
  close(): Promise<void>;
}

/**
 * Set a Corefile up in this process: `startInProcess('example.org {\n whoami\n}')`. Relative
 * paths in the Corefile resolve in `dir` (default: the working directory).
 */
export async function startInProcess(corefile: string, o: { plugins?: PluginDefinition<any>[]; dir?: string } = {}): Promise<InProcessServer> {
  const registry = new PluginRegistry(builtinPlugins);
  for (const p of o.plugins ?? []) registry.add(p);
  const log = memoryLogger();
  const metrics = new MetricsRegistry();
  // the process-wide state plugins reach through ctx.process (never started: nothing is bound)
  const proc = new DnsServer({ registry, log, metrics, defaultPort: 0, quiet: true });
  const dir = o.dir ?? process.cwd();
  const gen = new Generation(parseConfig({ text: corefile, file: path.join(dir, 'Corefile') }, registry, 0), dir);
  try {
    await gen.setup(proc, log, metrics, false);
    await gen.start();
  } catch (e) {
    await gen.stop(log);
    await proc.stop(0);
    throw e;
  }
  const first = [...gen.listeners().values()][0];
  if (first === undefined) throw new Error('startInProcess: the Corefile has no server block');
  const context: ServeContext = { table: first.table, log, panics: metrics.counter('coredns_panics_total', 'A metrics that counts the number of panics.'), inflight: 0 };
  const local = { ip: '127.0.0.1', port: first.port };
  const exchange = async (wire: Buffer, q: { tcp?: boolean; source?: string } = {}): Promise<Buffer | undefined> => {
    let reply: Buffer | undefined;
    const client = { ip: q.source ?? '127.0.0.1', port: 40000, family: (q.source?.includes(':') ? 6 : 4) as 4 | 6 };
    const sender = { send: (buf: Uint8Array) => void (reply ??= Buffer.from(buf)) };
    await serveQuery(context, wire, client, local, q.tcp ? 'tcp' : 'udp', sender);
    return reply;
  };
  return {
    generation: gen,
    context,
    log,
    metrics,
    exchange,
    async query(name, type, q = {}) {
      const wire = await exchange(buildQuery(name, type, q), { ...(q.tcp ? { tcp: true } : {}), ...(q.source !== undefined ? { source: q.source } : {}) });
      if (wire === undefined) throw new Error(`no reply to ${name} ${type} (the chain dropped it)`);
      return { msg: dnsPacket.decode(wire), wire, rcode: rcodeOfWire(wire) };
    },
    async close() {
      await gen.stop(log);
      await proc.stop(0);
    },
  };
}
