// deploy/ against a real kube-apiserver (../shared/k8s: v1.26 with etcd, started for this file):
//   - every overlay rendered by `kubectl kustomize` passes `kubectl apply --server-side --dry-run=server`
//     (the server's schema validation, defaulting and admission), and a broken object does not;
//   - replace-coredns's RBAC applied for real is minimal: the typedns service account's
//     `kubectl auth can-i --list` holds nothing beyond what every authenticated identity gets,
//     except list and watch on the four resources the kubernetes plugin reads;
//   - typedns, with that service account's token, syncs and answers Services, headless
//     endpoints and verified pods.
// Skips, saying why, without kubectl (with kustomize v4 or later) or etcd (.ci/run installs etcd).
import { afterAll, describe, expect, it } from 'vitest';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ROOT } from '../support/build.js';
import { spawnCli, type CliProcess } from '../support/cli.js';
import { KubeApiServer } from '../support/kube-apiserver.js';
import { query } from '../../src/testing/client.js';
import { freePort, waitFor } from '../../src/testing/wait.js';

const OVERLAYS = ['replace-coredns', 'autoscale', 'autoscale/hpa', 'nodelocal'];
const PLUGIN_RESOURCES = ['endpointslices.discovery.k8s.io', 'namespaces', 'pods', 'services'];

/** Why these tests cannot run here, or undefined when kubectl with kustomize ≥ v4 exists. */
function kubectlMissing(): string | undefined {
  const v = spawnSync('kubectl', ['version', '--client', '-o', 'json'], { encoding: 'utf8' });
  if (v.error || v.status !== 0) return 'kubectl not found (a kubectl with kustomize v4 or later is needed)';
  const kv = /"kustomizeVersion":\s*"v(\d+)/.exec(v.stdout)?.[1];
  if (kv === undefined || Number(kv) < 4) return `kubectl's kustomize is ${kv ? `v${kv}` : 'missing'}; deploy/ needs v4 or later`;
  return undefined;
}

const missing = kubectlMissing();
const started = missing === undefined ? await KubeApiServer.start() : { skip: missing };
const api = 'skip' in started ? undefined : started;
const skipReason = 'skip' in started ? started.skip : undefined;
if (skipReason) console.warn(`deploy-apiserver tests skipped: ${skipReason}`);

afterAll(async () => {
  if (!api) return;
  await api.stop();
});

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

/** kubectl with the admin kubeconfig (or `as`: a token), feeding `input` on stdin. */
function kubectl(args: string[], o: { input?: string; token?: string } = {}): Promise<Out> {
  const a = api!;
  const who = o.token
    ? [`--server=${a.env.server}`, `--certificate-authority=${a.env.caFile}`, `--token=${o.token}`]
    : [`--kubeconfig=${path.join(a.state, 'admin.kubeconfig')}`];
  return new Promise((resolve) => {
    const child = execFile('kubectl', [...who, `--cache-dir=${path.join(a.state, 'kubectl-cache')}`, ...args], { timeout: 60_000, env: { ...process.env, NO_PROXY: '127.0.0.1', no_proxy: '127.0.0.1' } }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
    child.stdin!.end(o.input ?? '');
  });
}

async function render(overlay: string): Promise<string> {
  const r = await kubectl(['kustomize', path.join(ROOT, 'deploy/overlays', overlay)]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout;
}

const data = (a: unknown): unknown => (a as { data?: unknown }).data;

type Obj = { kind: string; metadata: { name: string }; [k: string]: unknown };
const objectsOf = (yaml: string): Obj[] => parseAllDocuments(yaml).map((d) => d.toJS() as Obj).filter((o) => o !== null);

/** `kubectl auth can-i --list` as rows "resource|non-resource URLs|names|verbs", header dropped. */
function canIRows(out: string): string[] {
  return out
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s{2,}/).join('|'))
    .filter((l) => l !== '');
}

// kubectl round trips take seconds each on a loaded 2-core machine
describe.skipIf(skipReason !== undefined)(`deploy/ on a real kube-apiserver${skipReason ? ` (skipped: ${skipReason})` : ''}`, { timeout: 120_000 }, () => {
  it.each(OVERLAYS)('overlays/%s renders and passes a server-side dry-run apply', async (overlay) => {
    const yaml = await render(overlay);
    const objs = objectsOf(yaml);
    expect(objs.length).toBeGreaterThan(5);
    const r = await kubectl(['apply', '--server-side', '--dry-run=server', '--field-manager=typedns-test', '-f', '-'], { input: yaml });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const applied = r.stdout.split('\n').filter((l) => l.endsWith('serverside-applied (server dry run)'));
    expect(applied).toHaveLength(objs.length);
    for (const o of objs) expect(applied.some((l) => l.includes(`/${o.metadata.name} `))).toBe(true);
  });

  it('the dry run is real: the server refuses a broken Deployment and an unknown field', async () => {
    const objs = objectsOf(await render('replace-coredns'));
    const dep = objs.find((o) => o.kind === 'Deployment') as Obj & { spec: { template: { spec: { containers: Array<Record<string, unknown>> } } } };
    const badPort = structuredClone(dep);
    (badPort.spec.template.spec.containers[0]!.ports as Array<{ containerPort: number }>)[0]!.containerPort = 70000;
    const r1 = await kubectl(['apply', '--server-side', '--dry-run=server', '-f', '-'], { input: JSON.stringify(badPort) });
    expect(r1.code).not.toBe(0);
    expect(r1.stderr).toMatch(/containerPort/);
    const unknown = structuredClone(dep);
    unknown.spec.template.spec.containers[0]!.bogusField = true;
    const r2 = await kubectl(['apply', '--server-side', '--dry-run=server', '-f', '-'], { input: JSON.stringify(unknown) });
    expect(r2.code).not.toBe(0);
    expect(r2.stderr).toMatch(/bogusField/);
  });

  describe('replace-coredns applied for real', () => {
    let token = '';
    let baseline: string[] = [];

    it('applies, and the service account can do nothing beyond list/watch on the plugin\'s four resources', async () => {
      const yaml = await render('replace-coredns');
      const r = await kubectl(['apply', '--server-side', '--field-manager=typedns-test', '-f', '-'], { input: yaml });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      // a service account bound to nothing: what every authenticated identity may do
      expect((await kubectl(['create', 'serviceaccount', 'typedns-test-nobody', '-n', 'kube-system'])).code).toBe(0);
      const nobody = (await kubectl(['create', 'token', 'typedns-test-nobody', '-n', 'kube-system'])).stdout.trim();
      const t = await kubectl(['create', 'token', 'typedns', '-n', 'kube-system']);
      expect(t.code).toBe(0);
      token = t.stdout.trim();
      const who = await kubectl(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'], { token });
      if (who.code === 0) expect(who.stdout).toBe('system:serviceaccount:kube-system:typedns');

      const mine = await kubectl(['auth', 'can-i', '--list'], { token });
      expect(mine.code).toBe(0);
      const base = await kubectl(['auth', 'can-i', '--list'], { token: nobody });
      expect(base.code).toBe(0);
      baseline = canIRows(base.stdout);
      expect(baseline.length).toBeGreaterThan(0);
      const extra = canIRows(mine.stdout).filter((row) => !baseline.includes(row));
      expect(extra.sort()).toEqual(PLUGIN_RESOURCES.map((res) => `${res}|[]|[]|[list watch]`));

      // and spot checks through the authorizer itself
      for (const [verb, res, yes] of [
        ['list', 'services', 'yes'],
        ['watch', 'endpointslices.discovery.k8s.io', 'yes'],
        ['get', 'services', 'no'],
        ['create', 'services', 'no'],
        ['list', 'secrets', 'no'],
        ['list', 'endpoints', 'no'],
        ['list', 'configmaps', 'no'],
        ['update', 'pods', 'no'],
      ] as const) {
        const c = await kubectl(['auth', 'can-i', verb, res, '--all-namespaces'], { token });
        expect(`${verb} ${res}: ${c.stdout.trim()}`).toBe(`${verb} ${res}: ${yes}`);
      }
    });

    it('typedns with the service account\'s token syncs and answers (Services, headless endpoints, pods verified)', async () => {
      expect(token, 'the previous test got a token').not.toBe('');
      const a = api!;
      const dir = mkdtempSync(path.join(tmpdir(), 'typedns-deploy-sa-'));
      let cli: CliProcess | undefined;
      try {
        const kubeconfig = path.join(dir, 'kubeconfig');
        writeFileSync(
          kubeconfig,
          [
            'apiVersion: v1',
            'kind: Config',
            `clusters: [{name: test, cluster: {server: "${a.env.server}", certificate-authority: "${a.env.caFile}"}}]`,
            `users: [{name: typedns, user: {token: "${token}"}}]`,
            'contexts: [{name: typedns, context: {cluster: test, user: typedns}}]',
            'current-context: typedns',
            '',
          ].join('\n'),
          { mode: 0o600 },
        );
        const objects = [
          { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } },
          { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop' }, spec: { clusterIP: '10.96.44.4', ports: [{ name: 'http', port: 80 }] } },
          { apiVersion: 'v1', kind: 'Service', metadata: { name: 'db', namespace: 'shop' }, spec: { clusterIP: 'None', ports: [{ name: 'pg', port: 5432 }] } },
          {
            apiVersion: 'discovery.k8s.io/v1',
            kind: 'EndpointSlice',
            metadata: { name: 'db-abcde', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'db' } },
            addressType: 'IPv4',
            ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }],
            endpoints: [
              { addresses: ['10.244.1.5'], conditions: { ready: true } },
              { addresses: ['10.244.2.6'], conditions: { ready: true } },
            ],
          },
          { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p1', namespace: 'shop' }, spec: { containers: [{ name: 'c', image: 'x' }] } },
        ];
        const applied = await kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }) });
        expect(applied.stderr).toBe('');
        const st = await kubectl(['patch', 'pod', 'p1', '-n', 'shop', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { phase: 'Running', podIP: '10.244.3.7', podIPs: [{ ip: '10.244.3.7' }] } })]);
        expect(st.stderr).toBe('');

        const port = await freePort();
        const corefile = path.join(dir, 'Corefile');
        writeFileSync(corefile, `.:${port} {\n    bind 127.0.0.1\n    kubernetes cluster.local in-addr.arpa {\n        kubeconfig ${kubeconfig}\n        pods verified\n    }\n}\n`);
        cli = spawnCli(['-conf', corefile]);
        await cli.ready({ timeout: 15_000 });
        const a1 = await waitFor(
          async () => {
            const r = await query(port, 'web.shop.svc.cluster.local', 'A', { timeout: 1000 }).catch(() => undefined);
            return r?.rcode === 0 && r.msg.answers?.length ? r : undefined;
          },
          { timeout: 20_000, what: `web.shop answered (typedns output: ${cli.out()})` },
        );
        expect(a1.msg.answers!.map(data)).toEqual(['10.96.44.4']);
        const hl = await query(port, 'db.shop.svc.cluster.local', 'A');
        expect(hl.msg.answers!.map(data).sort()).toEqual(['10.244.1.5', '10.244.2.6']);
        const pod = await query(port, '10-244-3-7.shop.pod.cluster.local', 'A');
        expect(pod.msg.answers!.map(data)).toEqual(['10.244.3.7']);
        const none = await query(port, '10-244-9-9.shop.pod.cluster.local', 'A');
        expect(none.rcode).toBe(3);
        // no watch was refused: the plugin says so when RBAC is short of a right
        expect(cli.out()).not.toMatch(/forbidden|403/i);
      } finally {
        await cli?.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
