// A fake Kubernetes API server for tests and benchmarks: real HTTPS (a CA and certificates made
// with the openssl CLI at start), bearer-token or client-certificate authentication, and the
// list/watch protocol as the real API serves it: paged lists (`limit` + `continue`),
// `resourceVersion` on lists and objects, label and field selectors, `watch=true` streams of
// JSON lines starting after a resourceVersion, bookmarks, and 410 Gone once history was compacted.
// Tests drive the cluster with create/update/delete and inject faults (dropped watches, refused
// connections, 500s, RBAC refusals). It is infrastructure, not a mock of any client: anything that
// speaks the Kubernetes API (client-node, kubectl) can talk to it.
//
// Checked against a real kube-apiserver (v1.26, test/integration/kube-apiserver.test.ts): the same
// objects give the same DNS answers through both. What the real one does that this fake does
// differently, on purpose or not yet:
// - Bookmarks: the real API sends one shortly before a watch's timeoutSeconds runs out (about once
//   a minute), its object an empty object of the kind (`spec: {}`, `creationTimestamp: null`), its
//   resourceVersion that of the kind's watch cache; the fake sends them every `bookmarkMs` with the
//   global resourceVersion (tests want them often).
// - Created objects: the real API ignores a Pod's status on create (it is Pending until its
//   /status is written), deletes a Pod bound to a node only when its kubelet confirms (or with
//   gracePeriodSeconds=0), keeps a deleted Namespace Terminating until the namespace controller
//   empties it, validates everything (ClusterIPs in the service range, single-stack IPv4 there:
//   no dual-stack Services; ExternalName Services without ipFamilies) and fills in defaults
//   (managedFields, targetPort, …). The fake stores objects as given, at once.
// - Matched now: a Namespace gets the label kubernetes.io/metadata.name; uids are UUIDs and
//   timestamps have whole seconds; a restarted API server (refuseConnections(false)) has forgotten
//   the watch history, so a watch from before the outage gets 410 Gone, as from the real API's
//   rebuilt watch cache; refused kinds (forbid()) get the real RBAC's 403 Status.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';

export type FakeKind = 'services' | 'endpointslices' | 'pods' | 'namespaces';

/** A Kubernetes object as JSON (metadata.name required; metadata.namespace for namespaced kinds). */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    resourceVersion?: string;
    uid?: string;
    creationTimestamp?: string;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

interface KindInfo {
  readonly group: string; // '' for core
  readonly version: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

const KINDS: Record<FakeKind, KindInfo> = {
  services: { group: '', version: 'v1', kind: 'Service', namespaced: true },
  pods: { group: '', version: 'v1', kind: 'Pod', namespaced: true },
  namespaces: { group: '', version: 'v1', kind: 'Namespace', namespaced: false },
  endpointslices: { group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice', namespaced: true },
};

function apiVersionOf(info: KindInfo): string {
  return info.group === '' ? info.version : `${info.group}/${info.version}`;
}

interface HistoryEvent {
  readonly rv: number;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly old: KubeObject | undefined;
  readonly obj: KubeObject;
}

interface OpenWatch {
  readonly kind: FakeKind;
  readonly namespace: string | undefined;
  readonly match: (o: KubeObject) => boolean;
  readonly res: http.ServerResponse;
  readonly bookmarks: boolean;
  sentRv: number;
}

export interface FakeApiServerOptions {
  /** Serve HTTPS (default) or plain HTTP. */
  tls?: boolean;
  /** Bearer token accepted (default: a random one). Requests without it (or a client cert) get 401. */
  token?: string;
  /** Bookmark interval for watches that allow bookmarks, in ms (default 1000; 0 = never on a timer). */
  bookmarkMs?: number;
  /** Largest page a list returns even when `limit` asks for more (0 = no cap). */
  maxPage?: number;
  /**
   * Serve `resourceVersion=0` lists as an API server with its watch cache does (the default of a
   * real one; kube-apiserver 1.26 checked): the whole list in one response, `limit` ignored.
   * Without it, such lists are paged like any other (an API server with --watch-cache=false).
   */
  watchCache?: boolean;
}

export interface RequestRecord {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
  readonly watch: boolean;
  readonly kind: FakeKind | undefined;
  readonly status: number;
}

/** Status object the API returns for errors. */
function status(code: number, reason: string, message: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

// ---- selectors ---------------------------------------------------------------------------------

type Requirement =
  | { op: '='; key: string; value: string }
  | { op: '!='; key: string; value: string }
  | { op: 'in'; key: string; values: string[] }
  | { op: 'notin'; key: string; values: string[] }
  | { op: 'exists'; key: string }
  | { op: '!exists'; key: string };

/** Split at commas outside parentheses. */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const c of s) {
    if (c === '(') depth++;
    if (c === ')') depth--;
    if (c === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out.map((x) => x.trim()).filter((x) => x !== '');
}

/** Parse a label or field selector (`k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`). */
export function parseSelector(s: string): Requirement[] {
  const reqs: Requirement[] = [];
  for (const part of splitTop(s)) {
    let m: RegExpMatchArray | null;
    if ((m = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(part))) {
      const values = m[3]!.split(',').map((v) => v.trim());
      reqs.push({ op: m[2] as 'in' | 'notin', key: m[1]!, values });
    } else if ((m = /^([^!=\s]+)\s*!=\s*(.*)$/.exec(part))) {
      reqs.push({ op: '!=', key: m[1]!, value: m[2]!.trim() });
    } else if ((m = /^([^!=\s]+)\s*==?\s*(.*)$/.exec(part))) {
      reqs.push({ op: '=', key: m[1]!, value: m[2]!.trim() });
    } else if ((m = /^!\s*(\S+)$/.exec(part))) {
      reqs.push({ op: '!exists', key: m[1]! });
    } else if (/^\S+$/.test(part)) {
      reqs.push({ op: 'exists', key: part });
    } else {
      throw new Error(`unable to parse requirement: ${part}`);
    }
  }
  return reqs;
}

function matches(reqs: readonly Requirement[], get: (key: string) => string | undefined): boolean {
  for (const r of reqs) {
    const v = get(r.key);
    switch (r.op) {
      case '=':
        if (v !== r.value) return false;
        break;
      case '!=':
        if (v === r.value) return false;
        break;
      case 'in':
        if (v === undefined || !r.values.includes(v)) return false;
        break;
      case 'notin':
        if (v !== undefined && r.values.includes(v)) return false;
        break;
      case 'exists':
        if (v === undefined) return false;
        break;
      case '!exists':
        if (v !== undefined) return false;
        break;
    }
  }
  return true;
}

/** A field path like `metadata.name` or `status.phase`; missing fields read as ''. */
function fieldOf(o: KubeObject, path: string): string {
  let cur: unknown = o;
  for (const p of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return '';
    cur = (cur as Record<string, unknown>)[p];
  }
  if (cur === undefined || cur === null) return '';
  return typeof cur === 'string' ? cur : JSON.stringify(cur);
}

// ---- certificates ------------------------------------------------------------------------------

export interface TestPki {
  dir: string;
  caFile: string;
  caPem: string;
  serverCert: string;
  serverKey: string;
  clientCertFile: string;
  clientKeyFile: string;
}

/** A throw-away CA, a server certificate for 127.0.0.1/localhost and a client certificate. */
export function makePki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'typedns-fakeapi-'));
  const f = (n: string): string => join(dir, n);
  const ssl = (...args: string[]): void => {
    execFileSync('openssl', args, { stdio: 'pipe' });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=typedns-test-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  writeFileSync(f('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const who of ['server', 'client'] as const) {
    const subj = who === 'server' ? '/CN=127.0.0.1' : '/O=system:masters/CN=typedns';
    ssl('req', ...ec, '-keyout', f(`${who}.key`), '-out', f(`${who}.csr`), '-subj', subj);
    ssl('x509', '-req', '-in', f(`${who}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial',
      '-out', f(`${who}.crt`), '-days', '2', '-extfile', f(`${who}.ext`));
  }
  return {
    dir,
    caFile: f('ca.crt'),
    caPem: readFileSync(f('ca.crt'), 'utf8'),
    serverCert: readFileSync(f('server.crt'), 'utf8'),
    serverKey: readFileSync(f('server.key'), 'utf8'),
    clientCertFile: f('client.crt'),
    clientKeyFile: f('client.key'),
  };
}

// ---- the server --------------------------------------------------------------------------------

export class FakeApiServer {
  /** Base URL, e.g. https://127.0.0.1:34567 */
  url = '';
  readonly token: string;
  readonly tls: boolean;
  /** Every request served, in order (for assertions: how many lists, how many watches). */
  readonly requests: RequestRecord[] = [];

  private pki: TestPki | undefined;
  private server: http.Server | https.Server;
  private port = 0;
  private rv = 1;
  private compactedRv = 0;
  private readonly objects = new Map<FakeKind, Map<string, KubeObject>>();
  /** Each kind's keys in list order (etcd's key order), made when a list needs them after a create or delete. */
  private readonly sortedKeys = new Map<FakeKind, string[]>();
  private readonly history = new Map<FakeKind, HistoryEvent[]>();
  private readonly watches = new Set<OpenWatch>();
  private readonly sockets = new Set<Socket>();
  private refusing = false;
  private fail500 = false;
  /**
   * Milliseconds a list waits before it is served (a slow first sync of a big cluster): a number
   * for every list, or a function of the kind and of how many lists of it came before.
   */
  listDelayMs: number | ((kind: FakeKind, before: number) => number) = 0;
  private readonly listsSeen = new Map<FakeKind, number>();
  /**
   * Called for each list page about to be sent (`continued`: not the first page of its list;
   * `last`: no page follows). 'cut' sends the first half of the body and drops the connection;
   * a promise sends the first half, then the rest once it settles (a page still on the wire).
   */
  onListPage: ((kind: FakeKind, page: { continued: boolean; last: boolean }) => 'cut' | Promise<void> | undefined) | undefined;
  private bookmarkTimer: NodeJS.Timeout | undefined;
  private readonly maxPage: number;
  private readonly watchCache: boolean;
  private readonly forbidden = new Set<FakeKind>();

  private constructor(opts: FakeApiServerOptions) {
    this.tls = opts.tls !== false;
    this.token = opts.token ?? `tok-${Math.random().toString(36).slice(2)}`;
    this.maxPage = opts.maxPage ?? 0;
    this.watchCache = opts.watchCache === true;
    for (const k of Object.keys(KINDS) as FakeKind[]) {
      this.objects.set(k, new Map());
      this.history.set(k, []);
    }
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => this.handle(req, res);
    if (this.tls) {
      this.pki = makePki();
      this.server = https.createServer(
        {
          key: this.pki.serverKey,
          cert: this.pki.serverCert,
          ca: this.pki.caPem,
          requestCert: true,
          rejectUnauthorized: false, // a client certificate is one way to authenticate, not required
        },
        handler,
      );
    } else {
      this.server = http.createServer(handler);
    }
    this.server.on('connection', (s: Socket) => {
      if (this.refusing) {
        s.destroy();
        return;
      }
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    // TLS servers report the raw socket on 'connection' and the TLS one on 'secureConnection'.
    const bm = opts.bookmarkMs ?? 1000;
    if (bm > 0) {
      this.bookmarkTimer = setInterval(() => this.bookmark(), bm);
      this.bookmarkTimer.unref();
    }
  }

  static async start(opts: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const s = new FakeApiServer(opts);
    await s.listen(0);
    return s;
  }

  get caFile(): string {
    if (!this.pki) throw new Error('plain-HTTP fake API server has no CA');
    return this.pki.caFile;
  }
  get caPem(): string {
    if (!this.pki) throw new Error('plain-HTTP fake API server has no CA');
    return this.pki.caPem;
  }
  /** A client certificate (signed by the CA) that the server accepts instead of the token. */
  get clientCertFile(): string {
    if (!this.pki) throw new Error('plain-HTTP fake API server has no client certificate');
    return this.pki.clientCertFile;
  }
  get clientKeyFile(): string {
    if (!this.pki) throw new Error('plain-HTTP fake API server has no client certificate');
    return this.pki.clientKeyFile;
  }
  /** The current (latest) resourceVersion. */
  get resourceVersion(): string {
    return String(this.rv);
  }
  /** Number of watch streams currently open. */
  get openWatches(): number {
    return this.watches.size;
  }
  /** Count of served requests matching a kind and list/watch. */
  count(kind: FakeKind, what: 'list' | 'watch'): number {
    return this.requests.filter((r) => r.kind === kind && r.watch === (what === 'watch') && r.status === 200).length;
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onErr = (e: Error): void => reject(e);
      this.server.once('error', onErr);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', onErr);
        const a = this.server.address();
        if (a === null || typeof a === 'string') throw new Error('no address');
        this.port = a.port;
        this.url = `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
        resolve();
      });
    });
  }

  // ---- cluster changes ---------------------------------------------------------------------------

  private key(kind: FakeKind, o: KubeObject): string {
    const ns = KINDS[kind].namespaced ? (o.metadata.namespace ?? 'default') : '';
    return ns === '' ? o.metadata.name : `${ns}/${o.metadata.name}`;
  }

  private stamp(kind: FakeKind, o: KubeObject, old: KubeObject | undefined): KubeObject {
    const info = KINDS[kind];
    const copy = structuredClone(o);
    copy.apiVersion = apiVersionOf(info);
    copy.kind = info.kind;
    if (info.namespaced) copy.metadata.namespace ??= 'default';
    else delete copy.metadata.namespace;
    // The API server labels every Namespace with its name (selectable by namespace_labels).
    if (kind === 'namespaces') copy.metadata.labels = { ...copy.metadata.labels, 'kubernetes.io/metadata.name': copy.metadata.name };
    copy.metadata.resourceVersion = String(this.rv);
    copy.metadata.uid = old?.metadata.uid ?? randomUUID();
    copy.metadata.creationTimestamp = old?.metadata.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    return copy;
  }

  private record(kind: FakeKind, type: HistoryEvent['type'], old: KubeObject | undefined, obj: KubeObject): void {
    const ev: HistoryEvent = { rv: this.rv, type, old, obj };
    this.history.get(kind)!.push(ev);
    for (const w of this.watches) if (w.kind === kind) this.send(w, ev);
  }

  /** Create an object (409-like error if it exists). Returns the stored copy. */
  create(kind: FakeKind, obj: KubeObject): KubeObject {
    const m = this.objects.get(kind)!;
    const k = this.key(kind, obj);
    if (m.has(k)) throw new Error(`${kind} ${k} already exists`);
    this.sortedKeys.delete(kind);
    this.rv++;
    const stored = this.stamp(kind, obj, undefined);
    m.set(k, stored);
    this.record(kind, 'ADDED', undefined, stored);
    return stored;
  }

  /** Replace an existing object. */
  update(kind: FakeKind, obj: KubeObject): KubeObject {
    const m = this.objects.get(kind)!;
    const k = this.key(kind, obj);
    const old = m.get(k);
    if (!old) throw new Error(`${kind} ${k} not found`);
    this.rv++;
    const stored = this.stamp(kind, obj, old);
    m.set(k, stored);
    this.record(kind, 'MODIFIED', old, stored);
    return stored;
  }

  /** Delete an object (by metadata.name/namespace). */
  delete(kind: FakeKind, obj: Pick<KubeObject, 'metadata'>): void {
    const m = this.objects.get(kind)!;
    const k = this.key(kind, obj as KubeObject);
    const old = m.get(k);
    if (!old) throw new Error(`${kind} ${k} not found`);
    m.delete(k);
    this.sortedKeys.delete(kind);
    this.rv++;
    const gone = structuredClone(old);
    gone.metadata.resourceVersion = String(this.rv);
    this.record(kind, 'DELETED', old, gone);
  }

  /** Load many objects at once without keeping per-object history (a fixture's initial state). */
  load(kind: FakeKind, objs: Iterable<KubeObject>): void {
    const m = this.objects.get(kind)!;
    this.sortedKeys.delete(kind);
    this.rv++;
    for (const o of objs) m.set(this.key(kind, o), this.stamp(kind, o, undefined));
    // Nothing before this rv can be replayed any more.
    this.compactedRv = Math.max(this.compactedRv, this.rv);
  }

  get(kind: FakeKind, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.objects.get(kind)!.get(namespace === undefined || namespace === '' ? name : `${namespace}/${name}`);
  }

  /**
   * Compact the history as etcd does: a write bumps the resourceVersion and everything before it is
   * forgotten, so watches (and list continuations) from an older resourceVersion get 410 Gone.
   * Open watches keep streaming (as on a real server); drop them to force a resume.
   */
  compact(): void {
    this.rv++;
    this.compactedRv = this.rv;
    for (const h of this.history.values()) h.length = 0;
  }

  // ---- faults ------------------------------------------------------------------------------------

  /** End every open watch stream (the connection is cut, as when an API server restarts). */
  dropWatches(): void {
    for (const w of this.watches) {
      this.watches.delete(w);
      w.res.socket?.destroy();
    }
  }

  /** End every open watch the way the API does when `timeoutSeconds` expires: a clean end of stream. */
  endWatches(): void {
    for (const w of this.watches) {
      this.watches.delete(w);
      w.res.end();
    }
  }

  /**
   * Stop listening and cut every connection (on), or listen again on the same port (off). Coming
   * back is a restarted API server: its watch cache starts at the current resourceVersion, so a
   * watch resuming from before gets 410 Gone and lists again (`keepHistory` for a server that
   * merely was unreachable).
   */
  async refuseConnections(on: boolean, o: { keepHistory?: boolean } = {}): Promise<void> {
    if (on === this.refusing) return;
    this.refusing = on;
    if (on) {
      const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      this.watches.clear();
      for (const s of this.sockets) s.destroy();
      this.sockets.clear();
      await closed;
    } else {
      // (A real API server also writes at start: the resourceVersion moves on.)
      if (!o.keepHistory) this.compact();
      await this.listen(this.port);
    }
  }

  /**
   * Refuse lists and watches of these kinds with 403 Forbidden, as RBAC does for a token without
   * list/watch on them (forbid() with no kinds allows everything again).
   */
  forbid(...kinds: FakeKind[]): void {
    this.forbidden.clear();
    for (const k of kinds) this.forbidden.add(k);
    for (const w of this.watches) {
      if (!this.forbidden.has(w.kind)) continue;
      this.watches.delete(w);
      w.res.socket?.destroy();
    }
  }

  /** Answer every request with 500 Internal Server Error (on) or serve normally again (off). */
  failWith500(on: boolean): void {
    this.fail500 = on;
    if (on) this.dropWatches();
  }

  /** Send a BOOKMARK with the current resourceVersion to every watch that allows bookmarks. */
  bookmark(): void {
    for (const w of this.watches) {
      if (!w.bookmarks) continue;
      const info = KINDS[w.kind];
      const obj = { kind: info.kind, apiVersion: apiVersionOf(info), metadata: { resourceVersion: String(this.rv) } };
      w.sentRv = this.rv;
      w.res.write(JSON.stringify({ type: 'BOOKMARK', object: obj }) + '\n');
    }
  }

  async close(): Promise<void> {
    if (this.bookmarkTimer) clearInterval(this.bookmarkTimer);
    for (const w of this.watches) w.res.socket?.destroy();
    this.watches.clear();
    for (const s of this.sockets) s.destroy();
    if (!this.refusing) await new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (this.pki) rmSync(this.pki.dir, { recursive: true, force: true });
  }

  // ---- HTTP --------------------------------------------------------------------------------------

  private authorized(req: http.IncomingMessage): boolean {
    if (req.headers.authorization === `Bearer ${this.token}`) return true;
    const sock = req.socket as TLSSocket;
    return this.tls && sock.authorized === true;
  }

  private json(res: http.ServerResponse, code: number, body: unknown, rec: Omit<RequestRecord, 'status'>): void {
    this.requests.push({ ...rec, status: code });
    // Encoded once (Buffer.byteLength and then end(string) encoded a list page twice).
    const b = Buffer.from(JSON.stringify(body));
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': b.length });
    res.end(b);
  }

  /** Route: /api/v1[/namespaces/{ns}]/{kind} or /apis/discovery.k8s.io/v1[/namespaces/{ns}]/endpointslices. */
  private route(path: string): { kind: FakeKind; namespace: string | undefined } | undefined {
    let m = /^\/api\/v1\/(?:namespaces\/([^/]+)\/)?(services|pods)$/.exec(path);
    if (m) return { kind: m[2] as FakeKind, namespace: m[1] };
    if (path === '/api/v1/namespaces') return { kind: 'namespaces', namespace: undefined };
    m = /^\/apis\/discovery\.k8s\.io\/v1\/(?:namespaces\/([^/]+)\/)?endpointslices$/.exec(path);
    if (m) return { kind: 'endpointslices', namespace: m[1] };
    return undefined;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const u = new URL(req.url ?? '/', 'http://x');
    const query = Object.fromEntries(u.searchParams);
    const route = this.route(u.pathname);
    const watch = query['watch'] === 'true' || query['watch'] === '1';
    const rec = { method: req.method ?? 'GET', path: u.pathname, query, watch, kind: route?.kind };
    if (this.fail500) {
      this.json(res, 500, status(500, 'InternalError', 'fake API server told to fail'), rec);
      return;
    }
    if (!this.authorized(req)) {
      this.json(res, 401, status(401, 'Unauthorized', 'Unauthorized'), rec);
      return;
    }
    if (req.method !== 'GET') {
      this.json(res, 405, status(405, 'MethodNotAllowed', 'only GET is served'), rec);
      return;
    }
    if (!route) {
      this.json(res, 404, status(404, 'NotFound', `the server could not find the requested resource (${u.pathname})`), rec);
      return;
    }
    if (this.forbidden.has(route.kind)) {
      // RBAC's answer (the message names the resource, with its group when not core).
      const info = KINDS[route.kind];
      const resource = info.group === '' ? route.kind : `${route.kind}.${info.group}`;
      const scope = route.namespace === undefined ? 'at the cluster scope' : `in the namespace "${route.namespace}"`;
      const msg = `${resource} is forbidden: User "typedns-test" cannot ${watch ? 'watch' : 'list'} resource "${route.kind}" in API group "${info.group}" ${scope}`;
      const body = status(403, 'Forbidden', msg);
      body['details'] = info.group === '' ? { kind: route.kind } : { group: info.group, kind: route.kind };
      this.json(res, 403, body, rec);
      return;
    }
    let match: (o: KubeObject) => boolean;
    try {
      const labels = parseSelector(query['labelSelector'] ?? '');
      const fields = parseSelector(query['fieldSelector'] ?? '');
      const ns = route.namespace;
      match = (o) =>
        (ns === undefined || o.metadata.namespace === ns) &&
        matches(labels, (k) => o.metadata.labels?.[k]) &&
        matches(fields, (k) => fieldOf(o, k));
    } catch (e) {
      this.json(res, 400, status(400, 'BadRequest', (e as Error).message), rec);
      return;
    }
    if (watch) this.serveWatch(route.kind, route.namespace, match, query, req, res, rec);
    else {
      const before = this.listsSeen.get(route.kind) ?? 0;
      this.listsSeen.set(route.kind, before + 1);
      const delay = typeof this.listDelayMs === 'number' ? this.listDelayMs : this.listDelayMs(route.kind, before);
      if (delay > 0) setTimeout(() => this.serveList(route.kind, match, query, res, rec), delay);
      else this.serveList(route.kind, match, query, res, rec);
    }
  }

  private serveList(
    kind: FakeKind,
    match: (o: KubeObject) => boolean,
    query: Record<string, string>,
    res: http.ServerResponse,
    rec: Omit<RequestRecord, 'status'>,
  ): void {
    const info = KINDS[kind];
    let limit = Number(query['limit'] ?? 0) || 0;
    if (this.maxPage > 0 && (limit === 0 || limit > this.maxPage)) limit = this.maxPage;
    if (this.watchCache && query['resourceVersion'] === '0' && !query['continue']) limit = 0;
    let listRv = this.rv;
    let after = '';
    const cont = query['continue'];
    if (cont) {
      let tok: { rv: number; start: string };
      try {
        tok = JSON.parse(Buffer.from(cont, 'base64url').toString('utf8')) as { rv: number; start: string };
      } catch {
        this.json(res, 400, status(400, 'BadRequest', 'continue key is not valid'), rec);
        return;
      }
      if (tok.rv < this.compactedRv) {
        this.json(res, 410, status(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.'), rec);
        return;
      }
      listRv = tok.rv;
      after = tok.start;
    }
    let keys = this.sortedKeys.get(kind);
    if (keys === undefined) {
      keys = [...this.objects.get(kind)!.keys()].sort();
      this.sortedKeys.set(kind, keys);
    }
    // The first key after the continue token's (binary search: pages of a large list were each
    // a walk over every key).
    let from = 0;
    if (after !== '') {
      let hi = keys.length;
      while (from < hi) {
        const mid = (from + hi) >> 1;
        if (keys[mid]! <= after) from = mid + 1;
        else hi = mid;
      }
    }
    const items: KubeObject[] = [];
    let next: string | undefined;
    let remaining = 0;
    for (let i = from; i < keys.length; i++) {
      const k = keys[i]!;
      const o = this.objects.get(kind)!.get(k)!;
      if (!match(o)) continue;
      if (limit > 0 && items.length >= limit) {
        remaining++;
        continue;
      }
      items.push(o);
      if (limit > 0 && items.length === limit) next = k;
    }
    const metadata: Record<string, unknown> = { resourceVersion: String(listRv) };
    if (remaining > 0 && next !== undefined) {
      metadata['continue'] = Buffer.from(JSON.stringify({ rv: listRv, start: next })).toString('base64url');
      metadata['remainingItemCount'] = remaining;
    }
    // Items in a list carry no kind/apiVersion, as the real API serves them.
    const bare = items.map((o) => {
      const { kind: _k, apiVersion: _a, ...rest } = o;
      return rest;
    });
    const body = { kind: `${info.kind}List`, apiVersion: apiVersionOf(info), metadata, items: bare };
    const how = this.onListPage?.(kind, { continued: cont !== undefined && cont !== '', last: metadata['continue'] === undefined });
    if (how === undefined) {
      this.json(res, 200, body, rec);
      return;
    }
    this.requests.push({ ...rec, status: 200 });
    const text = Buffer.from(JSON.stringify(body));
    const half = text.length >> 1;
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': text.length });
    res.write(text.subarray(0, half));
    if (how === 'cut') {
      res.socket?.destroy();
      return;
    }
    const rest = (): void => void res.end(text.subarray(half));
    how.then(rest, rest);
  }

  private serveWatch(
    kind: FakeKind,
    namespace: string | undefined,
    match: (o: KubeObject) => boolean,
    query: Record<string, string>,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    rec: Omit<RequestRecord, 'status'>,
  ): void {
    const rvParam = query['resourceVersion'];
    // "" or "0": start at the current state (an ADDED for everything), as the API does.
    const from = rvParam === undefined || rvParam === '' || rvParam === '0' ? undefined : Number(rvParam);
    if (from !== undefined && (!Number.isFinite(from) || from < this.compactedRv)) {
      // The real API accepts the request and sends an ERROR event with a 410 Status, then ends.
      this.requests.push({ ...rec, status: 200 });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      const st = status(410, 'Expired', `too old resource version: ${rvParam} (${this.compactedRv})`);
      res.end(JSON.stringify({ type: 'ERROR', object: st }) + '\n');
      return;
    }
    this.requests.push({ ...rec, status: 200 });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    req.socket.setNoDelay(true);
    const w: OpenWatch = {
      kind,
      namespace,
      match,
      res,
      bookmarks: query['allowWatchBookmarks'] === 'true',
      sentRv: from ?? this.rv,
    };
    if (from === undefined) {
      for (const o of this.objects.get(kind)!.values()) {
        if (match(o)) res.write(JSON.stringify({ type: 'ADDED', object: o }) + '\n');
      }
    } else {
      for (const ev of this.history.get(kind)!) if (ev.rv > from) this.send(w, ev);
    }
    this.watches.add(w);
    const timeout = Number(query['timeoutSeconds'] ?? 0);
    let timer: NodeJS.Timeout | undefined;
    if (timeout > 0) {
      timer = setTimeout(() => {
        this.watches.delete(w);
        res.end();
      }, timeout * 1000);
      timer.unref();
    }
    res.on('close', () => {
      if (timer) clearTimeout(timer);
      this.watches.delete(w);
    });
  }

  /** Send one history event to a watch, translated by the watch's selector as the API does. */
  private send(w: OpenWatch, ev: HistoryEvent): void {
    const now = ev.type !== 'DELETED' && w.match(ev.obj);
    const before = ev.old !== undefined && w.match(ev.old);
    let type: string | undefined;
    if (ev.type === 'DELETED') type = before ? 'DELETED' : undefined;
    else if (now && before) type = 'MODIFIED';
    else if (now) type = 'ADDED';
    else if (before) type = 'DELETED';
    w.sentRv = Math.max(w.sentRv, ev.rv);
    if (type !== undefined) w.res.write(JSON.stringify({ type, object: ev.obj }) + '\n');
  }
}
