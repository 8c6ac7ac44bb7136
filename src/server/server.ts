// The process that runs generations: the listeners, reload, lameduck, fatal, the banner and the
// state that outlives reloads.
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
import { parseCorefile, type ServerBlock } from '../corefile/parser.js';
import { CorefileError } from '../corefile/lexer.js';
import type { Scheme } from '../corefile/keys.js';
import type { BoundAddress, ListenHttps, ListenTimeouts, ProcessState } from '../plugin/types.js';
import type { PluginRegistry } from '../plugin/registry.js';
import { TypednsError } from '../plugin/errors.js';
import { createLogger, type Logger, type TextLogger } from '../observe/log.js';
import { MetricsRegistry, type Counter } from '../observe/metrics.js';
import { compileLoading, ConfigErrors, loadConfig, type CorefileSource, type ParsedConfig } from '../config/compile.js';
import { VERSION } from '../version.js';
import { ANY_HOST, Generation, listenerKey, type WantedListener } from './generation.js';
import { UdpListener } from './udp.js';
import { NativeUdpListener, nativeUdp, nativeUdpError } from './udp-native.js';
import { DEFAULT_TCP, TcpListener, type TcpOptions } from './tcp.js';
import type { ServeContext } from './serve.js';
import { DotListener } from './tls.js';
import { GrpcListener } from './grpc.js';
import { DEFAULT_HTTPS_MAX_CONNECTIONS, DohListener } from './https.js';

/** The process's TCP limits with a listener's Corefile timeouts (the timeouts plugin) over them. */
function withTimeouts(base: TcpOptions, t: ListenTimeouts | undefined): TcpOptions {
  if (t === undefined) return { ...base };
  return { ...base, ...(t.read !== undefined ? { readTimeout: t.read } : {}), ...(t.write !== undefined ? { writeTimeout: t.write } : {}), ...(t.idle !== undefined ? { idleTimeout: t.idle } : {}), ...(t.maxTcpQueries !== undefined ? { maxTcpQueries: t.maxTcpQueries } : {}) };
}

/** The https plugin's options when a block has none. */
const DEFAULT_HTTPS: ListenHttps = { maxConnections: DEFAULT_HTTPS_MAX_CONNECTIONS, trustedProxies: [] };

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
  /** Bind the native UDP sockets with SO_REUSEPORT (the CLI sets it in a -workers worker). */
  reusePort?: boolean;
  /** With reusePort: the number of processes in the socket group; above 1 each query name is steered to one of them. */
  steer?: number;
  /** Called after a plugin reported a fatal condition (default: stop the server). */
  onFatal?: (msg: string) => void;
  /**
   * Called once a configuration serves and every readiness entry is ready: after the start, and
   * after each reload (the CLI releases the pages of the start-up code then: trim.ts). `log` writes
   * debug lines when a block of the configuration has the debug plugin.
   */
  onSettled?: (log: Logger) => void;
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
    this.settle();
  }

  private settleTimer: NodeJS.Timeout | undefined;

  /** Run opts.onSettled once every readiness entry is ready (checked every 500 ms until then). */
  private settle(): void {
    const fn = this.opts.onSettled;
    if (fn === undefined || this.settleTimer !== undefined) return;
    const check = (): void => {
      const gen = this.gen;
      if (gen === undefined || !this.readiness.every((r) => r.ready())) return;
      clearInterval(this.settleTimer);
      this.settleTimer = undefined;
      fn(this.log.withDebug(gen.debugLog));
    };
    this.settleTimer = setInterval(check, 500).unref();
    check();
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
        await this.apply(pre.src, await compileLoading(pre.blocks, pre.files, this.registry, this.defaultPort));
        this.log.info(`Reloading complete (${reason})`);
        this.settle();
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
    const data: ParseJob = { file: job.file, text: job.text, directives: [...this.registry.names], defaultPort: this.defaultPort };
    const reply = await (this.parseThread ??= new ParseThread()).parse(data, job.file);
    if (reply.ok) return { src: { file: job.file, text: reply.text }, blocks: reply.blocks, files: reply.files };
    if ('errors' in reply) throw new ConfigErrors(reply.errors.map((x) => new CorefileError(x.file, x.line, x.detail)));
    throw new Error(reply.message);
  }

  private parseThread: ParseThread | undefined;

  private async apply(src: CorefileSource, pre?: ParsedConfig): Promise<void> {
    const parsed = pre ?? (await loadConfig(src, this.registry, this.defaultPort));
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
          // socket with SO_REUSEPORT, steered by name (node:dgram sockets are shared through the primary instead)
          const u = nativeUdp() !== undefined ? new NativeUdpListener(h, p, ctx, { reusePort: this.opts.reusePort ?? false, steer: this.opts.steer ?? 1 }) : new UdpListener(h, p, ctx);
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

  /** The listeners that serve DNS over TCP themselves: TCP and DoT. */
  private *dnsStreams(): Generator<TcpListener | DotListener> {
    for (const l of this.listenersByKey.values()) {
      yield* l.tcp;
      for (const s of l.streams) if (s instanceof DotListener) yield s;
    }
  }

  /** The DoH listeners. */
  private *dohStreams(): Generator<DohListener> {
    for (const l of this.listenersByKey.values()) for (const s of l.streams) if (s instanceof DohListener) yield s;
  }

  /** Bytes held for open TCP and DoT connections (replies the clients have not read, queries not served). */
  tcpQueuedBytes(): number {
    let n = 0;
    for (const t of this.dnsStreams()) n += t.queuedBytes;
    return n;
  }

  /** Bytes of DoH replies written and not yet handed to the kernel, across DoH listeners. */
  dohQueuedBytes(): number {
    let n = 0;
    for (const s of this.dohStreams()) n += s.queuedBytes;
    return n;
  }

  /** Bytes of DoH request bodies read and not yet served (bodies still arriving, queries waiting), across DoH listeners. */
  dohRequestBytes(): number {
    let n = 0;
    for (const s of this.dohStreams()) n += s.requestBytes;
    return n;
  }

  /** TCP and DoT connections closed for replies they did not read (over the byte cap or the write timeout). */
  tcpOverflows(): number {
    let n = 0;
    for (const t of this.dnsStreams()) n += t.overflows;
    return n;
  }

  /** DoH connections closed for replies they did not read (over the cap on waiting requests or the write timeout). */
  dohOverflows(): number {
    let n = 0;
    for (const s of this.dohStreams()) n += s.overflows;
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
    clearInterval(this.settleTimer);
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
