// deploy/overlays rendered by `kubectl kustomize` (kustomize v4 or later; skipped, saying why,
// without it): every object validates against the Kubernetes schemas (kubernetes-models), and each
// shape holds what it promises — replace-coredns (PDB, spread, resources of the capacity model,
// kube-dns at 10.96.0.10, the ConfigMap reload path), autoscale (the proportional autoscaler's
// linear parameters of the capacity model; hpa: CPU), nodelocal (host network, 169.254.20.10,
// the setup script as init container and sidecar, a Corefile every plugin parser accepts).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { parseConfig } from '../../src/config/compile.js';
import { PluginRegistry } from '../../src/plugin/registry.js';
import { builtinPlugins } from '../../plugins/all.js';

const root = path.resolve(__dirname, '../..');
const OVERLAYS = ['replace-coredns', 'autoscale', 'autoscale/hpa', 'nodelocal'] as const;

function kustomizeMissing(): string | undefined {
  const v = spawnSync('kubectl', ['version', '--client', '-o', 'json'], { encoding: 'utf8' });
  if (v.error || v.status !== 0) return 'kubectl not found (a kubectl with kustomize v4 or later is needed)';
  const kv = /"kustomizeVersion":\s*"v(\d+)/.exec(v.stdout)?.[1];
  if (kv === undefined || Number(kv) < 4) return `kubectl's kustomize is ${kv ? `v${kv}` : 'missing'}; deploy/ needs v4 or later`;
  return undefined;
}
const skipReason = kustomizeMissing();
if (skipReason) console.warn(`deploy overlay tests skipped: ${skipReason}`);

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown };
const rendered = new Map<string, Obj[]>();
if (!skipReason) {
  for (const o of OVERLAYS) {
    const r = spawnSync('kubectl', ['kustomize', path.join(root, 'deploy/overlays', o)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`kubectl kustomize deploy/overlays/${o}: ${r.stderr}`);
    rendered.set(
      o,
      parseAllDocuments(r.stdout)
        .map((d) => d.toJS() as Obj)
        .filter((x) => x !== null),
    );
  }
}
const objs = (o: string): Obj[] => rendered.get(o)!;
function one<T = Obj>(o: string, kind: string, name?: string): T {
  const found = objs(o).filter((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  expect(found, `${o}: ${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0] as T;
}

const models: Record<string, new (o: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'apps/v1/DaemonSet': DaemonSet,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
};

/** What bench/capacity-model.mjs derived from the measurements (bench/capacity.json). */
const model = JSON.parse(readFileSync(path.join(root, 'bench/capacity-model.json'), 'utf8')) as {
  replica: { requests: { cpu: string; memory: string }; limits: { memory: string } };
  nodeLocal: { requests: { cpu: string; memory: string }; limits: { memory: string } };
  linear: { coresPerReplica: number; nodesPerReplica: number; min: number; max: number; preventSinglePointFailure: boolean; includeUnschedulableNodes: boolean };
};

const registry = new PluginRegistry(builtinPlugins);

describe.skipIf(skipReason !== undefined)(`deploy/overlays rendered${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it.each(OVERLAYS)('%s: every object validates against its schema', (o) => {
    expect(objs(o).length).toBeGreaterThan(5);
    for (const obj of objs(o)) {
      const Model = models[`${obj.apiVersion}/${obj.kind}`];
      expect(Model, `${obj.apiVersion} ${obj.kind}`).toBeDefined();
      expect(() => new Model!(obj as never).validate(), `${obj.kind}/${obj.metadata.name}`).not.toThrow();
    }
  });

  it.each(OVERLAYS)('%s: the typedns Deployment, its PDB and kube-dns at 10.96.0.10 are there, sized by the capacity model', (o) => {
    const d = new Deployment(one(o, 'Deployment', 'typedns') as never);
    const pod = d.spec!.template.spec!;
    expect(pod.priorityClassName).toBe('system-cluster-critical');
    expect(pod.topologySpreadConstraints?.map((t) => t.topologyKey).sort()).toEqual(['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
    for (const t of pod.topologySpreadConstraints!) expect(t.labelSelector?.matchLabels).toEqual(d.spec!.selector.matchLabels);
    const c = pod.containers.find((x) => x.name === 'typedns')!;
    expect(c.resources).toEqual({ requests: model.replica.requests, limits: model.replica.limits });
    expect(c.livenessProbe?.httpGet?.path).toBe('/health');
    expect(c.readinessProbe?.httpGet?.path).toBe('/ready');
    const pdb = new PodDisruptionBudget(one(o, 'PodDisruptionBudget') as never);
    expect(pdb.spec?.maxUnavailable).toBe(1);
    expect(pdb.spec?.selector?.matchLabels).toEqual(d.spec!.selector.matchLabels);
    const svc = new Service(one(o, 'Service', 'kube-dns') as never);
    expect(svc.spec?.clusterIP).toBe('10.96.0.10');
    expect(svc.spec?.selector).toEqual(d.spec!.selector.matchLabels);
    // the ConfigMap reload path: the Corefile is a projected ConfigMap file (no subPath, which the
    // kubelet never updates), and the Corefile has `reload`, which re-reads it when it changes
    const vol = pod.volumes!.find((v) => v.configMap)!;
    const cm = one<Obj & { data: { Corefile: string } }>(o, 'ConfigMap', vol.configMap!.name);
    const mount = c.volumeMounts!.find((m) => m.name === vol.name)!;
    expect(mount.subPath).toBeUndefined();
    expect(path.posix.join(mount.mountPath, vol.configMap!.items![0]!.path)).toBe(c.args![c.args!.indexOf('-conf') + 1]);
    expect(cm.data.Corefile).toMatch(/^\s+reload$/m);
    expect(() => parseConfig({ text: cm.data.Corefile, file: 'Corefile' }, registry, 53)).not.toThrow();
  });

  it('replace-coredns keeps 2 replicas; the autoscale shapes leave spec.replicas to their autoscaler', () => {
    expect(one<Obj & { spec: { replicas?: number } }>('replace-coredns', 'Deployment', 'typedns').spec.replicas).toBe(2);
    expect(one<Obj & { spec: { replicas?: number } }>('autoscale', 'Deployment', 'typedns').spec.replicas).toBeUndefined();
    expect(one<Obj & { spec: { replicas?: number } }>('autoscale/hpa', 'Deployment', 'typedns').spec.replicas).toBeUndefined();
  });

  it('autoscale: the cluster-proportional-autoscaler targets typedns with the linear parameters of the capacity model', () => {
    const cm = one<Obj & { data: { linear: string } }>('autoscale', 'ConfigMap', 'dns-autoscaler');
    expect(JSON.parse(cm.data.linear)).toEqual(model.linear);
    const d = new Deployment(one('autoscale', 'Deployment', 'dns-autoscaler') as never);
    const args = d.spec!.template.spec!.containers[0]!.args!;
    expect(args).toContain('--target=Deployment/typedns');
    expect(args).toContain('--configmap=dns-autoscaler');
    const dflt = args.find((a) => a.startsWith('--default-params='))!;
    expect(JSON.parse(dflt.slice('--default-params='.length))).toEqual({ linear: model.linear });
    expect(d.spec!.template.spec!.serviceAccountName).toBe('dns-autoscaler');
    expect(objs('autoscale').some((x) => x.kind === 'HorizontalPodAutoscaler')).toBe(false);
  });

  it('autoscale/hpa: a HorizontalPodAutoscaler on CPU for typedns, at least 2 replicas, no proportional autoscaler', () => {
    const h = new HorizontalPodAutoscaler(one('autoscale/hpa', 'HorizontalPodAutoscaler') as never);
    expect(h.spec?.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'typedns' });
    expect(h.spec?.minReplicas).toBe(2);
    expect(h.spec?.metrics?.map((m) => `${m.type}/${m.resource?.name}/${m.resource?.target.type}`)).toEqual(['Resource/cpu/Utilization']);
    expect(objs('autoscale/hpa').some((x) => x.metadata.name === 'dns-autoscaler')).toBe(false);
  });

  it('nodelocal: a host-network DaemonSet on 169.254.20.10 with the setup as init container and sidecar', () => {
    const ds = new DaemonSet(one('nodelocal', 'DaemonSet', 'node-local-dns') as never);
    const pod = ds.spec!.template.spec!;
    expect(pod.hostNetwork).toBe(true);
    expect(pod.dnsPolicy).toBe('Default');
    expect(pod.priorityClassName).toBe('system-node-critical');
    // its pods must not be selected by kube-dns / kube-dns-upstream (they forward there)
    expect(ds.spec!.template.metadata!.labels!['k8s-app']).toBe('node-local-dns');
    const init = pod.initContainers!;
    expect(init.map((c) => c.args)).toEqual([['setup']]);
    const keeper = pod.containers.find((c) => c.name === 'net-keeper')!;
    expect(keeper.args).toEqual(['run']);
    for (const c of [init[0]!, keeper]) {
      expect(c.env?.find((e) => e.name === 'LOCAL_IPS')?.value).toBe('169.254.20.10,10.96.0.10');
      expect(c.securityContext?.capabilities?.add?.sort()).toEqual(['NET_ADMIN', 'NET_RAW']);
    }
    const dns = pod.containers.find((c) => c.name === 'typedns')!;
    expect(dns.resources).toEqual({ requests: model.nodeLocal.requests, limits: model.nodeLocal.limits });
    expect(dns.livenessProbe?.httpGet).toMatchObject({ host: '169.254.20.10', path: '/health', port: 8080 });
    expect(dns.securityContext?.capabilities?.add).toEqual(['NET_BIND_SERVICE']);
    const upstream = new Service(one('nodelocal', 'Service', 'kube-dns-upstream') as never);
    expect(upstream.spec?.selector).toEqual({ 'k8s-app': 'kube-dns' });
  });

  it('nodelocal: its Corefile is the NodeLocal DNSCache one on 169.254.20.10, and passes every plugin parser', () => {
    const cm = one<Obj & { data: { Corefile: string } }>('nodelocal', 'ConfigMap', 'node-local-dns');
    const text = cm.data.Corefile;
    const prev = process.env.KUBE_DNS_UPSTREAM_SERVICE_HOST;
    process.env.KUBE_DNS_UPSTREAM_SERVICE_HOST = '10.96.0.11';
    try {
      const cfg = parseConfig({ text, file: 'Corefile' }, registry, 53);
      expect(cfg.blocks.map((b) => b.keys.map((k) => `${k.zone}:${k.port}`).join(' '))).toEqual(['cluster.local.:53', 'in-addr.arpa.:53', 'ip6.arpa.:53', '.:53']);
      for (const b of cfg.blocks) expect(b.directives.map((d) => d.def.name)).toEqual(expect.arrayContaining(['bind', 'cache', 'forward', 'reload', 'loop']));
    } finally {
      if (prev === undefined) delete process.env.KUBE_DNS_UPSTREAM_SERVICE_HOST;
      else process.env.KUBE_DNS_UPSTREAM_SERVICE_HOST = prev;
    }
    expect(text.match(/bind 169\.254\.20\.10 10\.96\.0\.10/g)).toHaveLength(4);
    expect(text).toMatch(/forward \. \{\$KUBE_DNS_UPSTREAM_SERVICE_HOST\} \{\n\s+force_tcp/);
  });
});
