// Zone transfers against real peers: dig and kdig transfer from typedns (AXFR, IXFR=serial, refused
// to 127.0.0.2 outside `to`); Knot DNS (knotd, its own config, rundir and storage in a temp dir,
// on free 127.0.0.1 ports, stopped by PID) as a secondary of typedns — it pulls the zone and takes
// a changed record after typedns's NOTIFY — and as a primary that typedns's secondary pulls from
// and is notified by after a zone edit and `knotc zone-reload`. Each part skips, saying why,
// without its tool.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, startServer, waitFor, type TestServer } from '../../src/testing/index.js';
import { hasTool as has, runTool } from '../support/tools.js';
import { zoneFilesPerTest } from '../support/zone-files.js';

const hasDig = has('dig', '-v');
const hasKdig = has('kdig', '--version');
const hasKnot = has('knotd', '--version') && has('knotc', '--version');
if (!hasDig) console.warn('xfr-interop.test.ts: dig tests skipped: no dig (Debian dnsutils)');
if (!hasKdig) console.warn('xfr-interop.test.ts: kdig tests skipped: no kdig (Debian knot-dnsutils)');
if (!hasKnot) console.warn('xfr-interop.test.ts: Knot DNS tests skipped: no knotd/knotc (Debian knot)');

const { tempDir, put } = zoneFilesPerTest('typedns-xfr-interop-');
const servers: TestServer[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()!.close();
  while (children.length) {
    const c = children.pop()!;
    if (c.exitCode === null && c.pid !== undefined) {
      const gone = new Promise((r) => c.once('exit', r));
      process.kill(c.pid, 'SIGTERM');
      await gone;
    }
  }
});

const zone = (serial: number, www: string): string =>
  `$ORIGIN example.org.\n$TTL 300\n@ IN SOA ns1 hostmaster ${serial} 3600 600 86400 60\n  IN NS ns1\n  IN MX 10 mail\nns1 IN A 192.0.2.53\nmail IN A 192.0.2.25\nwww IN A ${www}\nwww IN AAAA 2001:db8::80\ntxt IN TXT "hello world"\n`;

/** The records of dig/kdig +nocmd +nostats output lines, as "name type" (comments dropped). */
const recordsOf = (out: string): string[][] =>
  out
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith(';'))
    .map((l) => l.split(/\s+/));

async function typednsPrimary(db: string, to: string): Promise<TestServer> {
  const srv = await startServer(`example.org:0 {\n bind 127.0.0.1\n file ${db} {\n  reload 50ms\n }\n transfer {\n  to ${to}\n }\n}`);
  servers.push(srv);
  return srv;
}

async function primaryWithZone(serial: number, to: string): Promise<{ srv: TestServer; db: string }> {
  const db = path.join(tempDir(), 'db.example.org');
  put(db, zone(serial, '192.0.2.80'));
  return { srv: await typednsPrimary(db, to), db };
}

describe.skipIf(!hasDig)('dig', () => {
  it('dig AXFR: SOA first and last, every record; dig -b 127.0.0.2 outside `to`: Transfer failed', async () => {
    const { srv } = await primaryWithZone(2024, '127.0.0.1');
    const r = await runTool('dig', ['@127.0.0.1', '-p', String(srv.port), 'AXFR', 'example.org', '+nocmd', '+nostats']);
    expect(r.code).toBe(0);
    const recs = recordsOf(r.out);
    expect(recs, r.out).toHaveLength(9);
    expect([recs[0]![0], recs[0]![3]]).toEqual(['example.org.', 'SOA']);
    expect(recs.at(-1)![3]).toBe('SOA');
    expect(recs.map((x) => `${x[0]} ${x[3]}`).sort()).toEqual(
      ['example.org. SOA', 'example.org. SOA', 'example.org. NS', 'example.org. MX', 'ns1.example.org. A', 'mail.example.org. A', 'www.example.org. A', 'www.example.org. AAAA', 'txt.example.org. TXT', 'example.org. SOA'].slice(1).sort(),
    );
    const refused = await runTool('dig', ['-b', '127.0.0.2', '@127.0.0.1', '-p', String(srv.port), 'AXFR', 'example.org', '+nocmd', '+nostats']);
    expect(refused.out).toContain('Transfer failed');
    expect(recordsOf(refused.out)).toHaveLength(0);
  });

  it('dig IXFR=serial: the SOA alone when up to date, the whole zone (AXFR-style) when older', async () => {
    const { srv } = await primaryWithZone(2024, '*');
    const same = await runTool('dig', ['@127.0.0.1', '-p', String(srv.port), 'IXFR=2024', 'example.org', '+nocmd', '+nostats']);
    const recs = recordsOf(same.out);
    expect(recs).toHaveLength(1);
    expect(recs[0]![3]).toBe('SOA');
    expect(recs[0]![6]).toBe('2024');
    const older = await runTool('dig', ['@127.0.0.1', '-p', String(srv.port), 'IXFR=2023', 'example.org', '+nocmd', '+nostats']);
    const all = recordsOf(older.out);
    expect(all).toHaveLength(9);
    expect(all[0]![3]).toBe('SOA');
    expect(all.at(-1)![3]).toBe('SOA');
  });
});

describe.skipIf(!hasKdig)('kdig', () => {
  it('kdig AXFR: the zone; from 127.0.0.2 outside `to`: REFUSED', async () => {
    const { srv } = await primaryWithZone(7, '127.0.0.1/32');
    const r = await runTool('kdig', ['@127.0.0.1', '-p', String(srv.port), 'AXFR', 'example.org', '+nostats']);
    expect(r.code).toBe(0);
    const recs = recordsOf(r.out);
    expect(recs, r.out).toHaveLength(9);
    expect(recs[0]![3]).toBe('SOA');
    expect(recs.at(-1)![3]).toBe('SOA');
    const refused = await runTool('kdig', ['-b', '127.0.0.2', '@127.0.0.1', '-p', String(srv.port), 'AXFR', 'example.org', '+nostats']);
    expect(`${refused.out}${refused.err}`).toMatch(/REFUSED/);
  });
});

/** A small cluster as manifests: a ClusterIP Service with a named port, a headless one, an ExternalName. */
const CLUSTER = `apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec: { clusterIP: 10.96.0.10, ports: [{ name: http, protocol: TCP, port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: db, namespace: shop }
spec: { clusterIP: None }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: db-1, namespace: shop, labels: { kubernetes.io/service-name: db } }
addressType: IPv4
ports: [{ name: pg, protocol: TCP, port: 5432 }]
endpoints: [{ addresses: [10.244.0.5], hostname: db-0 }]
---
apiVersion: v1
kind: Service
metadata: { name: search, namespace: shop }
spec: { type: ExternalName, externalName: search.example.com }
`;
const CLUSTER_ZONE = [
  'cluster.local. SOA',
  'cluster.local. NS',
  'ns.dns.cluster.local. A',
  'db.shop.svc.cluster.local. A',
  'db-0.db.shop.svc.cluster.local. A',
  '_pg._tcp.db.shop.svc.cluster.local. SRV',
  'search.shop.svc.cluster.local. CNAME',
  'web.shop.svc.cluster.local. A',
  'web.shop.svc.cluster.local. SRV',
  '_http._tcp.web.shop.svc.cluster.local. SRV',
  'cluster.local. SOA',
];

async function clusterAndAuto(to: string): Promise<TestServer> {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'cluster.yaml'), CLUSTER);
  fs.mkdirSync(path.join(dir, 'zones'));
  put(path.join(dir, 'zones', 'db.example.org'), zone(42, '192.0.2.80'));
  const srv = await startServer(`.:0 {\n bind 127.0.0.1\n transfer {\n  to ${to}\n }\n kubernetes cluster.local {\n  manifests ${dir}\n }\n auto {\n  directory ${path.join(dir, 'zones')}\n }\n}`);
  servers.push(srv);
  return srv;
}

describe.skipIf(!hasDig || !hasKdig)('kubernetes and auto zones out', () => {
  it('dig and kdig AXFR of the cluster zone: the records of the Services, in order; refused from 127.0.0.2', async () => {
    const srv = await clusterAndAuto('127.0.0.1');
    for (const tool of ['dig', 'kdig']) {
      const r = await runTool(tool, ['@127.0.0.1', '-p', String(srv.port), 'AXFR', 'cluster.local', '+nostats', ...(tool === 'dig' ? ['+nocmd'] : [])]);
      expect(r.code, r.err).toBe(0);
      expect(recordsOf(r.out).map((x) => `${x[0]} ${x[3]}`), r.out).toEqual(CLUSTER_ZONE);
      expect(r.out).toMatch(/_pg\._tcp\.db\.shop\.svc\.cluster\.local\.\s+5\s+IN\s+SRV\s+0 100 5432 db-0\.db\.shop\.svc\.cluster\.local\./);
      expect(r.out).toMatch(/search\.shop\.svc\.cluster\.local\.\s+5\s+IN\s+CNAME\s+search\.example\.com\./);
    }
    const refused = await runTool('dig', ['-b', '127.0.0.2', '@127.0.0.1', '-p', String(srv.port), 'AXFR', 'cluster.local', '+nocmd', '+nostats']);
    expect(refused.out).toContain('Transfer failed');
    const krefused = await runTool('kdig', ['-b', '127.0.0.2', '@127.0.0.1', '-p', String(srv.port), 'AXFR', 'cluster.local', '+nostats']);
    expect(`${krefused.out}${krefused.err}`).toMatch(/REFUSED/);
  });

  it('dig and kdig AXFR of an auto zone; dig IXFR=serial when up to date: the SOA alone', async () => {
    const srv = await clusterAndAuto('127.0.0.1');
    for (const tool of ['dig', 'kdig']) {
      const r = await runTool(tool, ['@127.0.0.1', '-p', String(srv.port), 'AXFR', 'example.org', '+nostats', ...(tool === 'dig' ? ['+nocmd'] : [])]);
      const recs = recordsOf(r.out);
      expect(recs, r.out).toHaveLength(9);
      expect([recs[0]![3], recs.at(-1)![3], recs[0]![6]]).toEqual(['SOA', 'SOA', '42']);
    }
    const same = await runTool('dig', ['@127.0.0.1', '-p', String(srv.port), 'IXFR=42', 'example.org', '+nocmd', '+nostats']);
    expect(recordsOf(same.out).map((x) => x[3])).toEqual(['SOA']);
    const refused = await runTool('dig', ['-b', '127.0.0.2', '@127.0.0.1', '-p', String(srv.port), 'AXFR', 'example.org', '+nocmd', '+nostats']);
    expect(refused.out).toContain('Transfer failed');
  });
});

/** Start knotd with `conf` (a config file in `dir`); resolves once it answers on `port`. */
async function knotd(dir: string, conf: string, port: number): Promise<ChildProcess> {
  const file = path.join(dir, 'knot.conf');
  fs.writeFileSync(file, conf);
  const p = spawn('knotd', ['-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(p);
  let log = '';
  p.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  p.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  await waitFor(async () => {
    if (p.exitCode !== null) throw new Error(`knotd exited ${p.exitCode}: ${log}`);
    const r = await runTool('kdig', ['@127.0.0.1', '-p', String(port), '+tcp', '+time=1', '+retry=0', 'version.server', 'CH', 'TXT']);
    return r.out.includes('status:');
  }, { timeout: 15_000, what: 'knotd to answer' });
  (p as ChildProcess & { log: () => string }).log = () => log;
  return p;
}

const knotBase = (dir: string, port: number): string => `server:
    rundir: "${dir}"
    listen: 127.0.0.1@${port}
database:
    storage: "${dir}/db"
control:
    listen: "${dir}/knot.sock"
log:
  - target: stderr
    any: info
`;

async function kdigA(port: number, name: string): Promise<string> {
  const r = await runTool('kdig', ['@127.0.0.1', '-p', String(port), '+short', '+time=1', '+retry=0', name, 'A']);
  return r.out.trim();
}

describe.skipIf(!hasKnot || !hasKdig)('Knot DNS', () => {
  it('as a secondary of typedns: pulls the zone by AXFR, takes a changed record after our NOTIFY', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    const kport = await freePort();
    const { srv, db } = await primaryWithZone(1, `127.0.0.1:${kport}`);
    const conf = `${knotBase(dir, kport)}remote:
  - id: typedns
    address: 127.0.0.1@${srv.port}
acl:
  - id: from_typedns
    address: 127.0.0.1
    action: notify
zone:
  - domain: example.org
    storage: "${dir}"
    file: "example.org.zone"
    master: typedns
    acl: from_typedns
`;
    await knotd(dir, conf, kport);
    await waitFor(async () => (await kdigA(kport, 'www.example.org')) === '192.0.2.80', { timeout: 20_000, what: 'Knot to transfer the zone from typedns' });
    expect(await kdigA(kport, 'mail.example.org')).toBe('192.0.2.25');
    put(db, zone(2, '192.0.2.99'));
    await waitFor(async () => (await kdigA(kport, 'www.example.org')) === '192.0.2.99', { timeout: 20_000, what: 'Knot to take the change after NOTIFY' });
    expect(srv.log.lines.some((l) => l.includes('Failed sending notifies'))).toBe(false);
  });

  it('as a primary of typedns: typedns pulls the zone, and takes a change after Knot\'s NOTIFY', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    const kport = await freePort();
    const tport = await freePort();
    const zfile = path.join(dir, 'example.org.zone');
    put(zfile, zone(10, '192.0.2.10'));
    const conf = `${knotBase(dir, kport)}remote:
  - id: typedns
    address: 127.0.0.1@${tport}
acl:
  - id: to_typedns
    address: 127.0.0.1
    action: transfer
zone:
  - domain: example.org
    storage: "${dir}"
    file: "example.org.zone"
    notify: typedns
    acl: to_typedns
    zonefile-sync: -1
    journal-content: none
`;
    await knotd(dir, conf, kport);
    const srv = await startServer(`example.org:${tport} {\n bind 127.0.0.1\n secondary {\n  transfer from 127.0.0.1:${kport}\n }\n}`);
    servers.push(srv);
    const www = async (): Promise<string | undefined> => {
      const r = await srv.query('www.example.org', 'A');
      const a = r.msg.answers?.find((x) => x.type === 'A');
      return a?.type === 'A' ? a.data : undefined;
    };
    await waitFor(async () => (await www()) === '192.0.2.10', { timeout: 20_000, what: 'typedns to transfer the zone from Knot' });
    put(zfile, zone(11, '192.0.2.11'));
    const reload = await runTool('knotc', ['-s', path.join(dir, 'knot.sock'), 'zone-reload', 'example.org']);
    expect(reload.code).toBe(0);
    await waitFor(async () => (await www()) === '192.0.2.11', { timeout: 20_000, what: 'typedns to take the change after Knot\'s NOTIFY' });
    expect(srv.log.lines.some((l) => /Notify from 127\.0\.0\.1 for example\.org\.: checking transfer/.test(l))).toBe(true);
  });
});
