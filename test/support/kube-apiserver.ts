// A real kube-apiserver (with etcd) for integration tests, started by the shared scripts in
// `shared/k8s/` (a sibling of the repository checkout: `../shared/k8s` from the repository root,
// or $TYPEDNS_K8S_DIR): start.sh STATE, stop.sh STATE [api], restart-api.sh STATE. One instance
// per test file, on free loopback ports, with an empty etcd. `startKubeApiServer()` resolves to
// `{ skip: reason }` when the scripts, the binary or etcd are missing (start.sh exits 3 with one
// line on stderr), so a test file can skip with that reason.
//
// `KubeRest` drives the cluster over REST with the admin token (create, replace, delete, a Pod's
// /status, a ServiceAccount's token), as the tests' "kubectl".
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FakeKind, KubeObject } from './fake-apiserver.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Where the shared scripts live: $TYPEDNS_K8S_DIR, else `../shared/k8s` beside the checkout; for
 * a git worktree (`.git` is a file naming the main repository's git dir), also beside the main
 * checkout.
 */
export function sharedK8sDir(): string | undefined {
  const env = process.env['TYPEDNS_K8S_DIR'];
  if (env) return path.resolve(env);
  const candidates = [path.resolve(ROOT, '../shared/k8s')];
  try {
    const dotGit = readFileSync(path.join(ROOT, '.git'), 'utf8');
    const m = /^gitdir:\s*(.+)$/m.exec(dotGit);
    // <main>/.git/worktrees/<name> → <main>/../shared/k8s
    if (m) candidates.push(path.resolve(m[1]!.trim(), '../../../../shared/k8s'));
  } catch {
    // a plain checkout: .git is a directory
  }
  return candidates.find((c) => existsSync(path.join(c, 'start.sh')));
}

/** What start.sh writes to $STATE/env. */
export interface KubeEnv {
  server: string;
  caFile: string;
  adminToken: string;
  dnsToken: string;
  apiPort: number;
}

function run(file: string, args: string[], timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, env, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export class KubeApiServer {
  readonly rest: KubeRest;
  private stopped = false;

  private constructor(
    readonly dir: string,
    readonly state: string,
    readonly env: KubeEnv,
    readonly version: string,
  ) {
    this.rest = new KubeRest(env.server, readFileSync(env.caFile), env.adminToken);
    // If the test process ends without stop() (a crash, a killed worker), still stop both.
    process.once('exit', () => {
      if (this.stopped) return;
      try {
        execFileSync(path.join(dir, 'stop.sh'), [state], { stdio: 'ignore', timeout: 30_000 });
        rmSync(state, { recursive: true, force: true });
      } catch {
        // nothing more to do on the way out
      }
    });
  }

  /** The kubeconfig of the coredns user: a bearer token with the RBAC CoreDNS ships (list/watch). */
  get dnsKubeconfig(): string {
    return path.join(this.state, 'dns.kubeconfig');
  }
  get adminKubeconfig(): string {
    return path.join(this.state, 'admin.kubeconfig');
  }
  get caPem(): string {
    return readFileSync(this.env.caFile, 'utf8');
  }

  /**
   * Start etcd and kube-apiserver in a fresh state dir. `{ skip }` when they cannot run here
   * (start.sh's exit status 3, or no shared/k8s folder); any other failure throws.
   */
  static async start(timeoutMs = 120_000): Promise<KubeApiServer | { skip: string }> {
    const dir = sharedK8sDir();
    if (dir === undefined) return { skip: `no shared/k8s folder beside the checkout (set TYPEDNS_K8S_DIR)` };
    const state = mkdtempSync(path.join(tmpdir(), 'typedns-k8s-'));
    // The unpacked binary is cached across files and runs (start.sh replaces it atomically).
    const binDir = path.join(tmpdir(), 'typedns-k8s-bin');
    // start.sh picks free ports by probing them; another process (a parallel test file's server, an
    // ephemeral port) can take one before etcd or kube-apiserver binds it. That race alone is retried.
    let r = await run(path.join(dir, 'start.sh'), [state], timeoutMs, { ...process.env, K8S_BIN_DIR: binDir });
    for (let attempt = 1; attempt < 4 && r.code !== 0 && r.code !== 3 && /address already in use/.test(r.stderr); attempt++) {
      await run(path.join(dir, 'stop.sh'), [state], 30_000);
      r = await run(path.join(dir, 'start.sh'), [state], timeoutMs, { ...process.env, K8S_BIN_DIR: binDir });
    }
    if (r.code === 3) {
      rmSync(state, { recursive: true, force: true });
      return { skip: r.stderr.trim().split('\n')[0] ?? 'start.sh: exit 3' };
    }
    if (r.code !== 0) {
      await run(path.join(dir, 'stop.sh'), [state], 30_000);
      throw new Error(`start.sh failed (${r.code}): ${r.stderr.trim()}`);
    }
    const kv = Object.fromEntries(
      readFileSync(path.join(state, 'env'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    const env: KubeEnv = {
      server: kv['K8S_SERVER']!,
      caFile: kv['K8S_CA']!,
      adminToken: kv['K8S_ADMIN_TOKEN']!,
      dnsToken: kv['K8S_DNS_TOKEN']!,
      apiPort: Number(kv['K8S_API_PORT']),
    };
    const version = /kube-apiserver (\S+)/.exec(r.stdout)?.[1] ?? '?';
    return new KubeApiServer(dir, state, env, version);
  }

  /** Stop kube-apiserver only (etcd keeps the data): an outage. Resolves once it is gone. */
  async stopApi(): Promise<void> {
    const r = await run(path.join(this.dir, 'stop.sh'), [this.state, 'api'], 60_000);
    if (r.code !== 0) throw new Error(`stop.sh api failed (${r.code}): ${r.stderr}`);
  }

  /** Start kube-apiserver again on the same port and data; resolves when /readyz says ok. */
  async restartApi(): Promise<void> {
    const r = await run(path.join(this.dir, 'restart-api.sh'), [this.state], 120_000);
    if (r.code !== 0) throw new Error(`restart-api.sh failed (${r.code}): ${r.stderr}`);
  }

  /** Stop both (by the PIDs start.sh wrote) and remove the state dir. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.rest.close();
    await run(path.join(this.dir, 'stop.sh'), [this.state], 60_000);
    rmSync(this.state, { recursive: true, force: true });
  }

  /** The last lines of kube-apiserver's log (for failure messages). */
  apiLogTail(lines = 20): string {
    try {
      return readFileSync(path.join(this.state, 'logs/kube-apiserver.log'), 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  /** A kubeconfig for this API server with another bearer token (written into the state dir). */
  writeKubeconfig(name: string, token: string): string {
    const file = path.join(this.state, `${name}.kubeconfig`);
    writeFileSync(file, kubeconfigText(this.env.server, this.caPem, name, token), { mode: 0o600 });
    return file;
  }
}

/** A kubeconfig with one cluster (server + CA) and one bearer-token user. */
export function kubeconfigText(server: string, caPem: string, user: string, token: string): string {
  const ca = Buffer.from(caPem).toString('base64');
  return `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: ${server}
    certificate-authority-data: ${ca}
users:
- name: ${user}
  user:
    token: ${token}
contexts:
- name: ${user}@test
  context: {cluster: test, user: ${user}}
current-context: ${user}@test
`;
}

const GROUP_PATH: Record<FakeKind, string> = {
  services: '/api/v1',
  pods: '/api/v1',
  namespaces: '/api/v1',
  endpointslices: '/apis/discovery.k8s.io/v1',
};

/** The collection path of a kind (namespaced kinds in `ns`). */
export function collectionPath(kind: FakeKind, ns: string | undefined): string {
  return kind === 'namespaces' ? '/api/v1/namespaces' : `${GROUP_PATH[kind]}/namespaces/${ns ?? 'default'}/${kind}`;
}

/** Minimal REST client with a bearer token (the tests' kubectl). */
export class KubeRest {
  private readonly agent: https.Agent;

  constructor(
    readonly server: string,
    ca: Buffer,
    private readonly token: string,
  ) {
    this.agent = new https.Agent({ ca, keepAlive: true });
  }

  close(): void {
    this.agent.destroy();
  }

  request(method: string, p: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; body: any }> {
    const data = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = https.request(
        this.server + p,
        {
          method,
          agent: this.agent,
          headers: {
            Authorization: `Bearer ${this.token}`,
            Accept: 'application/json',
            ...(data !== undefined ? { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(data) } : {}),
          },
          timeout: 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // not JSON
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${p} timed out`)));
      req.on('error', reject);
      req.end(data);
    });
  }

  private async ok(method: string, p: string, body?: unknown, contentType?: string): Promise<any> {
    const r = await this.request(method, p, body, contentType);
    if (r.status < 200 || r.status > 299) {
      const msg = typeof r.body === 'object' && r.body !== null ? (r.body as { message?: string }).message : String(r.body);
      throw new Error(`${method} ${p} → ${r.status}: ${msg}`);
    }
    return r.body;
  }

  private objectPath(kind: FakeKind, o: Pick<KubeObject, 'metadata'>): string {
    return `${collectionPath(kind, o.metadata.namespace)}/${o.metadata.name}`;
  }

  /** POST a new object; returns what the API stored. */
  create(kind: FakeKind, o: KubeObject): Promise<KubeObject> {
    return this.ok('POST', collectionPath(kind, o.metadata.namespace), o);
  }

  get(kind: FakeKind, ns: string | undefined, name: string): Promise<KubeObject> {
    return this.ok('GET', this.objectPath(kind, { metadata: { name, ...(ns ? { namespace: ns } : {}) } }));
  }

  /** PUT the object over the stored one (at the stored resourceVersion). */
  async replace(kind: FakeKind, o: KubeObject): Promise<KubeObject> {
    const cur = await this.get(kind, o.metadata.namespace, o.metadata.name);
    const next = structuredClone(o);
    next.metadata.resourceVersion = cur.metadata.resourceVersion!;
    return this.ok('PUT', this.objectPath(kind, o), next);
  }

  /** DELETE at once (gracePeriodSeconds=0: no kubelet runs to finish a graceful Pod deletion). */
  delete(kind: FakeKind, ns: string | undefined, name: string): Promise<unknown> {
    return this.ok('DELETE', `${this.objectPath(kind, { metadata: { name, ...(ns ? { namespace: ns } : {}) } })}?gracePeriodSeconds=0`);
  }

  /** Write a Pod's status (phase, podIP(s)) through its /status subresource, as a kubelet would. */
  async setPodStatus(ns: string, name: string, status: unknown): Promise<KubeObject> {
    const cur = await this.get('pods', ns, name);
    return this.ok('PUT', `${this.objectPath('pods', cur)}/status`, { ...cur, status });
  }

  /** A ServiceAccount and a token for it (TokenRequest API). */
  async serviceAccountToken(ns: string, name: string): Promise<string> {
    await this.ok('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { metadata: { name, namespace: ns } });
    const tr = await this.ok('POST', `/api/v1/namespaces/${ns}/serviceaccounts/${name}/token`, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: 3600 },
    });
    return (tr as { status: { token: string } }).status.token;
  }
}
