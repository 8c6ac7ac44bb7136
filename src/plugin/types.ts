// The plugin API. Re-exported as "typedns/plugin"; the built-in plugins use nothing else.
import type { Packet } from 'dns-packet';
import type { Dispenser } from '../corefile/dispenser.js';
import type { Logger } from '../observe/log.js';
import type { Metrics } from '../observe/metrics.js';
import type { ExplainQuery, ExplainResult } from '../explain/explain.js';
import type { OptRecord } from '../dns/opt.js';

/** A DNS message as dns-packet decodes and encodes it. */
export type Message = Packet;

/** 0 NOERROR · 1 FORMERR · 2 SERVFAIL · 3 NXDOMAIN · 4 NOTIMP · 5 REFUSED. */
export type Rcode = number;

/** Answer synchronously when the answer is in memory: no promise per hop. */
export type MaybePromise<T> = T | Promise<T>;

/** Bound once per chain position when the block is compiled; never undefined. */
export type Next = (req: Request, w: ResponseWriter) => MaybePromise<Rcode>;

export interface Client {
  readonly ip: string;
  readonly port: number;
  readonly family: 4 | 6;
}

/** One per query; fixed shape; the full message is decoded lazily, on first access of `msg`. */
export interface Request {
  /** Lower-cased fully qualified query name, with the trailing dot ("example.org."). */
  readonly name: string;
  /** The query name as the client spelled it (case preserved). */
  readonly qname: string;
  readonly qtype: number;
  readonly qclass: number;
  /** Query ID. */
  readonly id: number;
  /** The zone (server block key) this query was routed to. */
  readonly zone: string;
  readonly transport: 'udp' | 'tcp';
  readonly client: Client;
  /** Local address and port the query arrived on. */
  readonly local: { readonly ip: string; readonly port: number };
  /** EDNS0 present in the request. */
  readonly edns: boolean;
  /** EDNS0 DO bit. */
  readonly do: boolean;
  /** CD (checking disabled) header bit. */
  readonly cd: boolean;
  /** RD (recursion desired) header bit. */
  readonly rd: boolean;
  /** The request's header flags (the 16-bit flags word: QR, opcode, AA, TC, RD, RA, Z, AD, CD, rcode); test bits with `FLAG`. */
  readonly flags: number;
  /** The largest reply the client accepts: 512 without EDNS over UDP, the advertised size with it, 65535 over TCP. */
  readonly size: number;
  /** The request's UDP buffer size as advertised (0 without EDNS). */
  readonly bufsize: number;
  /** The request's wire bytes. Do not mutate. */
  readonly wire: Uint8Array;
  /** Byte offset just past the question section in `wire`. */
  readonly questionEnd: number;
  /** The full request, decoded on first access only, then memoised. Treat it as read-only. */
  readonly msg: Message;
  /** Time the query was received (performance.now() milliseconds). */
  readonly start: number;
  /**
   * The query's trace while it is being explained (`typedns explain`, the explain plugin), else
   * undefined. Add what your plugin decided with `req.trace?.note('…')`: nothing is evaluated
   * when the query is not traced (build the text inside the call, or behind `if (req.trace)`).
   */
  readonly trace: Trace | undefined;
  /** A copy of this request asking another question (rewrite, autopath). Never mutate `req`. It keeps the trace. */
  withQuestion(name: string, qtype: number, qclass?: number): Request;
  /**
   * A copy of this request with other header flags (the 16-bit flags word; its opcode and rcode
   * bits are kept from the request): what the plugins after it see and forward (header's query rules).
   */
  withFlags(flags: number): Request;
  /**
   * A copy whose OPT advertises `size` as its UDP payload size (a request without EDNS is returned
   * as it is). The reply to the client is then fitted to `size` as well, as CoreDNS's bufsize does.
   */
  withBufsize(size: number): Request;
  /**
   * A copy whose OPT record is `opt` (in place of its own, or added): the same question, with
   * `edns`, `bufsize` and `do` from the new OPT. What rewrite's edns0 rules hand to the plugins after it.
   */
  withOpt(opt: OptRecord): Request;
}

/** An explained query's trace, as plugins see it (src/plugin/trace.ts records the chain around the notes). */
export interface Trace {
  /**
   * One line of what the plugin being run decided: a rule that matched, a cache key, an upstream.
   * `plugin`: the plugin the note is about when another one is running — a writer wrapper (cache,
   * rewrite) sees the reply while the plugin below writes it; pass your `ctx.name`.
   */
  note(text: string, plugin?: string): void;
}

export interface ResponseWriter {
  /**
   * Send the reply. A Message is encoded, fitted to the client's size (TC set if it does not fit)
   * and given the request's ID and question. A Uint8Array is sent as wire bytes (a cache hit):
   * the ID must already be the request's.
   */
  write(res: Message | Uint8Array): void;
  /** True once a reply was written on this writer or one it wraps. */
  readonly written: boolean;
  /** Rcode of the reply written (extended rcode included), or -1 before a write. */
  readonly rcode: number;
  /** Size in bytes of the reply written, or 0. */
  readonly length: number;
  /** Header flags of the reply written (the 16-bit flags word), or 0. */
  readonly flags: number;
  /** Number of records in the answer section of the reply written, or 0. */
  readonly answers: number;
}

/** One instance per server block. */
export interface Plugin {
  /** Handle the query, or pass it on with `next(req, w)`. A plugin without serve is not in the chain. */
  serve?(req: Request, w: ResponseWriter, next: Next): MaybePromise<Rcode>;
  /** Polled by `ready`: true when the plugin can answer correctly. */
  ready?(): boolean;
  /**
   * Routing (CoreDNS's Viewer, with `view` on the definition): whether this block serves `req`.
   * Asked before the chain runs; when any filter of a block says false, the next block on the
   * same zone and port is tried, then the blocks of the parent zones, then REFUSED.
   */
  filter?(req: Request): boolean;
  /**
   * Publish this query's metadata labels with setMetadata (CoreDNS's metadata.Provider). The
   * *metadata* plugin calls it for every plugin of its block before the chain runs (and view
   * before its expressions are evaluated); values are functions, computed when read.
   */
  metadata?(req: Request): void;
  /** Called when this config generation is replaced (reload) or the server stops. */
  close?(): MaybePromise<void>;
}

/** Per-query private state for one plugin: a slot on the request object, not a new property. */
export interface Slot<T> {
  get(req: Request): T | undefined;
  set(req: Request, value: T): void;
}

/** Listen settings a plugin (bind) may give its server block before sockets are bound. */
export interface ListenSettings {
  /** Addresses to listen on; empty means all interfaces. */
  addresses: string[];
  /** Address filters to exclude (bind's `except`). */
  except: string[];
  /** The certificate of a tls://, https:// or grpc:// block (the tls plugin); without it they serve in the clear. */
  tls?: ListenTls;
  /** DNS-over-HTTPS options of an https:// block (the https plugin). */
  https?: ListenHttps;
  /** Connection timeouts of the block's TCP, DoT, DoH and gRPC listeners (the timeouts plugin). */
  timeouts?: ListenTimeouts;
}

/** Read, write and idle timeouts in ms, and the queries one TCP/DoT connection may ask (-1: no limit); an absent one keeps the listener's default. */
export interface ListenTimeouts {
  readonly read?: number;
  readonly write?: number;
  readonly idle?: number;
  readonly maxTcpQueries?: number;
}

/** Client-certificate policy, as Go's tls.ClientAuthType (CoreDNS's `client_auth`). */
export type ClientAuth = 'nocert' | 'request' | 'require' | 'verify_if_given' | 'require_and_verify';

export interface ListenTls {
  /** PEM certificate chain and private key. */
  readonly cert: string;
  readonly key: string;
  /** PEM CA bundle that verifies client certificates; absent: the system's CAs. */
  readonly ca?: string;
  readonly clientAuth: ClientAuth;
}

export interface ListenHttps {
  /** Open connections at most (0: no cap). CoreDNS's default: 200. */
  readonly maxConnections: number;
  /** Peers (CIDRs) whose X-Forwarded-For header names the client; empty: the header is ignored. */
  readonly trustedProxies: readonly string[];
}

/** State that outlives a config generation: kept across reloads for the life of the process. */
export interface ProcessState {
  /** Get a process-wide value by key, creating it on first use (e.g. one HTTP listener per address). */
  shared<T>(key: string, create: () => T): T;
  /** Every plugin of the current generation that implements ready(), by name. */
  readonly readiness: ReadonlyArray<{ readonly name: string; ready(): boolean }>;
  /** True while the process shuts down (lameduck). */
  readonly shuttingDown: boolean;
  /** Ask for a reload of the configuration (the reload plugin, SIGUSR1). */
  reload(reason: string): Promise<boolean>;
  /** The typedns version. */
  readonly version: string;
  /** Files of the running configuration: the Corefile and every file it imports (the reload plugin hashes them). */
  readonly files: readonly string[];
  /** A fatal condition (loop detected): log "[FATAL] msg" and end the process (the CLI exits 1; embedders choose). */
  fatal(msg: string): void;
  /**
   * True under `typedns explain`: the configuration is loaded to run one traced query in process
   * and is stopped right after. Bind no socket (health, ready, prometheus skip their listeners).
   */
  readonly explaining?: boolean;
}

/** A socket address the block listens on, once bound. */
export interface BoundAddress {
  readonly ip: string;
  readonly port: number;
}

export interface SetupContext {
  /** The directive's name. */
  readonly name: string;
  /** This block's zones (keys), normalised. */
  readonly zones: readonly string[];
  /** This block's keys as written ("dns://.:53"), with their ports. */
  /**
   * This block's keys as written ("dns://.:53"), their port, the label metrics use, the name of
   * the block's view ('' without one): the `view` label of CoreDNS's metrics, and the keys' scheme.
   */
  readonly server: { readonly keys: readonly string[]; readonly port: number; readonly label: string; readonly view: string; readonly scheme: 'dns' | 'tls' | 'https' | 'grpc' };
  /** "plugin/<name>: …"; debug() is a no-op unless the debug plugin is on. */
  readonly log: Logger;
  /** Families named coredns_<name>_*; they survive reload. */
  readonly metrics: Metrics;
  /** Per-query private state. */
  slot<T>(): Slot<T>;
  /** Run after every plugin of the generation is set up, before sockets are bound. */
  onStartup(fn: () => MaybePromise<void>): void;
  /** Run when the generation stops (reload or shutdown). */
  onShutdown(fn: () => MaybePromise<void>): void;
  /** Run once the generation's sockets are bound and it serves, with this block's bound UDP addresses (loop). */
  onListening(fn: (addrs: readonly BoundAddress[]) => MaybePromise<void>): void;
  /** On shutdown, keep serving for `ms` before closing the listeners (health's lameduck); the longest asked wins. */
  lameduck(ms: number): void;
  /** Another plugin in this block (as set up so far), by directive name. */
  plugin<P extends Plugin>(name: string): P | undefined;
  /** Every plugin of this block set up so far, in chain order (all of them from onStartup on). */
  plugins(): ReadonlyArray<{ readonly name: string; readonly plugin: Plugin }>;
  /** Names of the plugins in this block's chain, in order. */
  readonly chain: readonly string[];
  /** The block's listen settings (bind changes them). */
  readonly listen: ListenSettings;
  /** Process-wide state. */
  readonly process: ProcessState;
  /** Directory of the Corefile, for relative paths. */
  readonly root: string;
  /**
   * Ask the whole server — every block on the listener `req` came in on, routed by zone as a
   * query from the client would be — a question of its own, with `req`'s client, transport and
   * EDNS (CoreDNS's upstream.Lookup: file resolves an out-of-zone CNAME target this way). Resolves
   * the reply, one whose rcode is the one returned when nothing was written (REFUSED when no
   * block serves the name), or rejects when the lookups nest too deep (a CNAME loop across zones).
   */
  lookup(req: Request, name: string, qtype: number): Promise<Message>;
  /**
   * Explain a query on the running configuration (the explain plugin): routed on this block's
   * listener (or the listener of `q.port`) and run through the real chains with a trace, as
   * src/explain/explain.ts describes. Resolves the trace and the reply; nothing is sent to a client.
   */
  explain(q: ExplainQuery): Promise<ExplainResult>;
}

export interface PluginDefinition<C = unknown> {
  /** The Corefile directive. */
  readonly name: string;
  /** Semver range of typedns/plugin this plugin was written for, e.g. "^1". */
  readonly api: string;
  /** One stanza per block (CoreDNS's plugin.ErrOnce). */
  readonly once?: boolean;
  /**
   * A routing plugin's view name, read from its parsed config: a block with such a plugin may share
   * zone and port with other blocks, and its plugin's filter() picks the queries it serves.
   */
  readonly view?: (config: C) => string;
  /** Its presence in a block turns debug logging (ctx.log.debug) on for every plugin of that block (the debug plugin). */
  readonly debugLog?: boolean;
  /** External modules only; built-ins take their place from plugins/order.ts. */
  readonly position?: { readonly before: string } | { readonly after: string };
  /** Pure: the directive's tokens → a typed config. Throw d.err(…) on bad input. No I/O besides reading files named by the config. */
  parse(d: Dispenser, zones: readonly string[]): C;
  /** Side effects (timers, watches, sockets) live here. */
  setup(config: C, ctx: SetupContext): MaybePromise<Plugin>;
}

export const definePlugin = <C>(def: PluginDefinition<C>): PluginDefinition<C> => def;
