// The benchmark workloads: for each, the data it needs (written into a temp dir), the typedns
// Corefile, the dnsperf query file and the records the naive reference server answers from.
//
// A workload is `{ plugins, upstream?, warmup?, setup(dir, ports) → { corefile, queries, records, probe } }`:
//   queries  dnsperf lines ("name TYPE"), cycled by dnsperf for the whole run
//   records  what the naive server's Map holds: { name, type, answers: RR[], additionals?: RR[] },
//            RR = dns-packet's { name, type, ttl, data }; a known name without the type is NODATA
//   probe    one query that must be answered (not SERVFAIL/REFUSED) before the load starts
//   miss     a query typedns answers negatively: its rcode becomes the naive server's miss rcode
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';

/** A deterministic IPv4 address for a name: what bench/upstream.mjs answers, and what the naive server holds. */
export function ipFor(name) {
  let h = 2166136261;
  const n = name.toLowerCase().replace(/\.$/, '');
  for (let i = 0; i < n.length; i++) {
    h ^= n.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  h >>>= 0;
  return `10.${(h >>> 16) & 0xff}.${(h >>> 8) & 0xff}.${(h & 0xff) | 1}`;
}

const rr = (name, type, ttl, data) => ({ name, type, ttl, class: 'IN', data });
const entry = (name, type, answers, additionals = []) => ({ name, type, answers, additionals });

/** Interleave query kinds by weight over `total` lines: a steady mix whatever dnsperf's cut-off point. */
export function mix(total, kinds) {
  const out = [];
  const sum = kinds.reduce((s, k) => s + k.weight, 0);
  const counters = kinds.map(() => 0);
  for (let i = 0; i < total; i++) {
    // pick the kind that is furthest behind its share
    let best = 0;
    let bestLag = -Infinity;
    kinds.forEach((k, j) => {
      const lag = (i + 1) * (k.weight / sum) - counters[j];
      if (lag > bestLag) {
        bestLag = lag;
        best = j;
      }
    });
    out.push(kinds[best].line(counters[best]++));
  }
  return out;
}

const HOSTS = 1000;

const hosts = {
  plugins: ['hosts'],
  describe: '1,000 names in a hosts file; 70 % A hits, 15 % AAAA of a known name (NODATA), 15 % unknown names',
  setup(dir, { port }) {
    const file = path.join(dir, 'hosts');
    const lines = [];
    const records = [];
    for (let i = 0; i < HOSTS; i++) {
      const name = `host-${i}.bench.test.`;
      const ip = `10.0.${Math.floor(i / 250)}.${(i % 250) + 1}`;
      lines.push(`${ip} ${name.slice(0, -1)}`);
      records.push(entry(name, 'A', [rr(name, 'A', 3600, ip)]));
    }
    writeFileSync(file, lines.join('\n') + '\n');
    const queries = mix(10_000, [
      { weight: 70, line: (i) => `host-${(i * 7) % HOSTS}.bench.test. A` },
      { weight: 15, line: (i) => `host-${(i * 13) % HOSTS}.bench.test. AAAA` },
      { weight: 15, line: (i) => `missing-${i % HOSTS}.bench.test. A` },
    ]);
    return {
      corefile: `.:${port} {\n    bind 127.0.0.1\n    errors\n    hosts ${file}\n}\n`,
      queries,
      records,
      probe: ['host-1.bench.test.', 'A'],
      miss: ['missing-1.bench.test.', 'A'],
    };
  },
};

const ZONE_NAMES = 100_000;

const file = {
  plugins: ['file'],
  describe: `a file zone of ${ZONE_NAMES.toLocaleString('en')} names; 70 % A hits, 15 % AAAA of a known name (NODATA), 15 % unknown names`,
  setup(dir, { port }) {
    const db = path.join(dir, 'db.zone.test');
    const lines = ['$ORIGIN zone.test.', '$TTL 3600', '@ IN SOA ns hostmaster 1 7200 3600 1209600 300', '@ IN NS ns', 'ns IN A 192.0.2.53'];
    const records = [];
    for (let i = 0; i < ZONE_NAMES; i++) {
      const name = `host-${i}.zone.test.`;
      const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${(i & 255) | 1}`;
      lines.push(`host-${i} IN A ${ip}`);
      records.push(entry(name, 'A', [rr(name, 'A', 3600, ip)]));
    }
    writeFileSync(db, lines.join('\n') + '\n');
    const queries = mix(10_000, [
      { weight: 70, line: (i) => `host-${(i * 7919) % ZONE_NAMES}.zone.test. A` },
      { weight: 15, line: (i) => `host-${(i * 13) % ZONE_NAMES}.zone.test. AAAA` },
      { weight: 15, line: (i) => `missing-${i}.zone.test. A` },
    ]);
    return {
      corefile: `zone.test:${port} {\n    bind 127.0.0.1\n    errors\n    file ${db}\n}\n`,
      queries,
      records,
      probe: ['host-1.zone.test.', 'A'],
      miss: ['missing-1.zone.test.', 'A'],
    };
  },
};

const whoami = {
  plugins: ['whoami'],
  describe: 'whoami answers every name (the core and the writer only)',
  setup(_dir, { port }) {
    const queries = [];
    const records = [];
    for (let i = 0; i < 1000; i++) {
      queries.push(`who-${i}.bench.test. A`);
      // the naive server answers with the same shape: an A and an SRV in the additional section
      const name = `who-${i}.bench.test.`;
      records.push(entry(name, 'A', [], [rr(name, 'A', 0, '127.0.0.1'), rr(`_udp.${name}`, 'SRV', 0, { priority: 0, weight: 0, port: 40000, target: '.' })]));
    }
    return {
      corefile: `.:${port} {\n    bind 127.0.0.1\n    whoami\n}\n`,
      queries,
      records,
      probe: ['who-1.bench.test.', 'A'],
    };
  },
};

/** Names the upstream answers (cache/forward): 1,000 names, A only. */
function upstreamNames() {
  const queries = [];
  const records = [];
  for (let i = 0; i < 1000; i++) {
    const name = `name-${i}.upstream.test.`;
    queries.push(`${name} A`);
    records.push(entry(name, 'A', [rr(name, 'A', 3600, ipFor(name))]));
  }
  return { queries, records };
}

const cache = {
  plugins: ['cache', 'forward'],
  upstream: true,
  warmup: true,
  describe: 'cache hits: cache + forward to bench/upstream.mjs, 1,000 names, warmed up before the run',
  setup(_dir, { port, upstreamPort }) {
    return {
      corefile: `.:${port} {\n    bind 127.0.0.1\n    errors\n    cache 3600\n    forward . 127.0.0.1:${upstreamPort}\n}\n`,
      ...upstreamNames(),
      probe: ['name-1.upstream.test.', 'A'],
    };
  },
};

const forward = {
  plugins: ['forward'],
  upstream: true,
  describe: 'forward without cache to bench/upstream.mjs (every query goes upstream), 1,000 names',
  setup(_dir, { port, upstreamPort }) {
    return {
      corefile: `.:${port} {\n    bind 127.0.0.1\n    errors\n    forward . 127.0.0.1:${upstreamPort}\n}\n`,
      ...upstreamNames(),
      probe: ['name-1.upstream.test.', 'A'],
    };
  },
};

const SERVICES = 10_000;
const NAMESPACES = 100;

/** The 10,000-Service fixture as YAML documents (one file per namespace), and the matching answers. */
export function kubernetesFixture(dir) {
  const mdir = path.join(dir, 'manifests');
  mkdirSync(mdir, { recursive: true });
  const records = [];
  const perNs = SERVICES / NAMESPACES;
  const zone = 'cluster.local';
  for (let n = 0; n < NAMESPACES; n++) {
    const ns = `ns-${n}`;
    const docs = [`apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${ns}\n`];
    for (let s = 0; s < perNs; s++) {
      const i = n * perNs + s;
      const svc = `svc-${s}`;
      const ip = `10.96.${i >> 8}.${i & 0xff}`;
      docs.push(
        [
          'apiVersion: v1',
          'kind: Service',
          'metadata:',
          `  name: ${svc}`,
          `  namespace: ${ns}`,
          'spec:',
          '  type: ClusterIP',
          `  clusterIP: ${ip}`,
          `  clusterIPs: [${ip}]`,
          '  ports:',
          '  - name: http',
          '    protocol: TCP',
          '    port: 80',
          '    targetPort: 8080',
          '',
        ].join('\n'),
      );
      const fq = `${svc}.${ns}.svc.${zone}.`;
      records.push(entry(fq, 'A', [rr(fq, 'A', 5, ip)]));
      const srv = `_http._tcp.${fq}`;
      records.push(entry(srv, 'SRV', [rr(srv, 'SRV', 5, { priority: 0, weight: 100, port: 80, target: fq })], [rr(fq, 'A', 5, ip)]));
      const ptr = `${ip.split('.').reverse().join('.')}.in-addr.arpa.`;
      records.push(entry(ptr, 'PTR', [rr(ptr, 'PTR', 5, fq)]));
    }
    writeFileSync(path.join(mdir, `${ns}.yaml`), docs.join('---\n'));
  }
  return { mdir, records };
}

const kubernetes = {
  plugins: ['kubernetes'],
  describe: '10,000 ClusterIP Services in 100 namespaces from the manifests source: 55 % A, 15 % SRV, 15 % PTR, 15 % NXDOMAIN',
  setup(dir, { port }) {
    const { mdir, records } = kubernetesFixture(dir);
    const svc = (i) => `svc-${(i * 37) % (SERVICES / NAMESPACES)}.ns-${(i * 11) % NAMESPACES}`;
    const ipOf = (i) => {
      const k = ((i * 11) % NAMESPACES) * (SERVICES / NAMESPACES) + ((i * 37) % (SERVICES / NAMESPACES));
      return `${k & 0xff}.${k >> 8}.96.10.in-addr.arpa.`;
    };
    const queries = mix(20_000, [
      { weight: 55, line: (i) => `${svc(i)}.svc.cluster.local. A` },
      { weight: 15, line: (i) => `_http._tcp.${svc(i + 1)}.svc.cluster.local. SRV` },
      { weight: 15, line: (i) => `${ipOf(i + 2)} PTR` },
      { weight: 15, line: (i) => `nosuch-${i % 1000}.ns-${i % NAMESPACES}.svc.cluster.local. A` },
    ]);
    return {
      corefile: `cluster.local:${port} in-addr.arpa:${port} {\n    bind 127.0.0.1\n    errors\n    kubernetes cluster.local in-addr.arpa {\n        manifests ${mdir}\n    }\n}\n`,
      queries,
      records,
      probe: ['svc-1.ns-1.svc.cluster.local.', 'A'],
      miss: ['nosuch-1.ns-1.svc.cluster.local.', 'A'],
    };
  },
};

export const workloads = { hosts, file, cache, kubernetes, forward, whoami };
