// Builders for Kubernetes API objects as the API server serves them (tests and bench fixtures), and
// the same objects as a manifests file for the kubernetes plugin's manifests source.
import { stringify } from 'yaml';
import type { KubeObject } from './fake-apiserver.js';

export interface PortSpec {
  name?: string;
  port: number;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
}

export function namespace(name: string, labels: Record<string, string> = {}): KubeObject {
  return { metadata: { name, labels }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } };
}

export function service(
  ns: string,
  name: string,
  clusterIP: string,
  opts: { ports?: PortSpec[]; labels?: Record<string, string>; type?: string; externalName?: string; clusterIPs?: string[] } = {},
): KubeObject {
  const headless = clusterIP === 'None';
  const ports = (opts.ports ?? [{ name: 'http', port: 80 }]).map((p) => ({
    ...(p.name ? { name: p.name } : {}),
    protocol: p.protocol ?? 'TCP',
    port: p.port,
    targetPort: p.port,
  }));
  const spec: Record<string, unknown> = {
    type: opts.type ?? 'ClusterIP',
    selector: { app: name },
    ports,
    sessionAffinity: 'None',
  };
  // As the API server stores them: an ExternalName Service has no ClusterIP, IP families or
  // internalTrafficPolicy (a real API server refuses ipFamilies/ipFamilyPolicy there).
  if (opts.type === 'ExternalName') spec['externalName'] = opts.externalName ?? 'example.com';
  else {
    const ips = opts.clusterIPs ?? [clusterIP];
    spec['clusterIP'] = clusterIP;
    spec['clusterIPs'] = ips;
    spec['ipFamilies'] = ips.map((ip) => (ip.includes(':') ? 'IPv6' : 'IPv4'));
    spec['ipFamilyPolicy'] = ips.length > 1 ? 'PreferDualStack' : 'SingleStack';
    spec['internalTrafficPolicy'] = 'Cluster';
  }
  return {
    metadata: { name, namespace: ns, labels: { app: name, ...opts.labels } },
    spec,
    status: { loadBalancer: {} },
  };
}

export interface EndpointSpec {
  ip: string;
  hostname?: string;
  pod?: string;
  node?: string;
  ready?: boolean;
}

export function endpointSlice(
  ns: string,
  svcName: string,
  sliceName: string,
  endpoints: EndpointSpec[],
  opts: { ports?: PortSpec[]; addressType?: 'IPv4' | 'IPv6'; labels?: Record<string, string> } = {},
): KubeObject {
  return {
    metadata: {
      name: sliceName,
      namespace: ns,
      labels: { 'kubernetes.io/service-name': svcName, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io', ...opts.labels },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: svcName, uid: `svc-${ns}-${svcName}`, controller: true, blockOwnerDeletion: true }],
    },
    addressType: opts.addressType ?? 'IPv4',
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: e.ready ?? true, serving: e.ready ?? true, terminating: false },
      ...(e.hostname ? { hostname: e.hostname } : {}),
      ...(e.node ? { nodeName: e.node } : {}),
      ...(e.pod ? { targetRef: { kind: 'Pod', namespace: ns, name: e.pod, uid: `pod-${ns}-${e.pod}` } } : {}),
    })),
    ports: (opts.ports ?? [{ name: 'http', port: 80 }]).map((p) => ({ ...(p.name ? { name: p.name } : {}), protocol: p.protocol ?? 'TCP', port: p.port })),
  };
}

export function pod(ns: string, name: string, ip: string, phase = 'Running', labels: Record<string, string> = {}): KubeObject {
  return {
    metadata: { name, namespace: ns, labels },
    spec: { nodeName: 'node-1', containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] },
    status: { phase, podIP: ip, podIPs: [{ ip }] },
  };
}

const API_VERSION = { Namespace: 'v1', Service: 'v1', Pod: 'v1', EndpointSlice: 'discovery.k8s.io/v1' } as const;

/**
 * Objects as a manifests file, multi-document YAML as `kubectl get -o yaml` shows each object:
 * `manifestYaml(['Service', service('data', 'db', 'None')], ['EndpointSlice', endpointSlice(…)])`.
 */
export function manifestYaml(...docs: Array<[kind: keyof typeof API_VERSION, obj: KubeObject]>): string {
  return docs.map(([kind, obj]) => stringify({ apiVersion: API_VERSION[kind], kind, ...obj })).join('---\n');
}
