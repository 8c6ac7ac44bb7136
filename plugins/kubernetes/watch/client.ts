// The Kubernetes API source: list + watch of Services, EndpointSlices, Namespaces and (with
// `pods verified`) Pods, feeding slim records to the store as they arrive. It keeps no copy of the
// API's objects (client-node's informer caches would hold every full object: the memory problem
// CoreDNS fixed with its object/ package); each object is cut to its Slim* record on arrival and
// dropped.
//
// Per kind, a reflector loop like client-go's:
//   list (paged, limit=500) → replaceAll → watch from the list's resourceVersion
//   → events update the sink, BOOKMARKs advance the resourceVersion
//   → the watch ends (server timeout, dropped connection): watch again from the last resourceVersion
//   → 410 Gone (history compacted): list again
//   → errors: exponential back-off (capped at 5 s); the sink keeps its last state meanwhile.
// An outage is logged once when it starts and once when it ends, not on every retry.
import http from 'node:http';
import https from 'node:https';
import type { Logger } from '../../../src/plugin/api.js';
import type {
  Kind,
  ObjectSink,
  ObjectSource,
  SlimEndpointSlice,
  SlimNamespace,
  SlimPod,
  SlimService,
} from './objects.js';
import type { KubernetesConfig } from '../setup.js';
import * as convert from './convert.js';
import { ListDecoder, type ListHandlers } from './list-decoder.js';
import { endpointCredentials, inClusterCredentials, staticTransport, type Transport } from './transport.js';

/** The part of the plugin's config the API source reads. */
export type ApiSourceConfig = Pick<
  KubernetesConfig,
  'endpoint' | 'tls' | 'kubeconfig' | 'namespaces' | 'labels' | 'namespaceLabels' | 'pods' | 'endpointPodNames' | 'noEndpoints'
>;

/** Cut API objects to slim records (watch/convert.ts); undefined = not served. */
export interface Converters {
  convertService(obj: unknown): SlimService | undefined;
  convertSlice(obj: unknown): SlimEndpointSlice | undefined;
  convertPod(obj: unknown): SlimPod | undefined;
  convertNamespace(obj: unknown): SlimNamespace | undefined;
}

export interface ApiSourceOptions {
  /** Converters (default: ./convert.js). */
  convert?: Converters;
  /** Page size of lists (default 500). */
  pageSize?: number;
  /** First retry delay in ms (default 250); doubles up to maxBackoffMs. */
  initialBackoffMs?: number;
  /** Back-off cap in ms (default 5000). */
  maxBackoffMs?: number;
  /**
   * Called when a request to the API has its response headers (or failed): for CoreDNS's
   * coredns_kubernetes_rest_client_* metrics. `code` is the HTTP status, or '<error>'.
   */
  onRequest?: (verb: string, code: string, host: string, seconds: number) => void;
  /**
   * The sink already holds data (taking over from another worker's source): the first list of
   * each kind replaces it too, instead of going in item by item.
   */
  replace?: boolean;
  /**
   * List at resourceVersion=0 first (default true), as client-go: served from the API server's
   * watch cache, whole. false: every list consistent and paged (tests of paging).
   */
  fromCache?: boolean;
}

/** Environment variable holding a bearer token for `endpoint` connections. */
export const TOKEN_ENV = 'TYPEDNS_K8S_TOKEN';

/**
 * The client configuration, as CoreDNS builds it: `kubeconfig FILE [CONTEXT]` (client-node's
 * KubeConfig, imported only then); else `endpoint URL` (with `tls CERT KEY CA` for client
 * certificate and CA, a bearer token from $TYPEDNS_K8S_TOKEN or the pod's service account token);
 * else the in-cluster service account.
 */
export async function buildTransport(cfg: ApiSourceConfig): Promise<Transport> {
  if (cfg.kubeconfig) {
    const { kubeconfigTransport } = await import('./kubeconfig.js');
    return kubeconfigTransport(cfg.kubeconfig.file, cfg.kubeconfig.context);
  }
  if (cfg.endpoint) return staticTransport(endpointCredentials(cfg.endpoint, cfg.tls, TOKEN_ENV));
  return staticTransport(inClusterCredentials());
}

class ApiError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

function errText(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { statusCode?: unknown; code?: unknown }).statusCode ?? (e as { code?: unknown }).code;
    return code !== undefined && !e.message.includes(String(code)) ? `${e.message} (${String(code)})` : e.message;
  }
  return String(e);
}

interface Meta {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

interface KindSpec {
  readonly kind: Kind;
  readonly path: string;
  readonly params: Readonly<Record<string, string>>;
}

const PATHS: Record<Kind, string> = {
  services: '/api/v1/services',
  endpointslices: '/apis/discovery.k8s.io/v1/endpointslices',
  pods: '/api/v1/pods',
  namespaces: '/api/v1/namespaces',
};

/** What to watch for a config (CoreDNS: controller.go). */
export function kindsFor(cfg: ApiSourceConfig): KindSpec[] {
  const sel = (s: string | undefined): Record<string, string> => (s ? { labelSelector: s } : {});
  const specs: KindSpec[] = [{ kind: 'services', path: PATHS.services, params: sel(cfg.labels) }];
  if (!cfg.noEndpoints) specs.push({ kind: 'endpointslices', path: PATHS.endpointslices, params: sel(cfg.labels) });
  if (cfg.pods === 'verified') {
    // Only pods that can still hold an IP, as CoreDNS selects them.
    specs.push({
      kind: 'pods',
      path: PATHS.pods,
      params: { ...sel(cfg.labels), fieldSelector: 'status.phase!=Succeeded,status.phase!=Failed,status.phase!=Unknown' },
    });
  }
  specs.push({ kind: 'namespaces', path: PATHS.namespaces, params: sel(cfg.namespaceLabels) });
  return specs;
}

/** Create the API source. Configuration errors (bad kubeconfig, no cluster) surface from start(). */
export function createApiSource(cfg: ApiSourceConfig, log: Logger, opts: ApiSourceOptions = {}): ObjectSource {
  return new ApiSource(cfg, log, opts);
}

class ApiSource implements ObjectSource {
  private sink: ObjectSink | undefined;
  private transport: Transport | undefined;
  private convert: Converters | undefined;
  private readonly reflectors: Reflector[] = [];
  private loops: Promise<void>[] = [];
  private synced = false;
  stopped = false;
  private commitPending = false;
  private readonly failing = new Map<Kind, string>();
  private outageSince = 0;
  readonly abort = new AbortController();
  private readonly sleepers = new Set<() => void>();
  private resolveStart: (() => void) | undefined;
  readonly nsFilter: ReadonlySet<string> | undefined;
  readonly pageSize: number;
  readonly initialBackoff: number;
  readonly maxBackoff: number;
  readonly fromCache: boolean;

  constructor(
    private readonly cfg: ApiSourceConfig,
    readonly log: Logger,
    private readonly opts: ApiSourceOptions,
  ) {
    this.nsFilter = cfg.namespaces.length > 0 ? new Set(cfg.namespaces) : undefined;
    this.pageSize = opts.pageSize ?? 500;
    this.initialBackoff = opts.initialBackoffMs ?? 250;
    this.maxBackoff = opts.maxBackoffMs ?? 5000;
    this.fromCache = opts.fromCache !== false;
  }

  async start(sink: ObjectSink): Promise<void> {
    if (this.sink) throw new Error('API source already started');
    this.sink = sink;
    this.transport = await buildTransport(this.cfg);
    this.convert = this.opts.convert ?? convert;
    const server = this.transport.server;
    this.log.info(`watching the API at ${server}`);
    const started = new Promise<void>((resolve) => (this.resolveStart = resolve));
    for (const spec of kindsFor(this.cfg)) {
      const r = new Reflector(this, spec, this.opts.replace === true);
      this.reflectors.push(r);
    }
    this.loops = this.reflectors.map((r) => r.run());
    return started;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    for (const r of this.reflectors) r.cancel();
    for (const wake of this.sleepers) wake();
    this.sleepers.clear();
    this.resolveStart?.();
    await Promise.allSettled(this.loops);
    this.transport?.close();
  }

  // ---- used by reflectors --------------------------------------------------------------------------

  get out(): ObjectSink {
    return this.sink!;
  }
  get conv(): Converters {
    return this.convert!;
  }

  /** Sleep unless stopped. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(t);
        this.sleepers.delete(wake);
        resolve();
      };
      const t = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }

  listed(): void {
    if (this.synced) {
      this.scheduleCommit();
      return;
    }
    if (this.reflectors.every((r) => r.hasListed)) {
      this.synced = true;
      this.out.commit();
      this.log.info('initial sync with the API complete');
      this.resolveStart?.();
    }
  }

  /** Coalesce the commits of a burst of events into one. */
  scheduleCommit(): void {
    if (!this.synced || this.commitPending) return;
    this.commitPending = true;
    setImmediate(() => {
      this.commitPending = false;
      if (!this.stopped) this.out.commit();
    });
  }

  failure(kind: Kind, e: unknown): void {
    const msg = errText(e);
    // Refused credentials or RBAC (401/403) are a configuration problem, not an outage: each kind
    // is named, once, with what the client needs.
    const denied = e instanceof ApiError && (e.code === 401 || e.code === 403);
    const hint = denied ? ` (the client needs list and watch on ${kind})` : '';
    if (this.failing.size === 0) {
      this.outageSince = Date.now();
      this.log.error(`failed to list/watch ${kind}: ${msg}${hint}; retrying, serving the last known state`);
    } else if (denied && !this.failing.has(kind)) {
      this.log.error(`failed to list/watch ${kind}: ${msg}${hint}; retrying`);
    }
    if (!this.failing.has(kind)) this.log.debug(`${kind}: ${msg}`);
    this.failing.set(kind, msg);
  }

  ok(kind: Kind): void {
    if (this.failing.delete(kind) && this.failing.size === 0) {
      const s = ((Date.now() - this.outageSince) / 1000).toFixed(1);
      this.log.info(`connection to the API restored after ${s}s`);
    }
  }

  /** GET with the client's credentials; resolves with the response (status and body stream). */
  async get(pathAndQuery: string, signal: AbortSignal, timeoutMs: number): Promise<http.IncomingMessage> {
    const t = this.transport!;
    const url = t.server + pathAndQuery;
    const { agent, headers } = await t.options();
    const mod = url.startsWith('https:') ? https : http;
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(new Error('aborted'));
        return;
      }
      const started = performance.now();
      const report = this.opts.onRequest;
      const host = report ? new URL(url).host : '';
      const req = mod.request(url, { method: 'GET', agent, headers: { ...headers, Accept: 'application/json' } }, (res) => {
        report?.('GET', String(res.statusCode ?? 0), host, (performance.now() - started) / 1000);
        resolve(res);
      });
      if (report) req.on('error', () => report('GET', '<error>', host, (performance.now() - started) / 1000));
      // Destroyed without an error: the response (if any) closes incomplete, which its reader
      // notices; a request still waiting for its response rejects on close.
      const onAbort = (): void => void req.destroy();
      signal.addEventListener('abort', onAbort, { once: true });
      req.on('close', () => {
        signal.removeEventListener('abort', onAbort);
        reject(new Error('aborted'));
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`request to ${url} timed out`)));
      req.on('error', reject);
      req.end();
    });
  }
}

function readAll(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('error', reject);
    res.on('aborted', () => reject(new Error('response aborted')));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('close', () => reject(new Error('response closed before its end')));
  });
}

/** Decode a list response as it arrives; resolves once it ended and every item was handed over. */
function decodeList(res: http.IncomingMessage, h: ListHandlers): Promise<void> {
  return new Promise((resolve, reject) => {
    const d = new ListDecoder(h);
    let failed = false; // or ended
    const fail = (e: unknown): void => {
      if (failed) return;
      failed = true;
      res.destroy();
      reject(e instanceof Error ? e : new Error(String(e)));
    };
    res.on('data', (c: Buffer) => {
      if (failed) return;
      try {
        d.write(c);
      } catch (e) {
        fail(e);
      }
    });
    res.on('end', () => {
      if (failed) return;
      try {
        d.end();
      } catch (e) {
        fail(e);
        return;
      }
      failed = true;
      resolve();
    });
    res.on('error', fail);
    res.on('aborted', () => fail(new Error('response aborted')));
    res.on('close', () => fail(new Error('response closed before its end')));
  });
}

function statusMessage(body: unknown, code: number): string {
  if (body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string') {
    return `${(body as { message: string }).message} (${code})`;
  }
  return `HTTP ${code}`;
}

/** The error of a reply that is not 200: the API's Status message when the body is one, else the code. */
function apiErrorOf(code: number, text: string, what: string): ApiError {
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // a non-JSON error page: keep the text
  }
  return new ApiError(code, `${what}: ${statusMessage(body, code)}`);
}

class Reflector {
  hasListed = false;
  /** A list of this kind was started before: the sink may hold some of it, so lists replace. */
  private listTried = false;
  /** The last resourceVersion is gone (410): list consistently, not from the API server's cache. */
  private expired = false;
  private rv: string | undefined;
  private controller: AbortController | undefined;
  private readonly kind: Kind;
  /** The last watch delivered at least one event: its failure is not a failure to connect. */
  private delivered = false;

  constructor(
    private readonly src: ApiSource,
    private readonly spec: KindSpec,
    replace: boolean,
  ) {
    this.kind = spec.kind;
    this.listTried = replace;
  }

  cancel(): void {
    this.controller?.abort();
  }

  async run(): Promise<void> {
    let delay = 0;
    while (!this.src.stopped) {
      try {
        if (this.rv === undefined) {
          await this.list();
          this.src.ok(this.kind);
        }
        const r = await this.watch();
        if (r === 'gone') {
          this.src.log.debug(`${this.kind}: resourceVersion too old, listing again`);
          this.rv = undefined;
          this.expired = true;
          delay = 0;
        } else if (r === 'quiet') {
          // Ended at once without a single event: the server is not well; don't spin.
          throw new Error('watch closed immediately');
        } else {
          delay = 0;
        }
      } catch (e) {
        if (this.src.stopped) break;
        if (e instanceof ApiError && e.code === 410) {
          this.rv = undefined;
          this.expired = true;
        }
        this.src.failure(this.kind, e);
        // A stream that worked and then broke (connection cut) starts the back-off over: only
        // consecutive failures to connect should grow it, or a flapping link ends up at the cap.
        if (this.delivered) delay = 0;
        this.delivered = false;
        delay = delay === 0 ? this.src.initialBackoff : Math.min(delay * 2, this.src.maxBackoff);
        await this.src.sleep(delay * (0.8 + Math.random() * 0.4));
      }
    }
  }

  private inScope(obj: Meta): boolean {
    const f = this.src.nsFilter;
    if (f === undefined || this.kind === 'namespaces') return true;
    return f.has(obj.metadata?.namespace ?? '');
  }

  private slim(obj: unknown): unknown {
    const c = this.src.conv;
    switch (this.kind) {
      case 'services':
        return c.convertService(obj);
      case 'endpointslices':
        return c.convertSlice(obj);
      case 'pods':
        return c.convertPod(obj);
      case 'namespaces':
        return c.convertNamespace(obj);
    }
  }

  private upsert(obj: Meta): void {
    if (!this.inScope(obj)) return;
    const s = this.slim(obj);
    if (s === undefined) {
      this.remove(obj);
      return;
    }
    this.put(s);
  }

  private remove(obj: Meta): void {
    if (!this.inScope(obj)) return;
    const ns = obj.metadata?.namespace ?? '';
    const name = obj.metadata?.name ?? '';
    const sink = this.src.out;
    switch (this.kind) {
      case 'services':
        sink.deleteService(ns, name);
        break;
      case 'endpointslices':
        sink.deleteSlice(ns, name);
        break;
      case 'pods':
        sink.deletePod(ns, name);
        break;
      case 'namespaces':
        sink.deleteNamespace(name);
        break;
    }
  }

  /**
   * A full, paged list. Each page is decoded while it arrives (watch/list-decoder.ts), and the next
   * page is asked for as soon as this one's `continue` token is in (the API server writes
   * `metadata` before `items`), so the server prepares it while this one is read. The first list
   * of a kind goes into the sink item by item as it arrives (the sink holds nothing of the kind
   * yet, and nothing is served as synced before every kind is listed); a later one (a relist after
   * 410 Gone, a retry of a failed list) is held until complete and replaces the kind at once.
   */
  private async list(): Promise<void> {
    let direct = !this.listTried;
    this.listTried = true;
    const src = this.src;
    const sink = src.out;
    const items: unknown[] = [];
    let count = 0;
    let rv = '';
    let cont: string | undefined;
    // As client-go's reflector: the first list at resourceVersion 0, which an API server with
    // its watch cache serves from the cache, whole (limit ignored), without reading etcd; after
    // 410 Gone a consistent list (no resourceVersion), paged. Pages after the first carry only
    // their continue token.
    const fromCache = !this.expired && src.fromCache;
    const url = (c: string | undefined): string => {
      const q = new URLSearchParams({ ...this.spec.params, limit: String(src.pageSize) });
      if (c !== undefined) q.set('continue', c);
      else if (fromCache) q.set('resourceVersion', '0');
      return `${this.spec.path}?${q.toString()}`;
    };
    // Ends a prefetched page's request when the list is left early (an error, stop()).
    const ac = new AbortController();
    const stop = (): void => ac.abort();
    src.abort.signal.addEventListener('abort', stop, { once: true });
    const fetch = (c: string | undefined): Promise<http.IncomingMessage> => {
      const p = src.get(url(c), ac.signal, 60_000);
      p.catch(() => undefined); // awaited below, unless the list is left first
      return p;
    };
    const take = (obj: unknown): void => {
      const it = obj as Meta;
      if (src.stopped || !this.inScope(it)) return;
      const s = this.slim(it);
      if (s === undefined) return;
      count++;
      if (direct) this.put(s);
      else items.push(sink.prepare ? sink.prepare(this.kind, s) : s);
    };
    try {
      let next: Promise<http.IncomingMessage> | undefined = fetch(undefined);
      while (next !== undefined) {
        const res: http.IncomingMessage = await next;
        next = undefined;
        if (src.stopped) {
          res.destroy();
          return;
        }
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          const text = await readAll(res);
          if (status === 410 && cont !== undefined) {
            // The continue token expired mid-list: start the list over, held until complete
            // (what was already put in the sink must go if it is not in the new list).
            direct = false;
            items.length = 0;
            count = 0;
            cont = undefined;
            next = fetch(undefined);
            continue;
          }
          throw apiErrorOf(status, text, `list ${this.kind}`);
        }
        cont = undefined;
        // (meta comes once per page: before the items when the server writes it first, else at the end)
        await decodeList(res, {
          meta: (m) => {
            rv = m.resourceVersion ?? rv;
            cont = m.continue || undefined;
            if (cont !== undefined && !src.stopped) next = fetch(cont);
          },
          item: take,
        });
        if (src.stopped) return;
      }
    } finally {
      src.abort.signal.removeEventListener('abort', stop);
      ac.abort();
    }
    if (!direct) sink.replaceAll(this.kind, items);
    this.rv = rv;
    this.expired = false;
    this.hasListed = true;
    src.log.debug(`${this.kind}: listed ${count} at resourceVersion ${rv}`);
    src.listed();
  }

  /** One slim record of a list, straight into the sink. */
  private put(s: unknown): void {
    const sink = this.src.out;
    switch (this.kind) {
      case 'services':
        sink.upsertService(s as SlimService);
        break;
      case 'endpointslices':
        sink.upsertSlice(s as SlimEndpointSlice);
        break;
      case 'pods':
        sink.upsertPod(s as SlimPod);
        break;
      case 'namespaces':
        sink.upsertNamespace(s as SlimNamespace);
        break;
    }
  }

  /**
   * Watch from this.rv until the stream ends. Resolves 'ended' (resume from this.rv), 'gone' (list
   * again) or 'quiet' (closed at once with nothing); rejects on errors.
   */
  private watch(): Promise<'ended' | 'gone' | 'quiet'> {
    const src = this.src;
    const timeoutSeconds = 300 + Math.floor(Math.random() * 300);
    const q = new URLSearchParams({
      ...this.spec.params,
      watch: 'true',
      allowWatchBookmarks: 'true',
      resourceVersion: this.rv ?? '',
      timeoutSeconds: String(timeoutSeconds),
    });
    const began = Date.now();
    let events = 0;
    let lastEvent = Date.now();
    let gone = false;
    let failure: Error | undefined;
    let finished = false;
    return new Promise((resolve, reject) => {
      // If the connection dies silently, nothing ends the stream: give up after the server's own
      // timeout plus a margin without any event (bookmarks count).
      const dog = setInterval(() => {
        if (Date.now() - lastEvent > (timeoutSeconds + 60) * 1000) {
          failure = new Error(`watch ${this.kind}: no data for ${timeoutSeconds + 60}s`);
          this.controller?.abort();
        }
      }, 15_000);
      dog.unref();
      const done = (err: unknown): void => {
        if (finished) return;
        finished = true;
        clearInterval(dog);
        this.controller = undefined;
        if (src.stopped) resolve('ended');
        else if (gone) resolve('gone');
        else if (failure) reject(failure);
        else if (err) {
          const code = (err as { statusCode?: number }).statusCode;
          reject(code === 410 ? new ApiError(410, 'watch: 410 Gone') : err);
        } else if (events === 0 && Date.now() - began < 1000) resolve('quiet');
        else resolve('ended');
      };
      const onEvent = (type: string, obj: unknown): void => {
        if (finished) return;
        events++;
        lastEvent = Date.now();
        const o = obj as Meta;
        switch (type) {
          case 'ADDED':
          case 'MODIFIED':
            this.upsert(o);
            break;
          case 'DELETED':
            this.remove(o);
            break;
          case 'BOOKMARK':
            break;
          case 'ERROR': {
            const code = (obj as { code?: number }).code ?? 0;
            if (code === 410) gone = true;
            else failure = new ApiError(code, `watch ${this.kind}: ${statusMessage(obj, code)}`);
            this.controller?.abort();
            return;
          }
          default:
            return;
        }
        this.delivered = true;
        const rv = o.metadata?.resourceVersion;
        if (rv) this.rv = rv;
        if (type !== 'BOOKMARK') src.scheduleCommit();
      };
      // The stream: one JSON event per line ({"type":…,"object":…}), applied as each line arrives.
      const controller = new AbortController();
      this.controller = controller;
      src.get(`${this.spec.path}?${q.toString()}`, controller.signal, (timeoutSeconds + 60) * 1000).then(
        (res) => {
          if (finished) {
            res.destroy();
            return;
          }
          const code = res.statusCode ?? 0;
          if (code !== 200) {
            readAll(res).then((text) => done(apiErrorOf(code, text, `watch ${this.kind}`)), done);
            return;
          }
          src.ok(this.kind); // connected: HTTP 200 and a stream
          if (src.stopped) controller.abort();
          res.setEncoding('utf8');
          let buf = '';
          res.on('data', (chunk: string) => {
            buf += chunk;
            let nl = buf.indexOf('\n');
            if (nl < 0) return;
            let start = 0;
            while (nl >= 0 && !finished) {
              const line = buf.slice(start, nl);
              start = nl + 1;
              if (line.trim() !== '') {
                let ev: { type?: unknown; object?: unknown };
                try {
                  ev = JSON.parse(line) as { type?: unknown; object?: unknown };
                } catch {
                  failure = new Error(`watch ${this.kind}: malformed event`);
                  controller.abort();
                  return;
                }
                onEvent(String(ev.type), ev.object);
              }
              nl = buf.indexOf('\n', start);
            }
            buf = buf.slice(start);
          });
          res.on('end', () => done(null));
          res.on('error', done);
          res.on('close', () => done(res.complete ? null : new Error(`watch ${this.kind}: connection closed`)));
        },
        (e: unknown) => done(e ?? new Error('watch failed')),
      );
    });
  }
}
