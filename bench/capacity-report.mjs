#!/usr/bin/env node
// The capacity model from the measurements of bench/capacity.ts:
//   node bench/capacity-report.mjs [bench/capacity.json]
// writes bench/capacity.svg (the chart), bench/capacity-model.json (the figures deploy/ uses:
// test/repo/deploy-overlays.test.ts checks the overlays against it) and prints the tables of
// bench/README.md ("Capacity model"). The assumptions it adds to the measurements are the
// constants below; each is named in the README.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const here = path.dirname(new URL(import.meta.url).pathname);
const input = process.argv[2] ?? path.join(here, 'capacity.json');
const data = JSON.parse(readFileSync(input, 'utf8'));
const pts = data.points.filter((p) => p.server === 'typedns');
const core = pts.filter((p) => p.endpoints === p.services * 10).sort((a, b) => a.services - b.services);

// ---- assumptions (not measured here)
/** Cluster shapes of the Kubernetes scalability tests (the data of CoreDNS's scaling guide): per node. */
const PODS_PER_NODE = 30;
const SERVICES_PER_NODE = 1.64; // 8,200 Services at 5,000 nodes
/** Queries a node's pods send per second, search-path expansion included (ndots:5: up to 4 extra names per lookup). */
const QPS_PER_NODE = 30;
/** Queries per second one central replica is planned for (its CPU request covers it). */
const QPS_PER_REPLICA = 5000;
/** Cores per node, to turn qps per node into the autoscaler's qps per core. */
const CORES_PER_NODE = 8;
/** Pod churn: share of all pods replaced per minute; each replacement is ~3 EndpointSlice events. */
const CHURN_PER_MIN = 0.01;
const EVENTS_PER_POD_CHANGE = 3;
/** Real API objects carry managedFields and more metadata than the fake's: bytes per event added. */
const REAL_OBJECT_OVERHEAD = 1200;
/** Node-local cache hit ratios to show (central queries = node queries × (1 − hit)). */
const HIT_RATIOS = [0.5, 0.8, 0.95];
/** CoreDNS's published memory formula (coredns/deployment, Scaling_CoreDNS.md): MB = (pods + services) / 1000 + 54. */
const corednsMb = (pods, services) => (pods + services) / 1000 + 54;
/** CoreDNS's published CPU figure: 33,669 internal queries/s with both vCPUs of an n1-standard-2 pegged (~1,900m). */
const CORE_DNS_US_PER_QUERY = (1.9e6 / 33669).toFixed(1);

// ---- fits
/** Least squares y = c0 + c1 x1 + c2 x2 (normal equations, 3×3). */
function fit2(rows) {
  const X = rows.map((r) => [1, r[0], r[1]]);
  const y = rows.map((r) => r[2]);
  const A = [0, 1, 2].map((i) => [0, 1, 2].map((j) => X.reduce((s, x) => s + x[i] * x[j], 0)));
  const b = [0, 1, 2].map((i) => X.reduce((s, x, k) => s + x[i] * y[k], 0));
  // Gaussian elimination
  for (let i = 0; i < 3; i++) {
    const p = A[i][i];
    for (let j = i + 1; j < 3; j++) {
      const f = A[j][i] / p;
      for (let k = i; k < 3; k++) A[j][k] -= f * A[i][k];
      b[j] -= f * b[i];
    }
  }
  const c = [0, 0, 0];
  for (let i = 2; i >= 0; i--) c[i] = (b[i] - [0, 1, 2].slice(i + 1).reduce((s, k) => s + A[i][k] * c[k], 0)) / A[i][i];
  return c;
}
const MB = 1024 * 1024;
const rss = fit2(pts.map((p) => [p.services, p.endpoints, p.rssSettledMb]));
const peak = fit2(pts.map((p) => [p.services, p.endpoints, p.peakRssMb]));
const rssAt = (s, e) => rss[0] + rss[1] * s + rss[2] * e;
const peakAt = (s, e) => peak[0] + peak[1] * s + peak[2] * e;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const usPerQuery = median(core.map((p) => p.queries.cpuUsPerQuery));
const usPerEvent = median(core.map((p) => p.churn.cpuUsPerEvent));
const bytesPerEvent = median(core.map((p) => p.churn.bytesPerEvent)) + REAL_OBJECT_OVERHEAD;
const idleMsPerS = median(pts.map((p) => p.idleCpuMsPerS));
const listBytesPerObject = median(pts.map((p) => p.listBytes / (p.services + p.slices)));

// ---- the model per cluster size
const roundUp = (x, step) => Math.ceil(x / step) * step;
const nodesPerReplica = Math.floor(QPS_PER_REPLICA / QPS_PER_NODE / 10) * 10;
const coresPerReplica = nodesPerReplica * CORES_PER_NODE;
const linear = { coresPerReplica, nodesPerReplica, min: 2, max: 100, preventSinglePointFailure: true, includeUnschedulableNodes: true };
const replicasFor = (nodes) => Math.min(linear.max, Math.max(nodes > 1 ? 2 : 1, linear.min, Math.ceil(nodes / nodesPerReplica), Math.ceil((nodes * CORES_PER_NODE) / coresPerReplica)));

const clusters = [100, 1000, 5000].map((nodes) => {
  const pods = nodes * PODS_PER_NODE;
  const services = Math.round(nodes * SERVICES_PER_NODE);
  const endpoints = pods;
  const replicas = replicasFor(nodes);
  const qps = nodes * QPS_PER_NODE;
  const perReplicaQps = qps / replicas;
  const eventsPerS = (pods * CHURN_PER_MIN * EVENTS_PER_POD_CHANGE) / 60;
  const cpuMs = (perReplicaQps * usPerQuery) / 1000 + (eventsPerS * usPerEvent) / 1000 + idleMsPerS;
  return {
    nodes,
    pods,
    services,
    endpoints,
    replicas,
    qps,
    perReplicaQps: Math.round(perReplicaQps),
    cpuMillicores: Math.round(cpuMs),
    rssMb: +rssAt(services, endpoints).toFixed(1),
    peakMb: +peakAt(services, endpoints).toFixed(1),
    corednsMb: +corednsMb(pods, services).toFixed(1),
    requests: { cpu: `${roundUp(cpuMs * 1.2, 10)}m`, memory: `${roundUp(rssAt(services, endpoints) * 1.15, 16)}Mi` },
    limits: { memory: `${roundUp(peakAt(services, endpoints) * 1.5, 32)}Mi` },
    watch: {
      eventsPerS: +eventsPerS.toFixed(1),
      bytesPerS: Math.round(eventsPerS * bytesPerEvent),
      cpuMillicores: +((eventsPerS * usPerEvent) / 1000).toFixed(2),
      initialListMb: +(((services + Math.ceil(endpoints / 100) + services) * listBytesPerObject) / MB).toFixed(1),
      apiFanoutBytesPerS: Math.round(eventsPerS * bytesPerEvent * replicas),
    },
    nodeLocal: HIT_RATIOS.map((h) => {
      const central = qps * (1 - h);
      const rep = Math.max(2, Math.ceil(central / QPS_PER_REPLICA));
      return { hit: h, centralQps: Math.round(central), replicas: rep, cpuSavedMillicores: Math.round(((qps - central) * usPerQuery) / 1000) };
    }),
  };
});

// The overlay ships the 1,000-node row's requests, with the 5,000-node row's memory limit (so a
// growing cluster does not hit the limit first).
const mid = clusters[1];
const big = clusters[2];
const model = {
  source: path.relative(process.cwd(), input),
  command: data.command,
  date: data.date,
  fit: {
    rssMb: { base: +rss[0].toFixed(1), perServiceBytes: Math.round(rss[1] * MB), perEndpointBytes: Math.round(rss[2] * MB) },
    peakMb: { base: +peak[0].toFixed(1), perServiceBytes: Math.round(peak[1] * MB), perEndpointBytes: Math.round(peak[2] * MB) },
    cpuUsPerQuery: usPerQuery,
    cpuUsPerEvent: usPerEvent,
    bytesPerEvent,
    idleCpuMsPerS: idleMsPerS,
  },
  assumptions: { PODS_PER_NODE, SERVICES_PER_NODE, QPS_PER_NODE, QPS_PER_REPLICA, CORES_PER_NODE, CHURN_PER_MIN, EVENTS_PER_POD_CHANGE, REAL_OBJECT_OVERHEAD },
  replica: { requests: mid.requests, limits: big.limits },
  // the node-local cache holds no cluster state: typedns's base RSS plus its two caches (9,984
  // entries each), as the `cache` workload measured it (bench/README.md); CPU for 30 qps
  nodeLocal: { requests: { cpu: '25m', memory: '96Mi' }, limits: { memory: '192Mi' } },
  linear,
  clusters,
};
writeFileSync(path.join(here, 'capacity-model.json'), JSON.stringify(model, null, 2) + '\n');

// ---- the chart: RSS and CPU per query against Services (10 endpoints each), log x
const W = 900;
const H = 360;
const panel = (x0, title, yLabel, series, yMax) => {
  const pw = 380;
  const ph = 250;
  const top = 50;
  const xs = (s) => x0 + 50 + ((Math.log10(s) - 3) / 2) * pw;
  const ys = (v) => top + ph - (v / yMax) * ph;
  let g = `<text x="${x0 + 50 + pw / 2}" y="28" text-anchor="middle" font-size="15" font-weight="bold">${title}</text>`;
  g += `<line x1="${x0 + 50}" y1="${top + ph}" x2="${x0 + 50 + pw}" y2="${top + ph}" stroke="#333"/><line x1="${x0 + 50}" y1="${top}" x2="${x0 + 50}" y2="${top + ph}" stroke="#333"/>`;
  for (const s of [1000, 10000, 50000, 100000]) {
    g += `<line x1="${xs(s)}" y1="${top + ph}" x2="${xs(s)}" y2="${top + ph + 5}" stroke="#333"/><text x="${xs(s)}" y="${top + ph + 20}" text-anchor="middle" font-size="12">${s >= 1000 ? `${s / 1000}k` : s}</text>`;
  }
  for (let i = 0; i <= 5; i++) {
    const v = (yMax / 5) * i;
    g += `<line x1="${x0 + 45}" y1="${ys(v)}" x2="${x0 + 50 + pw}" y2="${ys(v)}" stroke="#ddd"/><text x="${x0 + 42}" y="${ys(v) + 4}" text-anchor="end" font-size="11">${Math.round(v)}</text>`;
  }
  g += `<text x="${x0 + 50 + pw / 2}" y="${top + ph + 40}" text-anchor="middle" font-size="12">Services (10 endpoints each), log scale</text>`;
  g += `<text x="${x0 + 12}" y="${top + ph / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 ${x0 + 12} ${top + ph / 2})">${yLabel}</text>`;
  let ly = top + 8;
  for (const s of series) {
    const d = s.points.map(([x, y], i) => `${i ? 'L' : 'M'}${xs(x).toFixed(1)},${ys(y).toFixed(1)}`).join(' ');
    g += `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ' stroke-dasharray="6,4"' : ''}/>`;
    if (!s.dash) for (const [x, y] of s.points) g += `<circle cx="${xs(x).toFixed(1)}" cy="${ys(y).toFixed(1)}" r="3.5" fill="${s.color}"/>`;
    g += `<line x1="${x0 + 60}" y1="${ly}" x2="${x0 + 80}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dash ? ' stroke-dasharray="6,4"' : ''}/><text x="${x0 + 85}" y="${ly + 4}" font-size="11">${s.name}</text>`;
    ly += 16;
  }
  return g;
};
const corednsPts = core.map((p) => [p.services, corednsMb(p.endpoints, p.services)]);
const maxMem = Math.max(...core.map((p) => p.peakRssMb), ...corednsPts.map((p) => p[1]));
const maxCpu = Math.max(...core.map((p) => Math.max(p.queries.cpuUsPerQuery, p.churn.cpuUsPerEvent / 10)), Number(CORE_DNS_US_PER_QUERY));
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="#fff"/>
${panel(0, 'Memory of one replica', 'MB', [
  { name: 'typedns RSS, peak (sync)', color: '#d62728', points: core.map((p) => [p.services, p.peakRssMb]) },
  { name: 'typedns RSS, settled', color: '#1f77b4', points: core.map((p) => [p.services, p.rssSettledMb]) },
  { name: 'CoreDNS, its published formula', color: '#7f7f7f', dash: true, points: corednsPts },
], roundUp(maxMem * 1.1, 250))}
${panel(450, 'CPU of one replica', 'µs of CPU', [
  { name: 'typedns per query (at ~10k qps)', color: '#1f77b4', points: core.map((p) => [p.services, p.queries.cpuUsPerQuery]) },
  { name: 'typedns per watch event ÷ 10', color: '#2ca02c', points: core.map((p) => [p.services, p.churn.cpuUsPerEvent / 10]) },
  { name: `CoreDNS per query, published (${CORE_DNS_US_PER_QUERY} µs)`, color: '#7f7f7f', dash: true, points: core.map((p) => [p.services, Number(CORE_DNS_US_PER_QUERY)]) },
], roundUp(maxCpu * 1.2, 25))}
<text x="10" y="${H - 8}" font-size="10" fill="#555">bench/capacity.ts, ${data.date}, Node ${data.node}, 2 vCPUs shared with other jobs (load average ${Math.min(...pts.map((p) => p.load1))}–${Math.max(...pts.map((p) => p.load1))}); CoreDNS: coredns/deployment Scaling_CoreDNS.md</text>
</svg>
`;
writeFileSync(path.join(here, 'capacity.svg'), svg);

// ---- tables
const out = [];
out.push('| Services | endpoints | load avg | ready s | RSS settled MB | peak RSS MB | CPU µs/query | watch event µs | bytes/event (fake) |');
out.push('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const p of [...pts].sort((a, b) => a.services - b.services || a.endpoints - b.endpoints)) {
  out.push(`| ${p.services.toLocaleString('en')} | ${p.endpoints.toLocaleString('en')} | ${p.load1} | ${(p.readyMs / 1000).toFixed(1)} | ${p.rssSettledMb} | ${p.peakRssMb} | ${p.queries.cpuUsPerQuery} | ${p.churn.cpuUsPerEvent} | ${p.churn.bytesPerEvent} |`);
}
out.push('');
out.push(`Fit (least squares over the ${pts.length} points): RSS settled = ${model.fit.rssMb.base} MB + ${model.fit.rssMb.perServiceBytes} B × Services + ${model.fit.rssMb.perEndpointBytes} B × endpoints; peak = ${model.fit.peakMb.base} MB + ${model.fit.peakMb.perServiceBytes} B × Services + ${model.fit.peakMb.perEndpointBytes} B × endpoints.`);
out.push('');
out.push('| cluster | pods / Services / endpoints | qps (all nodes) | replicas | qps per replica | CPU per replica | RSS (peak) per replica | CoreDNS formula | requests | memory limit |');
out.push('| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | --- | --- |');
for (const c of clusters) {
  out.push(`| ${c.nodes.toLocaleString('en')} nodes | ${c.pods.toLocaleString('en')} / ${c.services.toLocaleString('en')} / ${c.endpoints.toLocaleString('en')} | ${c.qps.toLocaleString('en')} | ${c.replicas} | ${c.perReplicaQps.toLocaleString('en')} | ${c.cpuMillicores}m | ${c.rssMb} (${c.peakMb}) MB | ${c.corednsMb} MB | ${c.requests.cpu}, ${c.requests.memory} | ${c.limits.memory} |`);
}
out.push('');
out.push('| cluster | watch events/s per replica | watch bytes/s per replica | CPU for them | initial list | API server fan-out (all replicas) |');
out.push('| --- | ---: | ---: | ---: | ---: | ---: |');
for (const c of clusters) {
  out.push(`| ${c.nodes.toLocaleString('en')} nodes | ${c.watch.eventsPerS} | ${(c.watch.bytesPerS / 1024).toFixed(1)} KB/s | ${c.watch.cpuMillicores}m | ${c.watch.initialListMb} MB | ${(c.watch.apiFanoutBytesPerS / 1024).toFixed(0)} KB/s |`);
}
out.push('');
out.push('| cluster | node-local hit ratio | central qps | central replicas (5,000 qps each) | central CPU saved |');
out.push('| --- | ---: | ---: | ---: | ---: |');
for (const c of clusters) for (const n of c.nodeLocal) out.push(`| ${c.nodes.toLocaleString('en')} nodes | ${n.hit * 100} % | ${n.centralQps.toLocaleString('en')} | ${n.replicas} (was ${c.replicas}) | ${n.cpuSavedMillicores}m |`);
console.log(out.join('\n'));
console.log(`\nlinear: ${JSON.stringify(linear)}`);
console.log(`replica: ${JSON.stringify(model.replica)}`);
