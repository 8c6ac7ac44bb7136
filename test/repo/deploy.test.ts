// deploy/: the base's manifests validate against the Kubernetes schemas (kubernetes-models), RBAC
// only lists and watches, the Deployment has the probes, resources and security settings CoreDNS's
// has, the ConfigMap's Corefile parses, and the dashboard only charts metrics the code exports.
// The overlays, rendered by `kubectl kustomize`: deploy-overlays.test.ts; applied to a real API
// server: deploy-apiserver.test.ts.
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { parseCorefile } from '../../src/corefile/parser.js';
import { parseConfig } from '../../src/config/compile.js';
import { PluginRegistry } from '../../src/plugin/registry.js';
import { builtinPlugins } from '../../plugins/all.js';

const root = path.resolve(__dirname, '../..');
const deployDir = path.join(root, 'deploy');
const dir = path.join(deployDir, 'base');

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown };
const objects: Array<{ file: string; obj: Obj }> = [];
for (const f of readdirSync(dir).filter((x) => x.endsWith('.yaml') && x !== 'kustomization.yaml').sort()) {
  for (const doc of parseAllDocuments(readFileSync(path.join(dir, f), 'utf8'))) {
    expect(doc.errors).toEqual([]);
    const obj = doc.toJS() as Obj | null;
    if (obj) objects.push({ file: f, obj });
  }
}
const find = (kind: string): Obj => {
  const o = objects.find((x) => x.obj.kind === kind);
  if (!o) throw new Error(`no ${kind} in deploy/base/`);
  return o.obj;
};

const models: Record<string, new (o: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
};

describe('deploy/base manifests', () => {
  it('the kustomization lists every manifest of the base', () => {
    const k = parseAllDocuments(readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8'))[0]!.toJS() as { resources: string[] };
    expect([...k.resources].sort()).toEqual(readdirSync(dir).filter((x) => x.endsWith('.yaml') && x !== 'kustomization.yaml').sort());
  });

  it('holds every object the cluster DNS needs', () => {
    expect(objects.map((o) => o.obj.kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'Deployment', 'Service', 'ServiceAccount']);
  });

  it.each(objects.map((o) => [`${o.file} ${o.obj.kind}/${o.obj.metadata.name}`, o.obj] as const))('%s validates against its schema', (_n, obj) => {
    const Model = models[`${obj.apiVersion}/${obj.kind}`];
    expect(Model, `${obj.apiVersion} ${obj.kind}`).toBeDefined();
    expect(() => new Model!(obj as never).validate()).not.toThrow();
  });

  it('the schema check is real: a broken Deployment fails', () => {
    const bad = structuredClone(find('Deployment')) as unknown as { spec: { replicas: unknown } };
    bad.spec.replicas = 'two';
    expect(() => new Deployment(bad as never).validate()).toThrow();
  });

  it('RBAC only lists and watches services, endpointslices, namespaces and pods', () => {
    const role = find('ClusterRole') as Obj & { rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }> };
    const granted = new Set<string>();
    for (const r of role.rules) {
      expect([...r.verbs].sort()).toEqual(['list', 'watch']);
      for (const g of r.apiGroups) for (const res of r.resources) granted.add(`${g}/${res}`);
    }
    expect([...granted].sort()).toEqual(['/namespaces', '/pods', '/services', 'discovery.k8s.io/endpointslices']);
    const binding = find('ClusterRoleBinding') as Obj & { roleRef: { name: string }; subjects: Array<{ kind: string; name: string; namespace: string }> };
    expect(binding.roleRef.name).toBe(role.metadata.name);
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: find('ServiceAccount').metadata.name, namespace: 'kube-system' }]);
  });

  it('the Deployment runs like CoreDNS: 2 replicas, probes, resources, locked down', () => {
    const d = new Deployment(find('Deployment') as never);
    const spec = d.spec!;
    expect(spec.replicas).toBe(2);
    const pod = spec.template.spec!;
    expect(pod.dnsPolicy).toBe('Default');
    expect(pod.serviceAccountName).toBe(find('ServiceAccount').metadata.name);
    expect(pod.affinity?.podAntiAffinity).toBeDefined();
    expect(pod.securityContext?.runAsNonRoot).toBe(true);
    const c = pod.containers[0]!;
    expect(c.args).toEqual(['-conf', '/etc/coredns/Corefile']);
    expect(c.resources).toEqual({ requests: { cpu: '100m', memory: '70Mi' }, limits: { memory: '170Mi' } });
    const port = (name: unknown): number | undefined => (typeof name === 'number' ? name : c.ports?.find((p) => p.name === name)?.containerPort);
    expect(c.livenessProbe?.httpGet?.path).toBe('/health');
    expect(port(c.livenessProbe?.httpGet?.port)).toBe(8080);
    expect(c.readinessProbe?.httpGet?.path).toBe('/ready');
    expect(port(c.readinessProbe?.httpGet?.port)).toBe(8181);
    expect(c.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { add: ['NET_BIND_SERVICE'], drop: ['ALL'] } });
    const ports = (c.ports ?? []).map((p) => `${p.containerPort}/${p.protocol}`).sort();
    expect(ports).toEqual(['53/TCP', '53/UDP', '8080/TCP', '8181/TCP', '9153/TCP']);
    // the ConfigMap it mounts exists and holds the Corefile it reads
    const vol = pod.volumes?.find((v) => v.configMap)?.configMap;
    expect(vol?.name).toBe(find('ConfigMap').metadata.name);
    expect(c.volumeMounts?.[0]?.mountPath).toBe('/etc/coredns');
    // the selector matches the pod and the Service
    expect(spec.selector.matchLabels).toEqual(spec.template.metadata?.labels);
    expect((find('Service') as Obj & { spec: { selector: unknown } }).spec.selector).toEqual(spec.selector.matchLabels);
  });

  it('the Service is kube-dns on 53/udp, 53/tcp and 9153/tcp', () => {
    const s = new Service(find('Service') as never);
    expect(s.metadata?.name).toBe('kube-dns');
    expect(s.spec?.ports?.map((p) => `${p.port}/${p.protocol}`).sort()).toEqual(['53/TCP', '53/UDP', '9153/TCP']);
  });

  it('the ConfigMap holds the kubeadm Corefile, which parses', () => {
    const text = (find('ConfigMap') as Obj & { data: { Corefile: string } }).data.Corefile;
    const res = parseCorefile(text, 'Corefile', { isDirective: () => true });
    expect(res.blocks).toHaveLength(1);
    expect([...res.blocks[0]!.directives.keys()].sort()).toEqual(
      ['cache', 'errors', 'forward', 'health', 'kubernetes', 'loadbalance', 'loop', 'prometheus', 'ready', 'reload'].sort(),
    );
  });

  const registry = new PluginRegistry(builtinPlugins);
  const needed = ['cache', 'errors', 'forward', 'health', 'kubernetes', 'loadbalance', 'loop', 'prometheus', 'ready', 'reload'];
  it.skipIf(needed.some((n) => !registry.has(n)))('the ConfigMap Corefile passes every plugin parser (once every plugin is registered)', () => {
    const text = (find('ConfigMap') as Obj & { data: { Corefile: string } }).data.Corefile;
    expect(() => parseConfig({ text, file: 'Corefile' }, registry, 53)).not.toThrow();
  });
});

describe('grafana dashboard', () => {
  const dash = JSON.parse(readFileSync(path.join(deployDir, 'grafana-dashboard.json'), 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
  const exprs = dash.panels.flatMap((p) => p.targets.map((t) => t.expr));

  it('charts the core DNS metrics', () => {
    const all = exprs.join('\n');
    for (const m of ['coredns_dns_requests_total', 'coredns_dns_responses_total', 'coredns_dns_request_duration_seconds_bucket', 'coredns_dns_request_size_bytes_bucket', 'coredns_dns_response_size_bytes_bucket', 'coredns_health_request_duration_seconds_bucket', 'coredns_reload_failed_total'])
      expect(all).toContain(m);
  });

  it('uses only metric names the code defines', () => {
    const sources = [
      ...readdirSync(path.join(root, 'plugins'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).map((f) => path.join(root, 'plugins', f)),
      ...readdirSync(path.join(root, 'src'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).map((f) => path.join(root, 'src', f)),
    ].map((f) => readFileSync(f, 'utf8'));
    const code = sources.join('\n');
    const names = new Set(exprs.flatMap((e) => [...e.matchAll(/\bcoredns_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, ''))));
    expect(names.size).toBeGreaterThan(5);
    for (const n of names) {
      // a family is either spelled out, or built as coredns_<plugin>_ + its name in the plugin
      const plugin = /^coredns_([a-z]+)_(.+)$/.exec(n);
      const scoped = plugin !== null && sources.some((s) => s.includes(`'${plugin[2]}'`) && s.includes(`name: '${plugin[1]}'`));
      expect(code.includes(`'${n}'`) || scoped, n).toBe(true);
    }
  });
});
