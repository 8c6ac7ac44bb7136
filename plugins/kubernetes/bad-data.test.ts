// Bad data from the API or from manifests (names Kubernetes would refuse, addresses that are not
// addresses) must not become wrong answers or malformed packets: the bad object (or address) is
// skipped with one warning naming it, every other object answers, and every reply parses. Through
// real sockets, fed by the fake API server and by a manifest file.
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import dnsPacket from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../src/testing/index.js';
import { FakeApiServer, type FakeKind, type KubeObject } from '../../test/support/fake-apiserver.js';
import { endpointSlice, namespace, pod, service } from '../../test/support/k8s-objects.js';
import { aState, until } from '../../test/support/k8s-dns.js';

const hasDig = spawnSync('which', ['dig']).status === 0;
const LONG = 'a'.repeat(300);

/** The objects: good ones beside each kind of bad one. */
function objects(): Array<[FakeKind, KubeObject]> {
  const badExt = service('ok', 'ext-bad', '', { type: 'ExternalName', externalName: `${'x'.repeat(70)}.example.com` });
  const badExt2 = service('ok', 'ext-space', '', { type: 'ExternalName', externalName: 'bad name;.example.com' });
  return [
    ['namespaces', namespace('ok')],
    ['services', service('ok', 'web', '10.96.0.10')],
    ['services', service('ok', 'ext-good', '', { type: 'ExternalName', externalName: 'www.example.com' })],
    ['services', service('ok', LONG, '10.96.0.20')],
    ['services', service('ok', 'bad-ip', '999.1.2.3')],
    ['services', service('ok', 'inject', '10.96.0.1; rm -rf /')],
    ['services', badExt],
    ['services', badExt2],
    ['services', service('ok', 'hs', 'None')],
    ['endpointslices', endpointSlice('ok', 'hs', 'hs-1', [{ ip: '10.244.0.1' }, { ip: '300.1.1.1' }, { ip: '10.244.0.2', hostname: 'h'.repeat(70) }])],
    ['pods', pod('ok', 'good-pod', '10.244.1.1')],
    ['pods', pod('ok', 'bad-pod', '10.244.1.2; x')],
  ];
}

const Z = 'cluster.local.';
const fq = (n: string): string => `${n}.ok.svc.${Z}`;

/** What every source must give for the objects above. */
function checks(get: () => TestServer): void {
  it('good objects answer', async () => {
    const srv = get();
    expect(await aState(srv, fq('web'))).toEqual(['10.96.0.10']);
    expect(await aState(srv, fq('hs'))).toEqual(['10.244.0.1']);
    const ext = await srv.query(fq('ext-good'), 'A');
    expect(ext.msg.answers?.[0]).toMatchObject({ type: 'CNAME', data: 'www.example.com' });
    const ptr = await srv.query('10.0.96.10.in-addr.arpa.', 'PTR');
    expect(ptr.msg.answers?.map((a) => (a.type === 'PTR' ? a.data : ''))).toEqual(['web.ok.svc.cluster.local']);
    expect(await aState(srv, `10-244-1-1.ok.pod.${Z}`)).toEqual(['10.244.1.1']);
  });

  it('bad objects give no answer, and every reply parses', async () => {
    const srv = get();
    // a 300-character Service name: no PTR for its ClusterIP (it was a corrupt label)
    const ptr = await srv.query('20.0.96.10.in-addr.arpa.', 'PTR');
    expect(ptr.rcode).toBe(3);
    expect(ptr.msg.answers ?? []).toEqual([]);
    expect(() => dnsPacket.decode(ptr.wire)).not.toThrow();
    // clusterIP 999.1.2.3 (answered 231.1.2.3), "10.96.0.1; rm -rf /" (answered 46.0.0.0)
    expect(await aState(srv, fq('bad-ip'))).toBe('NX');
    expect(await aState(srv, fq('inject'))).toBe('NX');
    // ExternalName with a 70-character label or a space: no CNAME (a malformed packet before)
    for (const n of ['ext-bad', 'ext-space']) {
      const r = await srv.query(fq(n), 'A');
      expect(r.rcode).toBe(3);
      expect(r.msg.answers ?? []).toEqual([]);
    }
    // the bad endpoint addresses and the endpoint with a 70-character hostname are left out
    const srv6 = await srv.query(`hs.ok.svc.${Z}`, 'SRV');
    expect(srv6.msg.answers?.length).toBe(1);
    expect(await aState(srv, `10-244-1-2.ok.pod.${Z}`)).toBe('NX');
  });

  it('one warning per bad object, naming it and the problem', async () => {
    const lines = get().log.lines;
    const one = (re: RegExp): void => expect(lines.filter((l) => re.test(l)), String(re)).toHaveLength(1);
    one(/skipping Service ok\/a{40}…: name 'a{40}…' \(300 characters\) is longer than 63 characters/);
    one(/skipping Service ok\/bad-ip: clusterIP '999\.1\.2\.3' is not an IP address/);
    one(/skipping Service ok\/inject: clusterIP '10\.96\.0\.1; rm -rf \/' is not an IP address/);
    one(/skipping Service ok\/ext-bad: externalName .* not a DNS name/);
    one(/skipping Service ok\/ext-space: externalName 'bad name;\.example\.com' is not a DNS name/);
    one(/EndpointSlice ok\/hs-1: address '300\.1\.1\.1' is not an IP address; hostname 'h{40}…' \(70 characters\) is longer than 63 characters: endpoint left out/);
    one(/Pod ok\/bad-pod: podIP '10\.244\.1\.2; x' is not an IP address/);
  });

  it.skipIf(!hasDig)('dig parses every reply', async () => {
    const srv = get();
    const dig = async (...args: string[]): Promise<string> =>
      (await promisify(execFile)('dig', ['@127.0.0.1', '-p', String(srv.port), '+norec', '+time=2', '+tries=1', ...args])).stdout;
    for (const args of [['-x', '10.96.0.20'], [fq('bad-ip')], [fq('inject')], [fq('ext-bad')], [fq('ext-space')], [fq('hs'), 'SRV']]) {
      const out = await dig(...args);
      expect(out, args.join(' ')).toMatch(/status: (NOERROR|NXDOMAIN)/);
      expect(out, args.join(' ')).not.toMatch(/bad label|malformed|FORMERR|Warning: Message parser/i);
    }
  });
}

describe('bad objects from the API', () => {
  let fake: FakeApiServer;
  let srv: TestServer;
  beforeAll(async () => {
    fake = await FakeApiServer.start();
    for (const [kind, o] of objects()) fake.create(kind, o);
    srv = await startServer(`cluster.local:0 in-addr.arpa:0 {
  bind 127.0.0.1
  kubernetes cluster.local in-addr.arpa {
    endpoint ${fake.url}
    tls ${fake.clientCertFile} ${fake.clientKeyFile} ${fake.caFile}
    pods verified
  }
}`);
    // the same bad objects again, as watch events: still one warning each
    const again = objects().filter(([k, o]) => k !== 'namespaces' && /bad|inject|ext-|a{300}|hs-1/.test(o.metadata.name));
    for (const [kind, o] of again) fake.update(kind, { ...o, metadata: { ...o.metadata, labels: { ...o.metadata.labels, touched: 'yes' } } });
    fake.create('services', service('ok', 'marker', '10.96.0.99'));
    await until(async () => JSON.stringify(await aState(srv, fq('marker'))) === '["10.96.0.99"]', 5000, 'the updates applied');
  });
  afterAll(async () => {
    await srv?.close();
    await fake?.close();
  });
  checks(() => srv);
});

describe('bad objects from manifests', () => {
  let dir: string;
  let srv: TestServer;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-bad-'));
    const kinds: Record<FakeKind, [string, string]> = {
      namespaces: ['v1', 'Namespace'],
      services: ['v1', 'Service'],
      pods: ['v1', 'Pod'],
      endpointslices: ['discovery.k8s.io/v1', 'EndpointSlice'],
    };
    const docs = objects().map(([k, o]) => JSON.stringify({ apiVersion: kinds[k][0], kind: kinds[k][1], ...o }));
    fs.writeFileSync(path.join(dir, 'cluster.yaml'), docs.map((d) => `---\n${d}\n`).join(''));
    srv = await startServer(`cluster.local:0 in-addr.arpa:0 {
  bind 127.0.0.1
  kubernetes cluster.local in-addr.arpa {
    manifests ${dir}
    pods verified
  }
}`);
    // another file changes: everything is applied again, the warnings are not repeated
    fs.writeFileSync(path.join(dir, 'marker.yaml'), JSON.stringify({ apiVersion: 'v1', kind: 'Service', ...service('ok', 'marker', '10.96.0.99') }));
    await until(async () => JSON.stringify(await aState(srv, fq('marker'))) === '["10.96.0.99"]', 10_000, 'the new file applied');
  });
  afterAll(async () => {
    await srv?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  checks(() => srv);
});
