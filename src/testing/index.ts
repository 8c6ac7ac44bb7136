// "typedns/testing": the helpers the built-in plugins' tests use, for plugin authors too.
//   dispense('hosts { ttl 5 }')   Recorder   fakeRequest('a.example.org.', 'A')
//   nextReturning(RCODE.NXDOMAIN)  sortAndCheck(msg, case)  startServer(corefile)  query(port, name, type)
//   responder('backend', (req, w, next) => …)  waitFor(() => cond)  freePort()
//   startInProcess(corefile): the same, through the chain without a socket (s.query(name, type))
import dnsPacket, { type DecodedPacket } from 'dns-packet';
import { Dispenser } from '../corefile/dispenser.js';
import { definePlugin, type Message, type Next, type Plugin, type PluginDefinition, type Rcode, type Request, type ResponseWriter, type SetupContext } from '../plugin/types.js';
import { DnsRequest, newSlot } from '../request/request.js';
import { CoreWriter } from '../request/writer.js';
import { Parse, parseQuery, QueryHead } from '../dns/wire.js';
import { buildQuery, query, type QueryOptions, type QueryResult } from './client.js';
import { DnsServer } from '../server/server.js';
import { detachedProcess } from '../server/detached.js';
import type { TcpOptions } from '../server/tcp.js';
import { PluginRegistry } from '../plugin/registry.js';
import { memoryLogger, type TextLogger } from '../observe/log.js';
import { MetricsRegistry } from '../observe/metrics.js';
import { builtinPlugins } from '../../plugins/all.js';

export { query, exchangeRaw, buildQuery, rcodeOfWire } from './client.js';
export type { QueryOptions, QueryResult } from './client.js';
export { sortAndCheck, type Case } from './check.js';
export { waitFor, freePort, type WaitOptions } from './wait.js';
export { startInProcess, type InProcessServer } from './inprocess.js';
export { rr, rrText, reply } from '../dns/message.js';

/** A dispenser over a Corefile snippet: `dispense('hosts { ttl 5 }')`. */
export function dispense(text: string, file = 'Testfile'): Dispenser {
  return Dispenser.from(text, file);
}

/** Run a plugin definition's parse on a snippet. */
export function parsePlugin<C>(def: PluginDefinition<C>, text: string, zones: readonly string[] = ['.']): C {
  return def.parse(dispense(text), zones);
}

/**
 * A SetupContext for unit tests of setup() and serve() without a server: log lines go to
 * `ctx.log.lines`, metrics to a fresh registry (`ctx.metrics.registry`). onStartup/onShutdown
 * hooks are collected in `ctx.startup`/`ctx.shutdown` for the test to run.
 */
export function testContext(
  name: string,
  o: { zones?: readonly string[]; port?: number; debug?: boolean; plugins?: Record<string, Plugin> } = {},
): SetupContext & { log: TextLogger & { lines: string[] }; startup: Array<() => unknown>; shutdown: Array<() => unknown> } {
  const mem = memoryLogger();
  const log = Object.assign(mem.withDebug(o.debug ?? false).child(name), { lines: mem.lines }) as unknown as TextLogger & { lines: string[] };
  const metrics = new MetricsRegistry();
  const port = o.port ?? 53;
  const startup: Array<() => unknown> = [];
  const shutdown: Array<() => unknown> = [];
  return {
    name,
    zones: o.zones ?? ['.'],
    server: { keys: (o.zones ?? ['.']).map((z) => `${z}:${port}`), port, label: `dns://:${port}`, view: '', scheme: 'dns' },
    log,
    metrics: metrics.scoped(name),
    slot: () => newSlot(),
    onStartup: (fn) => void startup.push(fn),
    onShutdown: (fn) => void shutdown.push(fn),
    onListening: (fn) => void startup.push(() => fn([{ ip: '127.0.0.1', port }])),
    lameduck: () => {},
    plugin: <P extends Plugin>(n: string) => o.plugins?.[n] as P | undefined,
    plugins: () => Object.entries(o.plugins ?? {}).map(([name, plugin]) => ({ name, plugin })),
    chain: [name],
    listen: { addresses: [], except: [] },
    process: {
      ...detachedProcess({ version: 'test', files: [] }),
      fatal: (msg: string) => {
        throw new Error(`fatal: ${msg}`);
      },
    },
    root: process.cwd(),
    lookup: async (req, name, qtype) => ({ type: 'response', flags: 5, questions: [{ name, type: qtype as never, class: 'IN' }], answers: [] }),
    explain: async () => {
      throw new Error('testContext: explain needs a server (startServer)');
    },
    startup,
    shutdown,
  };
}

/** parse + setup of a definition on a snippet, with a testContext: `await setupPlugin(def, 'hosts { … }')`. */
export async function setupPlugin<C>(
  def: PluginDefinition<C>,
  text: string,
  zones: readonly string[] = ['.'],
): Promise<{ plugin: Plugin; config: C; ctx: ReturnType<typeof testContext> }> {
  const config = parsePlugin(def, text, zones);
  const ctx = testContext(def.name, { zones });
  return { plugin: await def.setup(config, ctx), config, ctx };
}

/** A request as the server would build it, for unit tests of serve(). */
export function fakeRequest(name: string, type: string, o: QueryOptions & { transport?: 'udp' | 'tcp'; client?: string; zone?: string } = {}): DnsRequest {
  const wire = buildQuery(name, type, o);
  const h = new QueryHead();
  if (parseQuery(wire, h) !== Parse.OK) throw new Error('fakeRequest: bad query');
  const ip = o.client ?? '10.240.0.1';
  return new DnsRequest(wire, h.id, h.qname, h.name, h.qtype, h.qclass, h.questionEnd, o.zone ?? '.', o.transport ?? 'udp', { ip, port: 40212, family: ip.includes(':') ? 6 : 4 }, { ip: '127.0.0.1', port: 53 }, h.edns, h.bufsize, h.do, h.flags, performance.now());
}

/** A writer that records what was written (CoreDNS's dnstest.Recorder). */
export class Recorder implements ResponseWriter {
  private readonly core: CoreWriter;
  wire: Buffer | undefined;
  constructor(readonly req: Request = fakeRequest('example.org.', 'A')) {
    this.core = new CoreWriter(req as DnsRequest, { send: (buf) => (this.wire = Buffer.from(buf)) });
  }
  write(res: Message | Uint8Array): void {
    this.core.write(res);
  }
  get written(): boolean {
    return this.core.written;
  }
  get rcode(): number {
    return this.core.rcode;
  }
  get length(): number {
    return this.core.length;
  }
  get flags(): number {
    return this.core.flags;
  }
  get answers(): number {
    return this.core.answers;
  }
  /** The reply as the client would decode it. */
  get msg(): DecodedPacket | undefined {
    return this.wire === undefined ? undefined : dnsPacket.decode(this.wire);
  }
}

/** A next plugin that returns `rcode` without writing (CoreDNS's test.NextHandler). */
export function nextReturning(rcode: Rcode): Next & { calls: number } {
  const f = ((_req: Request, _w: ResponseWriter) => {
    f.calls++;
    return rcode;
  }) as Next & { calls: number };
  f.calls = 0;
  return f;
}

/**
 * A stand-in plugin for tests, with no configuration (its directive's arguments are ignored): each
 * query goes to `serve`. `startServer(corefile, { plugins: [responder('backend', (req, w) => …)] })`
 * with `backend` in the Corefile. It sits just before whoami in the chain unless `o.position` says
 * otherwise; `o.ready` becomes its readiness check.
 */
export function responder(
  name: string,
  serve: NonNullable<Plugin['serve']>,
  o: { position?: PluginDefinition['position']; ready?: () => boolean } = {},
): PluginDefinition<Record<string, never>> {
  const { position = { before: 'whoami' }, ready } = o;
  return definePlugin({
    name,
    api: '^1',
    position,
    parse(d) {
      d.next();
      return {};
    },
    setup: () => (ready ? { serve, ready } : { serve }),
  });
}

export interface TestServer {
  server: DnsServer;
  port: number;
  log: TextLogger & { lines: string[] };
  metrics: MetricsRegistry;
  query(name: string, type: string, o?: QueryOptions): Promise<QueryResult>;
  close(): Promise<void>;
}

/** Start a server on 127.0.0.1 from a Corefile string (use port 0 in keys for an ephemeral port). */
export async function startServer(
  corefile: string,
  o: { plugins?: PluginDefinition<any>[]; file?: string; defaultPort?: number; tcp?: Partial<TcpOptions>; onLog?: (line: string) => void } = {},
): Promise<TestServer> {
  const registry = new PluginRegistry(builtinPlugins);
  for (const p of o.plugins ?? []) registry.add(p);
  // onLog: each line as it is logged (the order of events during start, before this resolves)
  const log = memoryLogger(o.onLog);
  const metrics = new MetricsRegistry();
  const server = new DnsServer({ registry, log, metrics, defaultPort: o.defaultPort ?? 0, quiet: true, ...(o.tcp ? { tcp: o.tcp } : {}) });
  await server.start({ text: corefile, file: o.file ?? 'Corefile' });
  const port = server.port;
  return {
    server,
    port,
    log,
    metrics,
    query: (name, type, qo) => query(port, name, type, { host: '127.0.0.1', ...qo }),
    close: () => server.stop(0),
  };
}
