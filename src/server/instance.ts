// A config generation and the process that runs generations.
//
// load(): parse every block → parse every directive (pure) → set every plugin up → compile the
// chains → run onStartup → bind the listeners the new generation needs → swap the route tables
// atomically → stop the old generation. Listeners on an address:port that both generations use
// are kept, so a reload drops no query. Any failure before the swap closes what the new
// generation opened and leaves the old one serving.
import path from 'node:path';
import net from 'node:net';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SHARE_ENV, Worker } from 'node:worker_threads';
import { readCorefileText } from '../corefile/read.js';
import type { ParseJob, ParseReply } from './parse-worker.js';
import { parseCorefile, parseCorefileFile, type ServerBlock } from '../corefile/parser.js';
import { CorefileError, type Token } from '../corefile/lexer.js';
import { Dispenser } from '../corefile/dispenser.js';
import { checkDuplicates, parseKeys, type Cidr, type Scheme, type ZoneKey } from '../corefile/keys.js';
import type { BoundAddress, ListenHttps, ListenSettings, ListenTimeouts, ListenTls, MaybePromise, Plugin, PluginDefinition, ProcessState, Request, SetupContext } from '../plugin/types.js';
import { compileChain } from '../plugin/chain.js';
import type { PluginRegistry } from '../plugin/registry.js';
import { pluginError, TypednsError } from '../plugin/errors.js';
import { newSlot } from '../request/request.js';
import { createLogger, type TextLogger } from '../observe/log.js';
import { MetricsRegistry, type Counter } from '../observe/metrics.js';
import { RouteTable, type Block } from './route.js';
import { UdpListener } from './udp.js';
import { NativeUdpListener, nativeUdp, nativeUdpError } from './udp-native.js';
import { isWorker } from './workers.js';
import { DEFAULT_TCP, TcpListener, type TcpOptions } from './tcp.js';
import type { ServeContext } from './serve.js';
import { DotListener } from './tls.js';
import { GrpcListener } from './grpc.js';
import { DEFAULT_HTTPS_MAX_CONNECTIONS, DohListener } from './https.js';
import { lookupThrough } from './lookup.js';
import { explainQuery } from '../explain/explain.js';

export const VERSION = '0.1.0';

export interface CorefileSource {
  /** Corefile text. */
  text: string;
  /** The file name used in errors, and whose directory is the root for relative paths. */
  file: string;
}

export interface ParsedDirective {
  readonly def: PluginDefinition<unknown>;
  readonly config: unknown;
  readonly token: Token;
}

export interface ParsedBlock {
  readonly block: ServerBlock;
  readonly keys: ZoneKey[];
  readonly directives: ParsedDirective[];
  /** The block's view name (a routing plugin's), '' without one. */
  readonly view: string;
}

export interface ParsedConfig {
  readonly blocks: ParsedBlock[];
  readonly files: string[];
}

/** Parse a Corefile and run every plugin's pure parse. Collects every error it can. */
export function parseConfig(src: CorefileSource, registry: PluginRegistry, defaultPort: number, env?: Record<string, string | undefined>): ParsedConfig {
  const res = parseCorefile(src.text, src.file, { isDirective: (n) => registry.has(n), ...(env ? { env } : {}) });
  return compileParsed(res.blocks, res.files, registry, defaultPort);
}

export function parseConfigFile(file: string, registry: PluginRegistry, defaultPort: number): ParsedConfig {
  const res = parseCorefileFile(file, { isDirective: (n) => registry.has(n) });
  return compileParsed(res.blocks, res.files, registry, defaultPort);
}

export class ConfigErrors extends Error {
  readonly code = 'TDNS_ERR_COREFILE';
  constructor(readonly errors: CorefileError[]) {
    super(errors.map((e) => e.message).join('\n'));
    this.name = 'ConfigErrors';
  }
}

/** Keys, every plugin's parser and the duplicate check over parsed blocks (parse-worker.ts uses it too). */
export function compileParsed(blocks: ServerBlock[], files: string[], registry: PluginRegistry, defaultPort: number): ParsedConfig {
  const errors: CorefileError[] = [];
  const out: ParsedBlock[] = [];
  const keyed: Array<{ block: ServerBlock; keys: ZoneKey[]; filtered: boolean }> = [];
  for (const block of blocks) {
    let keys: ZoneKey[];
    try {
      keys = parseKeys(block, defaultPort);
    } catch (e) {
      if (e instanceof CorefileError) {
        errors.push(e);
        continue;
      }
      throw e;
    }
    const zones = [...new Set(keys.map((k) => k.zone))];
    const directives: ParsedDirective[] = [];
    for (const def of registry.ordered) {
      const tokens = block.directives.get(def.name);
      if (tokens === undefined) continue;
      const starts = block.starts.get(def.name)!;
      if (def.once && starts.length > 1) {
        const t = starts[1]!;
        errors.push(new CorefileError(t.file, t.line, `plugin/${def.name}: this plugin can only be used once per Server Block`));
        continue;
      }
      try {
        const config = def.parse(new Dispenser(tokens, def.name), zones);
        directives.push({ def, config, token: starts[0]! });
      } catch (e) {
        if (e instanceof CorefileError) errors.push(e);
        else {
          const t = starts[0]!;
          errors.push(new CorefileError(t.file, t.line, `plugin/${def.name}: ${e instanceof Error ? e.message : String(e)}`));
        }
      }
    }
    const views = directives.filter((d) => d.def.view !== undefined);
    if (views.length > 1) {
      const t = views[1]!.token;
      errors.push(new CorefileError(t.file, t.line, 'multiple views defined in server block'));
    }
    const view = views[0] === undefined ? '' : views[0].def.view!(views[0].config);
    keyed.push({ block, keys, filtered: view !== '' || views.length > 0 });
    out.push({ block, keys, directives, view });
  }
  try {
    checkDuplicates(keyed);
  } catch (e) {
    if (e instanceof CorefileError) errors.push(e);
    else throw e;
  }
  if (errors.length > 0) throw new ConfigErrors(errors);
  return { blocks: out, files };
}

interface BlockRuntime extends Block {
  readonly listen: ListenSettings;
  /** dns (UDP and TCP), tls (DoT), https (DoH) or grpc: what the block's listeners speak. */
  readonly scheme: Scheme;
}

/** A listener's key: address and port, and the scheme for the encrypted ones. */
function listenerKey(scheme: Scheme, host: string, port: number): string {
  return scheme === 'dns' ? `${host}|${port}` : `${scheme}|${host}|${port}`;
}

/** What a generation wants bound on one address:port. */
export interface WantedListener {
  host: string;
  port: number;
  scheme: Scheme;
  table: RouteTable;
  /** The certificate (tls, https, grpc), from the first block on the listener with a tls plugin. */
  tls: ListenTls | undefined;
  /** The https plugin's options (https), from the first block on the listener that has them. */
  https: ListenHttps | undefined;
  /** The timeouts plugin's settings: each one from the last block on the listener that sets it (CoreDNS). */
  timeouts: ListenTimeouts | undefined;
  /** The `server` label of the listener's metrics. */
  label: string;
}

/** One config generation: set-up plugins, compiled chains, lifecycle hooks. */
export class Generation {
  readonly blocks: BlockRuntime[] = [];
  private readonly startup: Array<() => MaybePromise<void>> = [];
  private readonly shutdown: Array<() => MaybePromise<void>> = [];
  readonly readiness: Array<{ name: string; ready(): boolean }> = [];
  /** onListening hooks, with the index of the block that asked. */
  readonly listening: Array<{ block: number; fn: (addrs: readonly BoundAddress[]) => MaybePromise<void> }> = [];
  /** Milliseconds to keep serving on shutdown before closing listeners (health's lameduck). */
  lameduck = 0;
  private stopped = false;

  constructor(
    readonly parsed: ParsedConfig,
    readonly root: string,
  ) {}

  async setup(proc: ProcessState, log: TextLogger, metrics: MetricsRegistry, debug: boolean): Promise<void> {
    const debugOn = (pb: ParsedBlock): boolean => debug || pb.directives.some((d) => d.def.name === 'debug');
    for (const pb of this.parsed.blocks) {
      const zones = [...new Set(pb.keys.map((k) => k.zone))];
      const port = pb.keys[0]?.port ?? 53;
      const scheme: Scheme = pb.keys[0]?.scheme ?? 'dns';
      const listen: ListenSettings = { addresses: [], except: [] };
      const plugins: Array<{ name: string; plugin: Plugin }> = [];
      const chainNames = pb.directives.map((d) => d.def.name);
      const blockLog = log.withDebug(debugOn(pb));
      const keysText = pb.block.keys.map((k) => k.text);
      const filters = new Map<string, Cidr>();
      for (const k of pb.keys) if (k.filter) filters.set(k.zone, k.filter);
      const serverLabel = { value: `${scheme}://:${port}` };
      const blockIndex = this.blocks.length;
      for (const d of pb.directives) {
        const ctx: SetupContext = {
          name: d.def.name,
          zones,
          server: {
            keys: keysText,
            port,
            get label() {
              return serverLabel.value;
            },
            view: pb.view,
            scheme,
          },
          log: blockLog.child(d.def.name),
          metrics: metrics.scoped(d.def.name),
          slot: () => newSlot(),
          onStartup: (fn) => this.startup.push(fn),
          onShutdown: (fn) => this.shutdown.push(fn),
          onListening: (fn) => this.listening.push({ block: blockIndex, fn }),
          lameduck: (ms) => {
            this.lameduck = Math.max(this.lameduck, ms);
          },
          plugin: <P extends Plugin>(name: string) => plugins.find((p) => p.name === name)?.plugin as P | undefined,
          plugins: () => plugins,
          chain: chainNames,
          listen,
          process: proc,
          root: this.root,
          lookup: (req, name, qtype) => lookupThrough(this.tableFor(blockIndex), req, name, qtype),
          explain: (q) => {
            const b = this.blocks[blockIndex];
            return explainQuery(this, q, b === undefined ? undefined : { host: b.listen.addresses[0] ?? ANY_HOST, port: b.port });
          },
        };
        let plugin: Plugin;
        try {
          plugin = await d.def.setup(d.config, ctx);
        } catch (e) {
          if (e instanceof CorefileError) throw e;
          const err = pluginError(d.def.name, e);
          throw new CorefileError(d.token.file, d.token.line, err.message);
        }
        plugins.push({ name: d.def.name, plugin });
        if (plugin.close) {
          const p = plugin;
          this.shutdown.push(() => p.close!());
        }
        if (typeof plugin.ready === 'function') {
          const p = plugin;
          this.readiness.push({ name: d.def.name, ready: () => p.ready!() });
        }
      }
      if (listen.addresses.length === 1) serverLabel.value = `${scheme}://${listen.addresses[0]}:${port}`;
      const entry = plugins.some((p) => p.plugin.serve) ? compileChain(plugins, blockLog) : undefined;
      const guards = plugins.filter((p) => typeof p.plugin.filter === 'function').map((p) => p.plugin);
      const guard = guards.length === 0 ? undefined : guards.length === 1 ? (req: Request) => guards[0]!.filter!(req) : (req: Request) => guards.every((p) => p.filter!(req));
      this.blocks.push({ label: serverLabel.value, zones, port, entry, plugins, filters, listen, view: pb.view, guard, scheme });
    }
  }

  async start(): Promise<void> {
    for (const fn of this.startup) await fn();
  }

  /** Stop: shutdown hooks and plugin close, each once; errors are logged by the caller. */
  async stop(log?: TextLogger): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const fn of this.shutdown) {
      try {
        await fn();
      } catch (e) {
        log?.error(`shutdown: ${(e as Error).message}`);
      }
    }
  }

  private tables: Map<string, WantedListener> | undefined;

  /** The route table of the listener a block serves on (its first address), for ctx.lookup. */
  private tableFor(block: number): RouteTable | undefined {
    const b = this.blocks[block];
    if (b === undefined) return undefined;
    this.tables ??= this.listeners();
    return this.tables.get(listenerKey(b.scheme, b.listen.addresses[0] ?? ANY_HOST, b.port))?.table;
  }

  /** Every address:port this generation listens on, with the blocks each serves. */
  listeners(): Map<string, WantedListener> {
    const m = new Map<string, WantedListener>();
    for (const b of this.blocks) {
      const hosts = b.listen.addresses.length > 0 ? b.listen.addresses : [ANY_HOST];
      for (const host of hosts) {
        const key = listenerKey(b.scheme, host, b.port);
        let l = m.get(key);
        if (l === undefined) {
          const label = `${b.scheme}://${host === ANY_HOST ? '' : host}:${b.port}`;
          m.set(key, (l = { host, port: b.port, scheme: b.scheme, table: new RouteTable(), tls: undefined, https: undefined, timeouts: undefined, label }));
        }
        l.tls ??= b.listen.tls;
        l.https ??= b.listen.https;
        if (b.listen.timeouts !== undefined) l.timeouts = { ...l.timeouts, ...b.listen.timeouts };
        for (const z of b.zones) l.table.add(z, b);
      }
    }
    return m;
  }
}

/** The process's TCP limits with a listener's Corefile timeouts (the timeouts plugin) over them. */
function withTimeouts(base: TcpOptions, t: ListenTimeouts | undefined): TcpOptions {
  if (t === undefined) return { ...base };
  return { ...base, ...(t.read !== undefined ? { readTimeout: t.read } : {}), ...(t.write !== undefined ? { writeTimeout: t.write } : {}), ...(t.idle !== undefined ? { idleTimeout: t.idle } : {}), ...(t.maxTcpQueries !== undefined ? { maxTcpQueries: t.maxTcpQueries } : {}) };
}

/** The https plugin's options when a block has none. */
const DEFAULT_HTTPS: ListenHttps = { maxConnections: DEFAULT_HTTPS_MAX_CONNECTIONS, trustedProxies: [] };

/** Marker for "all interfaces": resolved to :: (dual-stack) or 0.0.0.0 at bind time. */
export const ANY_HOST = '*';

interface LiveListener {
  readonly key: string;
  readonly host: string;
  /** The port asked for (0 = ephemeral). */
  readonly port: number;
  readonly ctx: ServeContext;
  readonly udp: Array<UdpListener | NativeUdpListener>;
  readonly tcp: TcpListener[];
  /** tls://, https:// and grpc:// listeners (instead of udp and tcp). */
  readonly streams: Array<DotListener | DohListener | GrpcListener>;
  readonly scheme: Scheme;
  boundPort: number;
  /** The connection limits of this listener's TCP side or stream listeners (changed in place on reload). */
  readonly opts: TcpOptions;
}

export interface ServerOptions {
  registry: PluginRegistry;
  /** -dns.port */
  defaultPort?: number;
  log?: TextLogger;
  metrics?: MetricsRegistry;
  tcp?: Partial<TcpOptions>;
  debug?: boolean;
  quiet?: boolean;
  /** Called after a plugin reported a fatal condition (default: stop the server). */
  onFatal?: (msg: string) => void;
}

/** /ready's entry while no configuration serves yet. */
const NOT_LISTENING = { name: 'listeners', ready: () => false };

/** The process: the current generation, the listeners, and what outlives reloads. */
export class DnsServer implements ProcessState {
  readonly registry: PluginRegistry;
  readonly log: TextLogger;
  readonly metrics: MetricsRegistry;
  readonly defaultPort: number;
  private readonly sharedState = new Map<string, unknown>();
  private readonly listenersByKey = new Map<string, LiveListener>();
  private gen: Generation | undefined;
  /** The generation being set up and started before the first one serves (for /ready). */
  private starting: Generation | undefined;
  private readonly extraReadiness: Array<{ name: string; ready(): boolean }> = [];
  private source: CorefileSource | undefined;
  private loading: Promise<boolean> = Promise.resolve(true);
  private readonly panics: Counter;
  private readonly tcpOpts: TcpOptions;
  shuttingDown = false;
  readonly version = VERSION;
  /** Files of the current config (Corefile and imports). */
  files: string[] = [];

  constructor(private readonly opts: ServerOptions) {
    this.registry = opts.registry;
    this.log = opts.log ?? createLogger();
    this.metrics = opts.metrics ?? new MetricsRegistry();
    this.defaultPort = opts.defaultPort ?? 53;
    this.panics = this.metrics.counter('coredns_panics_total', 'A metrics that counts the number of panics.');
    this.tcpOpts = { ...DEFAULT_TCP, ...opts.tcp };
  }

  shared<T>(key: string, create: () => T): T {
    if (!this.sharedState.has(key)) this.sharedState.set(key, create());
    return this.sharedState.get(key) as T;
  }

  /**
   * What /ready checks. Until the first configuration serves (its plugins set up, its onStartup
   * hooks done — kubernetes' first sync — and every listener bound), a `listeners` entry that is
   * not ready, beside the readiness of the generation being started. On reload the running
   * generation answers until the new one has replaced it. Entries added with addReadiness (the
   * other workers under -workers) always count.
   */
  get readiness(): ReadonlyArray<{ name: string; ready(): boolean }> {
    const gen = this.gen;
    if (gen === undefined) return [...(this.starting?.readiness ?? []), NOT_LISTENING, ...this.extraReadiness];
    return this.extraReadiness.length === 0 ? gen.readiness : [...gen.readiness, ...this.extraReadiness];
  }

  /** A readiness condition of the process, outside any plugin (e.g. every worker started). */
  addReadiness(entry: { name: string; ready(): boolean }): void {
    this.extraReadiness.push(entry);
  }

  get generation(): Generation | undefined {
    return this.gen;
  }

  /** Start with a Corefile. Throws (ConfigErrors, CorefileError, listen errors) and binds nothing on failure. */
  async start(src: CorefileSource): Promise<void> {
    await this.apply(src);
  }

  /**
   * Reload from the current source's file (re-read; standard input is not re-read) or the given
   * source. Keeps the old config on any error. The file is read and parsed on a worker thread
   * (parseOffThread), so a slow or hostile Corefile never stalls the answers.
   */
  reload(reason: string, src?: CorefileSource): Promise<boolean> {
    this.loading = this.loading.then(async () => {
      try {
        if (src === undefined && this.source === undefined) return false;
        const job = src ?? { file: this.source!.file, text: this.source!.file === 'stdin' ? this.source!.text : undefined };
        const pre = await this.parseOffThread(job);
        await this.apply(pre.src, compileParsed(pre.blocks, pre.files, this.registry, this.defaultPort));
        this.log.info(`Reloading complete (${reason})`);
        return true;
      } catch (e) {
        this.metrics.counter('coredns_reload_failed_total', 'Counter of the number of failed reload attempts.').inc();
        this.log.error(`Reload failed (${reason}), keeping the running configuration: ${(e as Error).message}`);
        return false;
      }
    });
    return this.loading;
  }

  /**
   * Read (when `text` is undefined) and parse a Corefile, with its imports and the built-in
   * plugins' parsers, on a worker thread (parse-worker.ts); the grouped blocks come back. Run
   * from the TypeScript sources (the tests), where there is no compiled worker, it parses here.
   */
  private async parseOffThread(job: { file: string; text: string | undefined }): Promise<{ src: CorefileSource; blocks: ServerBlock[]; files: string[] }> {
    if (!parseWorkerBuilt()) {
      const text = job.text ?? readCorefileText(job.file);
      const res = parseCorefile(text, job.file, { isDirective: (n) => this.registry.has(n) });
      return { src: { file: job.file, text }, blocks: res.blocks, files: res.files };
    }
    const data: ParseJob = { file: job.file, text: job.text, directives: this.registry.ordered.map((d) => d.name), defaultPort: this.defaultPort };
    const reply = await (this.parseThread ??= new ParseThread()).parse(data, job.file);
    if (reply.ok) return { src: { file: job.file, text: reply.text }, blocks: reply.blocks, files: reply.files };
    if ('errors' in reply) throw new ConfigErrors(reply.errors.map((x) => new CorefileError(x.file, x.line, x.detail)));
    throw new Error(reply.message);
  }

  private parseThread: ParseThread | undefined;

  private async apply(src: CorefileSource, pre?: ParsedConfig): Promise<void> {
    const parsed = pre ?? parseConfig(src, this.registry, this.defaultPort);
    const gen = new Generation(parsed, path.dirname(path.resolve(src.file)));
    if (this.gen === undefined) this.starting = gen;
    try {
      await gen.setup(this, this.log, this.metrics, this.opts.debug ?? false);
      await gen.start();
    } catch (e) {
      if (this.starting === gen) this.starting = undefined;
      await gen.stop(this.log);
      throw e;
    }
    // Bind what is new; keep what both generations use.
    const wanted = gen.listeners();
    // A kept DoT/DoH/gRPC listener cannot switch between TLS and the clear: that takes a restart.
    for (const [key, w] of wanted) {
      const live = w.port === 0 ? undefined : this.listenersByKey.get(key);
      const s = live?.streams[0];
      if (s !== undefined && s.secure !== (w.tls !== undefined)) {
        if (this.starting === gen) this.starting = undefined;
        await gen.stop(this.log);
        throw new TypednsError('TDNS_ERR_LISTEN', `${w.label}: turning TLS ${s.secure ? 'off' : 'on'} needs a restart, not a reload`);
      }
    }
    const opened: LiveListener[] = [];
    try {
      for (const [key, w] of wanted) {
        if (this.listenersByKey.has(key) && w.port !== 0) continue;
        opened.push(await this.bind(key, w));
      }
    } catch (e) {
      for (const l of opened) await this.closeListener(l, 0);
      if (this.starting === gen) this.starting = undefined;
      await gen.stop(this.log);
      throw e;
    }
    const liveFor = (key: string): LiveListener | undefined => opened.find((l) => l.key === key) ?? this.listenersByKey.get(key);
    const bound = gen.blocks.map((b) => {
      const out: BoundAddress[] = [];
      for (const host of b.listen.addresses.length > 0 ? b.listen.addresses : [ANY_HOST]) {
        for (const u of liveFor(listenerKey(b.scheme, host, b.port))?.udp ?? []) out.push({ ip: u.address.ip, port: u.address.port });
      }
      return out;
    });
    // Swap.
    for (const [key, w] of wanted) {
      const live = this.listenersByKey.get(key);
      if (live && !opened.includes(live)) {
        live.ctx.table = w.table;
        Object.assign(live.opts, withTimeouts(this.tcpOpts, w.timeouts));
        for (const t of live.tcp) t.retime();
        for (const s of live.streams) {
          if (s instanceof DohListener) s.update(w.tls, w.https ?? DEFAULT_HTTPS);
          else s.update(w.tls);
        }
      }
    }
    for (const l of opened) this.listenersByKey.set(l.key + (l.port === 0 ? `#${l.boundPort}` : ''), l);
    const old = this.gen;
    this.gen = gen;
    this.starting = undefined;
    this.source = src;
    this.files = parsed.files;
    // Close listeners the new generation does not use.
    for (const [key, l] of this.listenersByKey) {
      const base = key.split('#')[0]!;
      if (!wanted.has(base) || (l.port === 0 && !opened.includes(l))) {
        this.listenersByKey.delete(key);
        await this.closeListener(l, 0);
      }
    }
    if (old) await old.stop(this.log);
    for (const h of gen.listening) {
      try {
        await h.fn(bound[h.block] ?? []);
      } catch (e) {
        this.log.error(`listening hook: ${(e as Error).message}`);
      }
    }
  }

  /** Set when a plugin reported a fatal condition (see fatal()). */
  fatalMessage: string | undefined;

  /** A fatal condition: log it, then run the embedder's onFatal (the CLI exits 1), or stop serving. */
  fatal(msg: string): void {
    if (this.fatalMessage !== undefined) return;
    this.fatalMessage = msg;
    this.log.raw(`[FATAL] ${msg}`);
    if (this.opts.onFatal) this.opts.onFatal(msg);
    else void this.stop(0);
  }

  private async bind(key: string, w: WantedListener): Promise<LiveListener> {
    const { host, port, table } = w;
    const ctx: ServeContext = { table, log: this.log, panics: this.panics, inflight: 0 };
    const hosts = host === ANY_HOST ? await anyHosts() : [host];
    const opts = withTimeouts(this.tcpOpts, w.timeouts);
    const live: LiveListener = { key, host, port, ctx, udp: [], tcp: [], streams: [], scheme: w.scheme, boundPort: port, opts };
    try {
      let p = port;
      for (const h of hosts) {
        if (w.scheme !== 'dns') {
          const s =
            w.scheme === 'tls'
              ? new DotListener(h, p, ctx, opts, w.tls)
              : w.scheme === 'grpc'
                ? new GrpcListener(h, p, ctx, opts, w.tls)
                : new DohListener(h, p, ctx, opts, w.tls, w.https ?? DEFAULT_HTTPS, this.httpsResponses(), w.label);
          live.streams.push(s);
          p = await s.listen(p);
          continue;
        }
        // With port 0, UDP picks a port and TCP takes the same one (retrying if it is taken).
        for (let attempt = 0; ; attempt++) {
          // the native batch socket when it is built; under -workers each worker binds its own
          // socket with SO_REUSEPORT (node:dgram sockets are shared through the primary instead)
          const u = nativeUdp() !== undefined ? new NativeUdpListener(h, p, ctx, { reusePort: isWorker() }) : new UdpListener(h, p, ctx);
          const got = await u.listen();
          const t = new TcpListener(h, got, ctx, opts);
          try {
            await t.listen(got);
          } catch (e) {
            await u.close();
            if (p === 0 && attempt < 10) continue;
            throw e;
          }
          live.udp.push(u);
          live.tcp.push(t);
          p = got;
          break;
        }
      }
      live.boundPort = p;
    } catch (e) {
      await this.closeListener(live, 0);
      const err = e as NodeJS.ErrnoException;
      throw new TypednsError('TDNS_ERR_LISTEN', `listen ${host === ANY_HOST ? '' : host}:${port}: ${err.code ?? ''} ${err.message}`.trim(), { cause: e });
    }
    return live;
  }

  private async closeListener(l: LiveListener, grace: number): Promise<void> {
    await Promise.all([...l.udp.map((u) => u.close()), ...l.tcp.map((t) => t.close(grace)), ...l.streams.map((s) => s.close(grace))]);
  }

  /** The bound addresses, e.g. for tests using port 0. */
  addresses(): Array<{ host: string; port: number; scheme: Scheme; udp: string[]; tcp: string[] }> {
    return [...this.listenersByKey.values()].map((l) => ({
      host: l.host,
      port: l.boundPort,
      scheme: l.scheme,
      udp: l.udp.map((u) => `${u.address.ip}:${u.address.port}`),
      // the TCP side of a dns:// listener, or the DoT/DoH listener
      tcp: [...l.tcp, ...l.streams].map((t) => `${t.local.ip}:${t.local.port}`),
    }));
  }

  /** coredns_dns_https_responses_total{server,status}: DoH replies by HTTP status. */
  private httpsResponses(): Counter {
    return this.metrics.counter('coredns_dns_https_responses_total', 'Counter of DoH responses per server and http status code.', ['server', 'status']);
  }

  /** The port the first listener bound (tests). */
  get port(): number {
    return [...this.listenersByKey.values()][0]?.boundPort ?? 0;
  }

  /** Open TCP connections across listeners. */
  tcpConnections(): number {
    let n = 0;
    for (const l of this.listenersByKey.values()) for (const t of [...l.tcp, ...l.streams]) n += t.connections;
    return n;
  }

  /** Bytes held for open TCP connections (replies the clients have not read, queries not served). */
  tcpQueuedBytes(): number {
    let n = 0;
    for (const l of this.listenersByKey.values()) for (const t of l.tcp) n += t.queuedBytes;
    return n;
  }

  inflight(): number {
    let n = 0;
    for (const l of this.listenersByKey.values()) n += l.ctx.inflight;
    return n;
  }

  /** Lines CoreDNS prints at start: each zone and port, then the version. */
  banner(): string[] {
    const out: string[] = [];
    for (const b of this.gen?.blocks ?? []) {
      const hosts = b.listen.addresses.length ? b.listen.addresses : [''];
      const scheme = b.scheme === 'dns' ? '' : `${b.scheme}://`;
      for (const z of b.zones) for (const h of hosts) out.push(`${scheme}${z}:${b.port}${h ? ` on ${h}` : ''}`);
    }
    out.push(`typedns-${VERSION}`);
    out.push(`node/${process.versions.node}`);
    const why = nativeUdpError();
    out.push(why === '' ? 'udp: native recvmmsg/sendmmsg batches' : `udp: node:dgram (${why})`);
    return out;
  }

  /** Graceful stop: stop accepting, wait for in-flight queries (up to `grace` ms), stop plugins. */
  stop(grace = 5000): Promise<void> {
    this.stopping ??= this.doStop(grace);
    return this.stopping;
  }

  private stopping: Promise<void> | undefined;

  private async doStop(grace: number): Promise<void> {
    this.shuttingDown = true;
    this.parseThread?.close();
    const lameduck = this.gen?.lameduck ?? 0;
    if (lameduck > 0) {
      // Keep answering (ready says "Shutting down", so the Service stops sending new clients here).
      this.log.info(`Going into lameduck mode for ${lameduck / 1000}s`);
      await new Promise((r) => setTimeout(r, lameduck));
    }
    const deadline = Date.now() + grace;
    while (this.inflight() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const ls = [...this.listenersByKey.values()];
    this.listenersByKey.clear();
    await Promise.all(ls.map((l) => this.closeListener(l, 0)));
    await this.gen?.stop(this.log);
    this.gen = undefined;
    for (const v of this.sharedState.values()) {
      const c = (v as { close?: () => unknown } | null)?.close;
      if (typeof c === 'function') {
        try {
          await c.call(v);
        } catch {
          // best effort
        }
      }
    }
    this.sharedState.clear();
  }
}

/** The compiled parse worker (absent when running from the TypeScript sources). */
const PARSE_WORKER = new URL('./parse-worker.js', import.meta.url);
let parseWorkerFound: boolean | undefined;
const parseWorkerBuilt = (): boolean => (parseWorkerFound ??= PARSE_WORKER.protocol === 'file:' && existsSync(fileURLToPath(PARSE_WORKER)));
/** A reload's parse that takes longer than this fails (the running configuration stays). */
const PARSE_TIMEOUT_MS = 20_000;
/** The parse worker's heap: a 1 MiB Corefile is a few tens of MB of tokens. */
const PARSE_HEAP_MB = 512;

/**
 * The worker thread reloads parse on (parse-worker.ts). Started at the first reload and kept, idle
 * and unref'd, for the next ones: starting it loads every plugin module, a few hundred ms of CPU.
 * A parse that overruns PARSE_TIMEOUT_MS, or a thread that dies (out of heap), fails that reload
 * and the next one starts a new thread.
 */
class ParseThread {
  private worker: Worker | undefined;
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (r: ParseReply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();

  parse(job: ParseJob, file: string): Promise<ParseReply> {
    const w = (this.worker ??= this.start());
    const id = ++this.seq;
    return new Promise<ParseReply>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(w, `${file}: reading and parsing took longer than ${PARSE_TIMEOUT_MS / 1000} s, gave up`), PARSE_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      w.postMessage({ id, job });
    });
  }

  close(): void {
    if (this.worker) this.fail(this.worker, 'the server is stopping');
  }

  private start(): Worker {
    const w = new Worker(PARSE_WORKER, { env: SHARE_ENV, resourceLimits: { maxOldGenerationSizeMb: PARSE_HEAP_MB } });
    w.unref();
    w.on('message', (m: { id: number; reply: ParseReply }) => {
      const p = this.pending.get(m.id);
      if (p === undefined) return;
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      p.resolve(m.reply);
    });
    w.on('error', (e) => this.fail(w, `parsing failed: ${e.message}`));
    w.on('exit', (code) => this.fail(w, `the parsing thread exited (${code})`));
    return w;
  }

  /** Reject what `w` was asked, and stop it; the next parse starts a new thread. */
  private fail(w: Worker, msg: string): void {
    if (this.worker !== w) return;
    this.worker = undefined;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error(msg));
    }
    this.pending.clear();
    void w.terminate();
  }
}

let anyCache: string[] | undefined;
/** All interfaces: "::" when the host has IPv6 (dual-stack sockets), else "0.0.0.0". */
async function anyHosts(): Promise<string[]> {
  if (anyCache) return anyCache;
  const ok = await new Promise<boolean>((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ host: '::', port: 0 }, () => s.close(() => resolve(true)));
  });
  anyCache = ok ? ['::'] : ['0.0.0.0'];
  return anyCache;
}
