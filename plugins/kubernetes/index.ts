// kubernetes: answers for Services, EndpointSlices and Pods of a cluster, following the Kubernetes
// DNS specification as CoreDNS's kubernetes plugin does. The data comes from the API (list +
// watch, watch/client.ts, imported only when used: client-node is heavy) or from manifest files
// (manifests.ts), into the store (store.ts); serve() answers from it synchronously.
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { definePlugin, hostSearchPath, setMetadata, Zones, type Request } from '../../src/plugin/api.js';
import { parseName } from './names.js';
import { parseKubernetes, type KubernetesConfig } from './setup.js';
import { ClusterStore } from './store.js';
import type { ClusterView } from './view.js';
import { ByteClusterView, ClusterBytesWriter } from './bytes.js';
import { KubernetesHandler } from './kubernetes.js';
import { ManifestCache, ManifestSource } from './manifests.js';
import { parseSelector } from './selector.js';
import { compactHeap } from './heap.js';
import type { ObjectSource } from './watch/objects.js';
import { SharedApiSource } from './shared.js';
import { canShare } from '../../src/server/share.js';
import { externalLookup, externalNsIps, type ExternalResult } from './external.js';
import { serverAddresses } from './answer.js';
import { kubernetesTransferer } from './xfr.js';

export type { KubernetesConfig } from './setup.js';

/** prometheus.ExponentialBuckets(0.001, 2, 20), as CoreDNS. */
const PROGRAMMING_BUCKETS = Array.from({ length: 20 }, (_, i) => 0.001 * 2 ** i);

function interfaceIps(): string[] {
  const out: string[] = [];
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (!a.internal) out.push(a.address);
  }
  return out.length > 0 ? out : ['127.0.0.1'];
}

/** client-go's rest client latency buckets. */
const REST_BUCKETS = [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60];

export default definePlugin<KubernetesConfig>({
  name: 'kubernetes',
  api: '^1',
  once: true,
  parse: parseKubernetes,
  async setup(cfg, ctx) {
    const programming = ctx.metrics.histogram(
      'dns_programming_duration_seconds',
      'Histogram of the time (in seconds) it took to program a dns instance.',
      ['service_kind'],
      PROGRAMMING_BUCKETS,
    );
    const rel = (p: string): string => path.resolve(ctx.root, p);
    const fromApi = cfg.manifests === undefined;
    const store = new ClusterStore({
      namespaces: cfg.namespaces,
      ...(cfg.namespaceLabels !== undefined ? { namespaceLabels: parseSelector(cfg.namespaceLabels) } : {}),
      endpointPodNames: cfg.endpointPodNames,
      noEndpoints: cfg.noEndpoints,
      watchPods: cfg.pods === 'verified',
      ...(fromApi ? { onProgrammed: (kind, secs) => programming.labels(kind).observe(secs) } : {}),
      warn: (msg) => ctx.log.warn(msg),
    });
    let source: ObjectSource;
    if (cfg.manifests !== undefined) {
      const p = rel(cfg.manifests);
      if (!fs.existsSync(p)) throw new Error(`manifests: ${p}: no such file or directory`);
      // One cache per process: a Corefile reload takes the objects of the files that did not change.
      const cache = ctx.process.shared('kubernetes/manifests', () => new ManifestCache());
      source = new ManifestSource(p, { log: ctx.log, cache, ...(cfg.labels !== undefined ? { labels: parseSelector(cfg.labels) } : {}) });
    } else {
      const resolved: KubernetesConfig = { ...cfg };
      if (cfg.kubeconfig) resolved.kubeconfig = { ...cfg.kubeconfig, file: rel(cfg.kubeconfig.file) };
      if (cfg.tls) resolved.tls = { cert: rel(cfg.tls.cert), key: rel(cfg.tls.key), ca: rel(cfg.tls.ca) };
      // Dynamic: @kubernetes/client-node costs ~70 MB and is not needed for manifests.
      const mod = await import('./watch/client.js');
      // CoreDNS's client-go metrics, for the requests our own transport makes.
      const latency = ctx.metrics.histogram('rest_client_request_duration_seconds', 'Request latency in seconds. Broken down by verb and host.', ['verb', 'host'], REST_BUCKETS);
      const requests = ctx.metrics.counter('rest_client_requests_total', 'Number of HTTP requests, partitioned by status code, method, and host.', ['method', 'code', 'host']);
      const opts = {
        onRequest: (verb: string, code: string, host: string, secs: number): void => {
          latency.labels(verb, host).observe(secs);
          requests.labels(verb, code, host).inc();
        },
      };
      if (canShare()) {
        // -workers N: one worker lists and watches, the others follow its changes (shared.ts).
        const { endpoint, tls, kubeconfig, namespaces, labels, namespaceLabels, pods, endpointPodNames, noEndpoints } = resolved;
        const key = `kubernetes ${JSON.stringify({ endpoint, tls, kubeconfig, namespaces, labels, namespaceLabels, pods, endpointPodNames, noEndpoints })}`;
        source = new SharedApiSource(key, (replace) => mod.createApiSource(resolved, ctx.log, { ...opts, replace }), ctx.log, store);
      } else {
        source = mod.createApiSource(resolved, ctx.log, opts);
      }
    }
    let failure: Error | undefined;
    let timedOut = false;
    let started: Promise<void> | undefined;
    ctx.onStartup(async () => {
      // No commit per chunk of the API's first lists: one when they are all in (store.ts, hold).
      // (Manifests apply their objects in slices of time, each committed: not held.)
      store.hold = fromApi;
      started = source.start(store).then(
        () => {
          store.hold = false;
          store.synced = true;
          store.commit();
          // The lists' garbage is gone: shrink the heap back to what the store holds — a moment
          // later, once the server listens (a full GC of the synced heap takes ~50 ms, which the
          // first queries would otherwise wait for).
          if (fromApi) setTimeout(compactHeap, 1000).unref();
        },
        (e: unknown) => {
          failure = e instanceof Error ? e : new Error(String(e));
          if (timedOut) ctx.log.error(`source failed: ${failure.message}`);
        },
      );
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), cfg.startupTimeout);
      });
      const r = await Promise.race([started.then(() => 'done' as const), timeout]);
      clearTimeout(timer);
      if (failure !== undefined) throw failure;
      if (r === 'timeout') {
        timedOut = true;
        // Served unsynced from now on: what arrives is committed as it comes.
        store.hold = false;
        store.commit();
      }
      if (r === 'timeout') ctx.log.warn(`starting server with unsynced Kubernetes API (waited ${cfg.startupTimeout / 1000}s)`);
    });
    // What answers read: the store, or (TYPEDNS_K8S_VIEW=bytes, tests) its copy as bytes (bytes.ts).
    let view: ClusterView = source instanceof SharedApiSource ? source.view : store;
    if (process.env.TYPEDNS_K8S_VIEW === 'bytes') {
      const writer = ClusterBytesWriter.attach(store);
      view = new ByteClusterView(() => writer.buffer);
    }
    const after = ctx.chain.slice(ctx.chain.indexOf('kubernetes') + 1);
    const ownIps = memo(interfaceIps);
    const handler = new KubernetesHandler(cfg, view, { interfaceIps: ownIps, upstream: after.length > 0 });
    const zones = Zones.from(cfg.zones, cfg.zones);
    // The host's own search domains, after the cluster's (CoreDNS's autoPathSearch).
    const hostSearch = cfg.pods === 'verified' ? hostSearchPath() : [];
    return {
      serve: (req, w, next) => handler.serve(req, w, next),
      ready: () => view.synced,
      /**
       * autopath @kubernetes: the search path of the pod that asked (pods verified only), found by
       * its address: <ns>.svc.<zone>, svc.<zone>, <zone>, the host's search domains, ''.
       */
      /** CoreDNS's kubernetes metadata: the client pod, and the parts of the query name. */
      metadata(req: Request): void {
        if (cfg.pods === 'verified') {
          const pod = view.podsWithIp(req.client.ip)[0];
          if (pod !== undefined) {
            setMetadata(req, 'kubernetes/client-namespace', () => pod.namespace);
            setMetadata(req, 'kubernetes/client-pod-name', () => pod.name);
          }
        }
        const zone = zones.match(req.name);
        if (zone === undefined) return;
        const r = parseName(req.name, zone);
        const put = (kind: string, namespace: string, service: string, endpoint: string, port: string, protocol: string): void => {
          setMetadata(req, 'kubernetes/kind', () => kind);
          setMetadata(req, 'kubernetes/namespace', () => namespace);
          setMetadata(req, 'kubernetes/service', () => service);
          setMetadata(req, 'kubernetes/endpoint', () => endpoint);
          setMetadata(req, 'kubernetes/port-name', () => port);
          setMetadata(req, 'kubernetes/protocol', () => protocol);
        };
        if (r.kind === 'service') put('svc', r.namespace, r.service, r.endpoint, r.port, r.protocol);
        else if (r.kind === 'pod') put('pod', r.namespace, r.label, '', '', '');
        else if (r.kind === 'namespace') put(r.pod ? 'pod' : 'svc', r.namespace, '', '', '', '');
        else if (r.kind === 'invalid') setMetadata(req, 'kubernetes/parse-error', () => 'invalid query name');
      },
      autoPath(req: Request): string[] | undefined {
        const zone = zones.match(req.name);
        if (zone === undefined || cfg.pods !== 'verified') return undefined;
        const pod = view.podsWithIp(req.client.ip)[0];
        if (pod === undefined) return undefined;
        const z = zone === '.' ? '' : zone;
        return [`${pod.namespace}.svc.${z}`, `svc.${z}`, zone, ...hostSearch, ''];
      },
      // k8s_external (CoreDNS's Externaler): what a name of an external zone stands for, the name
      // server's addresses, the zone's serial.
      external: (name: string, zone: string, qtype: number, headless: boolean): ExternalResult => externalLookup(view, name, zone, qtype, headless),
      externalAddress: (req: Request, headless: boolean): string[] => externalNsIps(view, serverAddresses(req, ownIps), headless),
      externalSerial: (): number => view.modifiedExternal,
      externalSynced: (): boolean => view.synced,
      // transfer (CoreDNS's Transferer): AXFR/IXFR of the cluster zone
      ...kubernetesTransferer(cfg, view, ownIps),
      close: async () => {
        await source.stop();
        store.close();
      },
      // For tests and embedding: the data behind the answers.
      store,
      started: () => started,
    } as import('../../src/plugin/api.js').Plugin & { store: ClusterStore };
  },
});

function memo<T>(f: () => T): () => T {
  let v: T | undefined;
  return () => (v ??= f());
}
