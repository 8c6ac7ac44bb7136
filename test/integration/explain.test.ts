// Explain a query (issue 16): the same cases through `typedns explain` (the built CLI, the
// Corefile loaded in its own process, no DNS socket) and through the explain plugin's GET /explain
// on a running server (its real cache), and `typedns explain --server` as that endpoint's client.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import dnsPacket from 'dns-packet';
import { buildQuery, exchangeRaw, rcodeOfWire, startServer, waitFor, type TestServer } from '../../src/testing/index.js';
import { FakeApiServer } from '../support/fake-apiserver.js';
import { endpointSlice, manifestYaml, namespace, pod, service } from '../support/k8s-objects.js';
import { cliRun } from '../support/cli.js';
import { hasTool } from '../support/tools.js';
import { startUpstream, type Upstream } from '../support/upstream.js';
import type { ExplainResult } from '../../src/explain/explain.js';
import type { ExplainPlugin } from '../../plugins/explain/index.js';

const hasDig = hasTool('dig', '-v');
if (!hasDig) console.warn('explain.test.ts: dig +ednsopt test skipped: no dig (Debian bind9-dnsutils)');

let dir: string;
let good: Upstream;
let dead: Upstream;

const PG = { ports: [{ name: 'pg', port: 5432 }] };
const MANIFESTS = manifestYaml(
  ['Service', service('data', 'db', 'None', PG)],
  ['EndpointSlice', endpointSlice('data', 'db', 'db-a', [{ ip: '10.244.1.20', pod: 'db-0' }], PG)],
  ['EndpointSlice', endpointSlice('data', 'db', 'db-b', [{ ip: '10.244.2.21', pod: 'db-1' }], PG)],
  ['Service', service('shop', 'search', '', { type: 'ExternalName', externalName: 'search.example.org' })],
);

/** Two blocks on one port: `.` (rewrite, acl, cache, hosts → kubernetes → forward) and fail.test (two upstreams, the first stopped). */
const corefile = (port: number, extra = ''): string => `.:${port} {
    bind 127.0.0.1
${extra}    rewrite name regex (.*)\\.corp\\.test\\. {1}.lan. answer auto
    acl {
        block type AAAA net 10.9.0.0/16
    }
    cache 30
    hosts hosts {
        fallthrough
    }
    kubernetes cluster.local {
        manifests cluster
    }
    forward . ${good.addr}
}
fail.test:${port} {
    bind 127.0.0.1
    forward . ${dead.addr} ${good.addr} {
        policy sequential
    }
}
`;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'typedns-explain-'));
  good = await startUpstream();
  dead = await startUpstream();
  await dead.stop(); // its port now answers "unreachable": forward fails over to `good`
  good.answer('up.example.org.', 'A', ['up.example.org. 60 IN A 10.7.7.7']);
  good.answer('search.example.org.', 'A', ['search.example.org. 60 IN A 10.5.5.5']);
  good.answer('x.fail.test.', 'A', ['x.fail.test. 60 IN A 10.6.6.6']);
  writeFileSync(path.join(dir, 'hosts'), '10.1.1.1 web.lan\n# databases\n10.1.1.2 db.lan db2.lan\n');
  mkdirSync(path.join(dir, 'cluster'));
  writeFileSync(path.join(dir, 'cluster', 'objects.yaml'), MANIFESTS);
  writeFileSync(path.join(dir, 'Corefile'), corefile(1053));
});

afterAll(async () => {
  await good?.stop();
});

interface Ask {
  name: string;
  type?: string;
  from?: string;
}

/** The notes (and exits) of one plugin, in order. */
const notesOf = (r: ExplainResult, plugin: string): string[] => r.steps.filter((s) => s.plugin === plugin && s.kind !== 'enter').map((s) => s.text);
const entered = (r: ExplainResult): string[] => r.steps.filter((s) => s.kind === 'enter').map((s) => s.plugin);
const answers = (r: ExplainResult): string[] => {
  const d = r.reply?.dig ?? [];
  const at = d.indexOf(';; ANSWER SECTION:');
  if (at < 0) return [];
  const out: string[] = [];
  for (let i = at + 1; i < d.length && d[i] !== ''; i++) {
    const f = d[i]!.split('\t');
    out.push(`${f[0]} ${f[3]} ${f[4]}`);
  }
  return out;
};

// The endpoint side: a server on 127.0.0.1 with the explain plugin, and GET /explain.
let srv: TestServer;
let explainPort: number;

function get(q: Ask, format = 'json'): Promise<{ status: number; body: string }> {
  const u = new URL(`http://127.0.0.1:${explainPort}/explain`);
  u.searchParams.set('name', q.name);
  if (q.type) u.searchParams.set('type', q.type);
  if (q.from) u.searchParams.set('from', q.from);
  if (format) u.searchParams.set('format', format);
  return new Promise((resolve, reject) => {
    http
      .get(u, { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

const runners: Record<'cli' | 'endpoint', (q: Ask, repeat?: number) => Promise<ExplainResult[]>> = {
  async cli(q, repeat = 1) {
    const args = ['explain', q.name, q.type ?? 'A', '-conf', 'Corefile', '--json'];
    if (q.from) args.push('--from', q.from);
    if (repeat > 1) args.push('--repeat', String(repeat));
    const r = await cliRun(args, dir);
    expect(r.stderr).not.toMatch(/ERROR/);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as ExplainResult | ExplainResult[];
    return Array.isArray(j) ? j : [j];
  },
  async endpoint(q, repeat = 1) {
    const out: ExplainResult[] = [];
    for (let i = 0; i < repeat; i++) {
      const r = await get(q);
      expect(r.status).toBe(200);
      out.push(JSON.parse(r.body) as ExplainResult);
    }
    return out;
  },
};

describe.each(['cli', 'endpoint'] as const)('explain through the %s', (via) => {
  const run = (q: Ask, repeat?: number): Promise<ExplainResult[]> => runners[via](q, repeat);

  beforeAll(async () => {
    if (via !== 'endpoint') return;
    srv = await startServer(corefile(0, '    explain 127.0.0.1:0\n'), { file: path.join(dir, 'Corefile.live') });
    const p = srv.server.generation!.blocks[0]!.plugins.find((x) => x.name === 'explain')!.plugin as ExplainPlugin;
    explainPort = p.handle!.port;
  });
  afterAll(async () => {
    if (via === 'endpoint') await srv?.close();
  });

  it('a regex rewrite with answer auto: the rule, the name before → after, and the answer written back', async () => {
    const [r] = await run({ name: 'db.corp.test' });
    expect(r!.block?.keys[0]).toMatch(/^\.:/);
    expect(notesOf(r!, 'rewrite')[0]).toMatch(/rule .*:\d+ name regex \(\.\*\)\\\.corp\\\.test\\\. \{1\}\.lan\. answer auto: matched, name db\.corp\.test\. → db\.lan\./);
    expect(notesOf(r!, 'rewrite')).toContain('reply rewritten: A owner db.lan. → db.corp.test.');
    expect(notesOf(r!, 'hosts')[0]).toBe('10.1.1.2 from hosts:3');
    expect(answers(r!)).toEqual(['db.corp.test. A 10.1.1.2']);
    expect(r!.reply?.by).toBe('hosts');
  });

  it('a cache miss, then a hit with the TTL left', async () => {
    const [a, b] = await run({ name: 'web.lan' }, 2);
    expect(notesOf(a!, 'cache')[0]).toBe('miss, key 1/1/00/web.lan.');
    expect(notesOf(a!, 'cache')).toContain('reply stored as success for 30s, key 1/1/00/web.lan.');
    expect(entered(a!)).toContain('hosts');
    expect(notesOf(b!, 'cache')[0]).toMatch(/^hit \(success\), key 1\/1\/00\/web\.lan\., (29|30)s of 30s left, stored \ds ago$/);
    expect(entered(b!)).not.toContain('hosts');
    expect(b!.reply?.by).toBe('cache');
    expect(answers(b!)).toEqual(['web.lan. A 10.1.1.1']);
  });

  it('hosts falls through to forward, which asks the loopback upstream', async () => {
    const [r] = await run({ name: 'up.example.org' });
    expect(notesOf(r!, 'hosts')[0]).toBe('no entry for up.example.org.: fallthrough to the next plugin');
    expect(notesOf(r!, 'hosts')[1]).toMatch(/^passed to next/);
    const fwd = notesOf(r!, 'forward');
    expect(fwd[0]).toMatch(new RegExp(`^forward \\. \\(.*Corefile${via === 'cli' ? '' : '\\.live'}:${via === 'cli' ? 14 : 15}\\): policy random, order ${good.addr}, over udp$`));
    expect(fwd[1]).toMatch(new RegExp(`^attempt 1: ${good.addr} answered NOERROR in [\\d.]+ ms \\(\\d+ bytes, 1 answer\\(s\\)\\)$`));
    expect(r!.reply?.by).toBe('forward');
    expect(answers(r!)).toEqual(['up.example.org. A 10.7.7.7']);
  });

  it('a headless Service with two EndpointSlices: each address with its slice and pod', async () => {
    const [r] = await run({ name: 'db.data.svc.cluster.local' });
    const k = notesOf(r!, 'kubernetes');
    expect(k[0]).toBe('Service data/db (headless): 2 record(s)');
    expect(k).toContain('10.244.1.20 from EndpointSlice data/db-a: answered');
    expect(k).toContain('10.244.2.21 from EndpointSlice data/db-b: answered');
    expect(answers(r!).sort()).toEqual(['db.data.svc.cluster.local. A 10.244.1.20', 'db.data.svc.cluster.local. A 10.244.2.21']);
    // a name that does not exist, and one that has no record of the type asked
    const [nx] = await run({ name: 'nope.data.svc.cluster.local' });
    expect(notesOf(nx!, 'kubernetes')[0]).toBe('no Service data/nope: NXDOMAIN (the name does not exist)');
    const [nodata] = await run({ name: 'db.data.svc.cluster.local', type: 'AAAA' });
    expect(notesOf(nodata!, 'kubernetes')[0]).toBe('Service data/db (headless): NODATA (the name exists, with no AAAA record)');
  });

  it('an ExternalName: the CNAME, then its target asked through forward', async () => {
    const [r] = await run({ name: 'search.shop.svc.cluster.local' });
    const k = notesOf(r!, 'kubernetes');
    expect(k[0]).toBe('Service shop/search (ExternalName → search.example.org): 1 record(s)');
    expect(k[1]).toBe('the target search.example.org is outside the zones: asking the next plugins');
    // forward runs inside kubernetes, for the target
    const fwd = r!.steps.find((s) => s.plugin === 'forward' && s.kind === 'enter')!;
    const k8s = r!.steps.find((s) => s.plugin === 'kubernetes' && s.kind === 'enter')!;
    expect(fwd.depth).toBe(k8s.depth + 1);
    expect(answers(r!)).toEqual(['search.shop.svc.cluster.local. CNAME search.example.org.', 'search.example.org. A 10.5.5.5']);
  });

  it('an acl block: the rule, the client, REFUSED', async () => {
    const [r] = await run({ name: 'web.lan', type: 'AAAA', from: '10.9.1.1' });
    expect(notesOf(r!, 'acl')[0]).toBe('zone .: rule "block type AAAA net 10.9.0.0/16" matches AAAA from 10.9.1.1: blocked, REFUSED');
    expect(notesOf(r!, 'acl')[1]).toMatch(/^returned REFUSED without writing/);
    expect(entered(r!)).not.toContain('cache');
    expect(r!.reply?.rcode).toBe('REFUSED');
    expect(r!.reply?.by).toBe('');
    // another client is let through
    const [ok] = await run({ name: 'web.lan', type: 'AAAA', from: '10.8.1.1' });
    expect(notesOf(ok!, 'acl')[0]).toBe('allowed: next plugin');
  });

  it('a forward failover: the stopped first upstream, then the second', async () => {
    const [r] = await run({ name: 'x.fail.test' });
    expect(r!.zone).toBe('fail.test.');
    expect(r!.steps.filter((s) => s.plugin === '').map((s) => s.text)).toContain('zone fail.test.: the longest zone on this listener that contains the name');
    const fwd = notesOf(r!, 'forward');
    expect(fwd[0]).toMatch(new RegExp(`policy sequential, order ${dead.addr} ${good.addr}, over udp$`));
    expect(fwd[1]).toMatch(new RegExp(`^attempt 1: ${dead.addr} over udp failed after [\\d.]+ ms: `));
    expect(fwd[2]).toMatch(new RegExp(`^attempt 2: ${good.addr} answered NOERROR in `));
    expect(answers(r!)).toEqual(['x.fail.test. A 10.6.6.6']);
  });
});

describe('typedns explain --server and the text output', () => {
  beforeAll(async () => {
    srv = await startServer(corefile(0, '    explain 127.0.0.1:0\n'), { file: path.join(dir, 'Corefile.live') });
    const p = srv.server.generation!.blocks[0]!.plugins.find((x) => x.name === 'explain')!.plugin as ExplainPlugin;
    explainPort = p.handle!.port;
  });
  afterAll(async () => {
    await srv?.close();
  });

  it('prints the running server\'s trace: its cache answers the second query', async () => {
    const first = await cliRun(['explain', 'web.lan', '--server', `127.0.0.1:${explainPort}`], dir);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^\s+[\d.]+ ms {2}route +· listener 127\.0\.0\.1:0 \(the only port served\)$/m);
    expect(first.stdout).toMatch(/^\s+[\d.]+ ms {8}cache +· miss, key 1\/1\/00\/web\.lan\.$/m);
    const second = await cliRun(['explain', 'web.lan', '--server', `127.0.0.1:${explainPort}`], dir);
    expect(second.stdout).toMatch(/^\s+[\d.]+ ms {8}cache +· hit \(success\)/m);
    expect(second.stdout).toMatch(/^;; reply: NOERROR, \d+ bytes, written by cache, [\d.]+ ms$/m);
    expect(second.stdout).toContain(';; ANSWER SECTION:\nweb.lan.\t');
    // the same text straight from the endpoint
    const t = await get({ name: 'web.lan' }, '');
    expect(t.status).toBe(200);
    expect(t.body).toMatch(/· hit \(success\)/);
  });

  it('answers 400 for a bad request and the CLI says why', async () => {
    expect((await get({ name: '' })).status).toBe(400);
    expect((await get({ name: 'web.lan', type: 'NOPE' })).status).toBe(400);
    const r = await cliRun(['explain', 'web.lan', 'NOPE', '--server', `127.0.0.1:${explainPort}`], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/400 unknown type 'NOPE'/);
  });
});

// A query sent over DNS with the configured EDNS0 option gets its trace in TXT records of the
// additional section (explain's `edns0 CODE [NET...]`): off unless configured, and only for
// clients the block's acl lets through.
describe('the trace asked with an EDNS0 option, over DNS', () => {
  const OPT = 65300;
  const servers: TestServer[] = [];
  afterAll(async () => {
    for (const s of servers) await s.close();
  });
  const traced = (name: string, type: string, code = OPT, size = 1232): Buffer =>
    dnsPacket.encode({
      type: 'query',
      id: 4242,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ name, type: type as 'A', class: 'IN' }],
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize: size, options: [{ code, data: Buffer.alloc(0) }] } as never],
    });
  /** The reply's rcode, answers and the TXT lines of its additional section. */
  const ask = async (port: number, wire: Buffer, tcp: boolean, timeout = 4000): Promise<{ rcode: number; answers: string[]; trace: string[] }> => {
    const buf = await exchangeRaw(port, wire, { tcp, timeout });
    expect(buf, 'a reply').toBeDefined();
    const m = dnsPacket.decode(buf!);
    return {
      rcode: rcodeOfWire(buf!),
      answers: (m.answers ?? []).map((a) => `${a.name} ${a.type} ${String((a as { data: unknown }).data)}`),
      trace: (m.additionals ?? []).filter((a) => a.type === 'TXT').map((a) => ((a as { data: Buffer[] }).data).map((b) => b.toString()).join('')),
    };
  };
  const start = async (explainLines: string): Promise<number> => {
    const s = await startServer(
      `.:0 {\n    bind 127.0.0.1\n${explainLines}    acl {\n        block type AAAA net 127.0.0.0/8\n    }\n    cache 30\n    hosts ${path.join(dir, 'hosts')} {\n        fallthrough\n    }\n    forward . ${good.addr}\n}\n`,
    );
    servers.push(s);
    return s.server.addresses().find((a) => a.scheme === 'dns')!.port;
  };

  it('puts the trace of the chain in TXT records: a cache miss and hosts, then the hit', async () => {
    const port = await start(`    explain {\n        edns0 ${OPT}\n    }\n`);
    const first = await ask(port, traced('web.lan', 'A'), true);
    expect(first.rcode).toBe(0);
    expect(first.answers).toEqual(['web.lan A 10.1.1.1']);
    expect(first.trace[0]).toMatch(/^[\d.]+ ms explain · EDNS0 option 65300 from 127\.0\.0\.1: the trace of web\.lan\. A follows/);
    expect(first.trace).toContainEqual(expect.stringMatching(/^[\d.]+ ms +acl · allowed: next plugin$/));
    expect(first.trace).toContainEqual(expect.stringMatching(/^[\d.]+ ms +cache · miss, key 1\/1\/00\/web\.lan\.$/));
    expect(first.trace).toContainEqual(expect.stringMatching(/^[\d.]+ ms +hosts · 10\.1\.1\.1 from .*hosts:1$/));
    expect(first.trace.at(-1)).toMatch(/the reply \(\d+ bytes\) is written by hosts: the trace ends here$/);
    // the second query is answered by the cache (which stored the reply without the trace)
    const second = await ask(port, traced('web.lan', 'A'), false);
    expect(second.answers).toEqual(['web.lan A 10.1.1.1']);
    expect(second.trace).toContainEqual(expect.stringMatching(/cache · hit \(success\), key 1\/1\/00\/web\.lan\./));
    expect(second.trace.join('\n')).not.toMatch(/hosts/);
    expect(second.trace.at(-1)).toMatch(/written by cache: the trace ends here$/);
    // forward's upstream and attempt, over UDP
    const fwd = await ask(port, traced('up.example.org', 'A'), false);
    expect(fwd.answers).toEqual(['up.example.org A 10.7.7.7']);
    expect(fwd.trace).toContainEqual(expect.stringMatching(new RegExp(`forward · attempt 1: ${good.addr} answered NOERROR`)));
    // a SERVFAIL no plugin wrote (forward finds no upstream answering) carries the trace too
    good.fault = 'drop';
    try {
      const failed = await ask(port, traced('down.example.org', 'A'), true, 10_000); // forward gives up after 5 s
      expect(failed.rcode).toBe(2);
      expect(failed.trace).toContainEqual(expect.stringMatching(/forward · no upstream answered/));
    } finally {
      good.fault = 'none';
    }
    // over UDP with a 512-byte buffer: the answer whole, the trace cut with a notice, no TC
    const small = await ask(port, traced('up.example.org', 'A', OPT, 512), false);
    expect(small.answers).toEqual(['up.example.org A 10.7.7.7']);
    expect(small.trace.length).toBeGreaterThan(0);
    expect(small.trace.at(-1)).toMatch(/^trace cut: \d+ more line\(s\) do not fit in 512 bytes; ask over TCP for all of them$/);
    // without the option: no trace
    const plain = await ask(port, buildQuery('web.lan', 'A', { edns: true }), false);
    expect(plain.answers).toEqual(['web.lan A 10.1.1.1']);
    expect(plain.trace).toEqual([]);
  });

  it('gives no trace to a query the acl blocks, nor to a client outside the NETs given', async () => {
    const port = await start(`    explain {\n        edns0 ${OPT}\n    }\n`);
    const blocked = await ask(port, traced('web.lan', 'AAAA'), false);
    expect(blocked.rcode).toBe(5);
    expect(blocked.trace).toEqual([]);
    const other = await start(`    explain {\n        edns0 ${OPT} 10.0.0.0/8\n    }\n`);
    const outside = await ask(other, traced('web.lan', 'A'), false);
    expect(outside.answers).toEqual(['web.lan A 10.1.1.1']);
    expect(outside.trace).toEqual([]);
  });

  it('is off unless configured: the explain endpoint alone ignores the option', async () => {
    const port = await start('    explain 127.0.0.1:0\n');
    const r = await ask(port, traced('web.lan', 'A'), true);
    expect(r.answers).toEqual(['web.lan A 10.1.1.1']);
    expect(r.trace).toEqual([]);
  });

  it.skipIf(!hasDig)('answers dig +ednsopt with the trace in the additional section', async () => {
    const port = await start(`    explain {\n        edns0 ${OPT}\n    }\n`);
    // not spawnSync: the server answers from this process
    const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile('dig', ['@127.0.0.1', '-p', String(port), `+ednsopt=${OPT}`, '+tcp', 'web.lan', 'A'], (e, stdout, stderr) => resolve({ status: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout, stderr }));
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/;; ADDITIONAL SECTION:/);
    expect(r.stdout).toMatch(/web\.lan\.\s+0\s+IN\s+TXT\s+".*cache .*miss, key 1\/1\/00\/web\.lan\."/);
    expect(r.stdout).toMatch(/web\.lan\.\s+0\s+IN\s+TXT\s+".*hosts .*10\.1\.1\.1 from .*hosts:1"/);
  });
});

// The kubernetes notes name the resourceVersion of each object behind a record: the Service, the
// EndpointSlice and (with pods verified) the Pod, as the API server gave them.
describe('explain with the kubernetes plugin fed by the (fake) API server', () => {
  let fake: FakeApiServer;
  let live: TestServer;
  let port: number;
  beforeAll(async () => {
    fake = await FakeApiServer.start({ bookmarkMs: 200 });
    fake.load('namespaces', [namespace('data')]);
    fake.load('services', [service('data', 'db', 'None')]);
    fake.load('endpointslices', [endpointSlice('data', 'db', 'db-a', [{ ip: '10.244.1.20', hostname: 'db-0', pod: 'db-0' }])]);
    fake.load('pods', [pod('data', 'db-0', '10.244.1.20')]);
    live = await startServer(`cluster.local:0 {
    bind 127.0.0.1
    explain 127.0.0.1:0
    kubernetes {
        endpoint ${fake.url}
        tls ${fake.clientCertFile} ${fake.clientKeyFile} ${fake.caFile}
        pods verified
    }
}`);
    const p = live.server.generation!.blocks[0]!.plugins.find((x) => x.name === 'explain')!.plugin as ExplainPlugin;
    port = p.handle!.port;
  });
  afterAll(async () => {
    await live?.close();
    await fake?.close();
  });
  const explainLive = async (name: string): Promise<string[]> => {
    const body = await new Promise<string>((resolve, reject) => {
      http
        .get(`http://127.0.0.1:${port}/explain?name=${name}&format=json`, { agent: false }, (res) => {
          let b = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (b += c));
          res.on('end', () => resolve(b));
        })
        .on('error', reject);
    });
    return notesOf(JSON.parse(body) as ExplainResult, 'kubernetes');
  };
  const rv = (kind: 'services' | 'endpointslices' | 'pods', name: string): string => fake.get(kind, 'data', name)!.metadata.resourceVersion!;

  it('gives the resourceVersion of the Service, the EndpointSlice and the Pod behind each record', async () => {
    const k = await explainLive('db.data.svc.cluster.local');
    expect(k[0]).toBe(`Service data/db (headless, resourceVersion ${rv('services', 'db')}): 1 record(s)`);
    expect(k[1]).toBe(`10.244.1.20 from EndpointSlice data/db-a (resourceVersion ${rv('endpointslices', 'db-a')}), hostname db-0, pod data/db-0 (resourceVersion ${rv('pods', 'db-0')}): answered`);
    const p = await explainLive('10-244-1-20.data.pod.cluster.local');
    expect(p[0]).toBe(`pod name 10-244-1-20 in namespace data (pods verified), Pod data/db-0 (resourceVersion ${rv('pods', 'db-0')}): 1 record(s)`);
  });

  it('follows an update: the new resourceVersion once the watch brings it', async () => {
    const before = rv('services', 'db');
    fake.update('services', service('data', 'db', 'None', { labels: { touched: 'yes' } }));
    const after = rv('services', 'db');
    expect(after).not.toBe(before);
    await waitFor(async () => (await explainLive('db.data.svc.cluster.local'))[0]!.includes(`resourceVersion ${after})`), { what: 'the new resourceVersion in the trace' });
  });
});
