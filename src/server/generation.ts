// One config generation: the plugins of every block set up, their chains compiled, their
// lifecycle hooks, and the listeners the generation wants (server/server.ts binds them and swaps
// generations on reload).
import { CorefileError } from '../corefile/lexer.js';
import type { Cidr, Scheme } from '../corefile/keys.js';
import type { BoundAddress, ListenHttps, ListenSettings, ListenTimeouts, ListenTls, MaybePromise, Plugin, ProcessState, Request, SetupContext } from '../plugin/types.js';
import { compileChain } from '../plugin/chain.js';
import { pluginError } from '../plugin/errors.js';
import { newSlot } from '../request/request.js';
import type { TextLogger } from '../observe/log.js';
import type { MetricsRegistry } from '../observe/metrics.js';
import type { ParsedBlock, ParsedConfig } from '../config/compile.js';
import { explainQuery } from '../explain/explain.js';
import { RouteTable, type Block } from './route.js';
import { lookupThrough } from './lookup.js';

/** Marker for "all interfaces": resolved to :: (dual-stack) or 0.0.0.0 at bind time. */
export const ANY_HOST = '*';

export interface BlockRuntime extends Block {
  readonly listen: ListenSettings;
  /** dns (UDP and TCP), tls (DoT), https (DoH) or grpc: what the block's listeners speak. */
  readonly scheme: Scheme;
}

/** A listener's key: address and port, and the scheme for the encrypted ones. */
export function listenerKey(scheme: Scheme, host: string, port: number): string {
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
  /** Whether a block logs debug lines (the debug plugin, or the server's debug option): set by setup. */
  debugLog = false;
  private stopped = false;

  constructor(
    readonly parsed: ParsedConfig,
    readonly root: string,
  ) {}

  async setup(proc: ProcessState, log: TextLogger, metrics: MetricsRegistry, debug: boolean): Promise<void> {
    const debugOn = (pb: ParsedBlock): boolean => debug || pb.directives.some((d) => d.def.debugLog === true);
    this.debugLog = this.parsed.blocks.some(debugOn);
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
