// Every record type a zone file can hold, served through a real server and read back with dig:
// the answers must print as BIND prints the zone itself (named-compilezone), and named-checkzone
// must accept the sample zone we serve. Plus $INCLUDE and $GENERATE through a real server.
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sortAndCheck, startServer, type TestServer } from '../../src/testing/index.js';

const run = promisify(execFile);
const has = (tool: string): boolean => spawnSync('which', [tool]).status === 0;
const hasDig = has('dig');
const hasKdig = has('kdig');
const hasBind = has('named-compilezone') && has('named-checkzone');
const allTypes = path.join(import.meta.dirname, 'testdata', 'db.alltypes');

/** "owner ttl IN TYPE rdata" lines → normalised "owner TYPE ttl rdata" (base64/hex split by BIND's line width joined). */
function normalise(lines: string): string[] {
  const out: string[] = [];
  for (const l of lines.split('\n')) {
    if (l.trim() === '' || l.startsWith(';')) continue;
    const m = /^(\S+)\s+(\d+)\s+IN\s+(\S+)\s*(.*)$/.exec(l.trim());
    if (!m) throw new Error(`unexpected line '${l}'`);
    const [, owner, ttl, type, rdata] = m;
    const quoted = /^(TXT|SPF|HINFO|NAPTR|CAA|URI|SVCB|HTTPS|LOC)$/.test(type!);
    out.push(`${owner!.toLowerCase()} ${type} ${ttl} ${quoted ? rdata!.replace(/\s+/g, ' ') : rdata!.replace(/\s+/g, '')}`);
  }
  return out.sort();
}

describe.skipIf(!hasBind)('the sample zone with every type', () => {
  it('is accepted by named-checkzone', async () => {
    const { stdout } = await run('named-checkzone', ['example.test', allTypes]);
    expect(stdout).toMatch(/\nOK\n?$/);
  });
});

describe.skipIf(!hasDig || !hasBind)('every record type through a real server and dig', () => {
  let srv: TestServer;
  let zone: string[];
  beforeAll(async () => {
    srv = await startServer(`example.test:0 {\n bind 127.0.0.1\n file ${allTypes} {\n  reload 0\n }\n}`);
    zone = normalise((await run('named-compilezone', ['-q', '-o', '-', 'example.test', allTypes])).stdout);
  });
  afterAll(() => srv.close());

  it('answers each RRset as named-compilezone prints it', async () => {
    const sets = new Map<string, string[]>();
    for (const l of zone) {
      const [owner, type] = l.split(' ');
      // Names at or below the delegation get referrals (the DS at the cut is answered here).
      if (/(^|\.)sub\.example\.test\.$/.test(owner!) && type !== 'DS') continue;
      const k = `${owner} ${type}`;
      sets.set(k, [...(sets.get(k) ?? []), l]);
    }
    expect(sets.size).toBeGreaterThan(35);
    const mismatches: string[] = [];
    for (const [k, want] of sets) {
      const [owner, type] = k.split(' ');
      const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(srv.port), '+norec', '+time=2', '+tries=2', '+noall', '+answer', '+nosplit', owner!, type!]);
      const got = normalise(stdout);
      if (JSON.stringify(got) !== JSON.stringify(want)) mismatches.push(`${k}:\n  want ${want.join('\n       ')}\n  got  ${got.join('\n       ')}`);
    }
    expect(mismatches).toEqual([]);
  });

  it.skipIf(!hasKdig)('kdig reads the new types too', async () => {
    for (const [name, type, want] of [
      ['svc.example.test', 'SVCB', /SVCB\s+1 svc-target\.example\.test\. alpn=h2,h3 port=8443 ipv4hint=192\.0\.2\.7 ipv6hint=2001:db8::7/],
      ['example.test', 'HTTPS', /HTTPS\s+1 \. alpn=h3 no-default-alpn/],
      ['caa.example.test', 'CAA', /CAA\s+0 issue "letsencrypt\.org"/],
      ['_443._tcp.www.example.test', 'TLSA', /TLSA\s+3 1 1 2B73BB905E1DCE1DE9B3CA3B5B7FCBE4D4F88F6C8C1B1E0E3B0B3DFE6A7C4E5F/],
      ['generic.example.test', 'TYPE731', /TYPE731\s+\\# 6 ABCDEF012345/],
    ] as const) {
      const { stdout } = await run('kdig', ['@127.0.0.1', '-p', String(srv.port), '+norec', '+time=2', '+retry=1', '+noall', '+answer', name, type]);
      expect(stdout).toMatch(want);
    }
  });

  it('our client decodes what dns-packet knows of them', async () => {
    sortAndCheck((await srv.query('hinfo.example.test', 'HINFO')).msg, { aa: true, answer: ['hinfo.example.test. 5400 IN HINFO "PC-Intel-700mhz" "Linux 2.4"'] });
    sortAndCheck((await srv.query('txt.example.test', 'TXT')).msg, { aa: true, answer: ['txt.example.test. 5400 IN TXT "hello world" "semi; colon" "plain word" "quote " inside" "ABC"'] });
    const ds = (await srv.query('sub.example.test', 'DS')).msg.answers![0] as { type: string; data: { keyTag: number; digest: Buffer } };
    expect(ds.type).toBe('DS');
    expect(ds.data.keyTag).toBe(60485);
    expect(ds.data.digest.toString('hex')).toBe('2bb183af5f22588179a53b0a98631fad1a292118');
    const rrsig = (await srv.query('example.test', 'RRSIG')).msg.answers![0] as { type: string; data: { typeCovered: string; signersName: string } };
    expect(rrsig.data).toMatchObject({ typeCovered: 'SOA', signersName: 'example.test' });
    // ANY at the apex carries the byte-form records beside the object ones.
    const any = (await srv.query('example.test', 'ANY', { tcp: true })).msg.answers!.map((a) => a.type).sort();
    expect(any).toEqual(expect.arrayContaining(['SOA', 'NS', 'MX', 'DNSKEY', 'RRSIG', 'NSEC', 'NSEC3PARAM', 'UNKNOWN_65']));
  });
});

describe('$INCLUDE and $GENERATE through a real server', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-zf-'));
    fs.mkdirSync(path.join(dir, 'zones', 'parts'), { recursive: true });
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads included files relative to the including file, scoping $ORIGIN and $TTL', async () => {
    fs.writeFileSync(
      path.join(dir, 'zones', 'db.inc'),
      [
        '$ORIGIN inc.test.',
        '$TTL 100',
        '@ IN SOA ns hm 1 2 3 4 5',
        '  IN NS ns',
        'ns IN A 192.0.2.1',
        '$INCLUDE parts/hosts lab.inc.test.',
        'after IN A 192.0.2.3 ; relative to inc.test., TTL 100: the include changed neither',
        '$INCLUDE parts/plain',
      ].join('\n'),
    );
    fs.writeFileSync(path.join(dir, 'zones', 'parts', 'hosts'), '$TTL 20\nhost1 IN A 192.0.2.2\n$ORIGIN deeper.lab.inc.test.\nhost2 IN A 192.0.2.4\n$INCLUDE more\n');
    fs.writeFileSync(path.join(dir, 'zones', 'parts', 'more'), 'host3 IN A 192.0.2.5\n');
    fs.writeFileSync(path.join(dir, 'zones', 'parts', 'plain'), 'plain IN TXT "from plain"\n');
    fs.writeFileSync(path.join(dir, 'Corefile'), 'inc.test:0 {\n bind 127.0.0.1\n file zones/db.inc {\n  reload 0\n }\n}\n');
    const srv = await startServer(fs.readFileSync(path.join(dir, 'Corefile'), 'utf8'), { file: path.join(dir, 'Corefile') });
    try {
      sortAndCheck((await srv.query('host1.lab.inc.test', 'A')).msg, { aa: true, answer: ['host1.lab.inc.test. 20 IN A 192.0.2.2'] });
      sortAndCheck((await srv.query('host2.deeper.lab.inc.test', 'A')).msg, { aa: true, answer: ['host2.deeper.lab.inc.test. 20 IN A 192.0.2.4'] });
      sortAndCheck((await srv.query('host3.deeper.lab.inc.test', 'A')).msg, { aa: true, answer: ['host3.deeper.lab.inc.test. 20 IN A 192.0.2.5'] });
      sortAndCheck((await srv.query('after.inc.test', 'A')).msg, { aa: true, answer: ['after.inc.test. 100 IN A 192.0.2.3'] });
      sortAndCheck((await srv.query('plain.inc.test', 'TXT')).msg, { aa: true, answer: ['plain.inc.test. 100 IN TXT "from plain"'] });
    } finally {
      await srv.close();
    }
  });

  it('names the included file and line in errors, and stops cycles and deep nesting', async () => {
    const start = (main: string): Promise<TestServer> => {
      fs.writeFileSync(path.join(dir, 'zones', 'db.err'), `@ IN SOA ns hm 1 2 3 4 5\n${main}\n`);
      return startServer('err.test:0 {\n bind 127.0.0.1\n file zones/db.err\n}', { file: path.join(dir, 'Corefile') });
    };
    fs.writeFileSync(path.join(dir, 'zones', 'parts', 'broken'), 'ok IN A 192.0.2.1\n\nbad IN A 192.0.2.300\n');
    await expect(start('$INCLUDE parts/broken')).rejects.toThrow(`zones/parts/broken:3: bad A address '192.0.2.300'`);
    await expect(start('$INCLUDE parts/nothere')).rejects.toThrow(`zones/db.err:2: cannot read $INCLUDE file 'parts/nothere': ENOENT`);
    fs.writeFileSync(path.join(dir, 'zones', 'parts', 'loop-a'), 'a IN A 192.0.2.1\n$INCLUDE loop-b\n');
    fs.writeFileSync(path.join(dir, 'zones', 'parts', 'loop-b'), '$INCLUDE loop-a\n');
    await expect(start('$INCLUDE parts/loop-a')).rejects.toThrow(`zones/parts/loop-b:1: $INCLUDE cycle: 'loop-a' includes itself`);
    for (let i = 0; i < 10; i++) fs.writeFileSync(path.join(dir, 'zones', 'parts', `d${i}`), `x${i} IN A 192.0.2.1\n$INCLUDE d${i + 1}\n`);
    await expect(start('$INCLUDE parts/d0')).rejects.toThrow(/zones\/parts\/d6:2: too deeply nested \$INCLUDE/);
  });

  it('$GENERATE makes records as miekg/dns does (range, step, modifiers, $$, TTL 3600 unless given)', async () => {
    fs.writeFileSync(
      path.join(dir, 'db.gen'),
      [
        '$ORIGIN gen.test.',
        '@ 60 IN SOA ns hm 1 2 3 4 5',
        '$GENERATE 1-4 host-$ 30 IN A 10.0.0.$',
        '$GENERATE 10-20/5 ${0,3,d}.pad IN A 10.1.0.${-10}',
        '$GENERATE 250-251 hex-${0,4,x} IN TXT "v\\$=$" "$$"',
        '$GENERATE 0-1 $.rev IN PTR host-${1}.gen.test.',
      ].join('\n'),
    );
    const srv = await startServer(`gen.test:0 {\n bind 127.0.0.1\n file ${path.join(dir, 'db.gen')} {\n  reload 0\n }\n}`);
    try {
      for (let i = 1; i <= 4; i++) sortAndCheck((await srv.query(`host-${i}.gen.test`, 'A')).msg, { answer: [`host-${i}.gen.test. 30 IN A 10.0.0.${i}`] });
      sortAndCheck((await srv.query('host-5.gen.test', 'A')).msg, { rcode: 'NXDOMAIN' });
      sortAndCheck((await srv.query('015.pad.gen.test', 'A')).msg, { answer: ['015.pad.gen.test. 3600 IN A 10.1.0.5'] });
      sortAndCheck((await srv.query('020.pad.gen.test', 'A')).msg, { answer: ['020.pad.gen.test. 3600 IN A 10.1.0.10'] });
      sortAndCheck((await srv.query('011.pad.gen.test', 'A')).msg, { rcode: 'NXDOMAIN' });
      sortAndCheck((await srv.query('hex-00fb.gen.test', 'TXT')).msg, { answer: ['hex-00fb.gen.test. 3600 IN TXT "v$=251" "$"'] });
      sortAndCheck((await srv.query('1.rev.gen.test', 'PTR')).msg, { answer: ['1.rev.gen.test. 3600 IN PTR host-2.gen.test.'] });
    } finally {
      await srv.close();
    }
  });
});

describe('SVCB and HTTPS answers (CoreDNS plugin/file svcb_test.go as data)', () => {
  const zone = `$TTL 30M
$ORIGIN example.com.
@	IN SOA	ns.example.com. admin.example.com. (
			2024010100 ; serial
			14400 3600 604800 14400 )
	IN NS	ns.example.com.
ns		IN A	192.0.2.1
svc-target	IN A	192.0.2.10
		IN AAAA	2001:db8::10
_8443._foo	IN SVCB	1 svc-target.example.com. alpn=h2,h3 port=8443
www		IN HTTPS 1 svc-target.example.com. alpn=h2,h3
_alias._foo	IN SVCB	0 svc-target.example.com.
*._tcp		IN SVCB	1 svc-target.example.com. port=443
_dnsaid		IN HTTPS 1 svc-target.example.com. alpn=h2 key65400="https://aid.example.com/cap" key65401="sha256:e3b0c44298fc" key65406="apphub-psc"
_mixed		IN SVCB 1 SVC-Target.Example.COM. alpn=h2
`;
  const NS = ['example.com. 1800 IN NS ns.example.com.'];
  const GLUE = ['svc-target.example.com. 1800 IN A 192.0.2.10', 'svc-target.example.com. 1800 IN AAAA 2001:db8::10'];
  const SOA = 'example.com. 1800 IN SOA ns.example.com. admin.example.com. 2024010100 14400 3600 604800 14400';
  let srv: TestServer;
  let dir: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-svcb-'));
    fs.writeFileSync(path.join(dir, 'db.example.com'), zone);
    srv = await startServer(`example.com:0 {\n bind 127.0.0.1\n file ${path.join(dir, 'db.example.com')} {\n  reload 0\n }\n}`);
  });
  afterAll(async () => {
    await srv?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  /** The owner names and types of a section, and the SVCB target read from the wire. */
  const targetOf = (a: { data?: unknown }): string => {
    const b = a.data as Buffer;
    const labels: string[] = [];
    for (let p = 2; b[p] !== 0; p += 1 + b[p]!) labels.push(b.toString('latin1', p + 1, p + 1 + b[p]!));
    return labels.join('.') + '.';
  };

  it.each([
    ['_8443._foo.example.com', 'SVCB', 'svc-target.example.com.'],
    ['www.example.com', 'HTTPS', 'svc-target.example.com.'],
    ['_alias._foo.example.com', 'SVCB', 'svc-target.example.com.'],
    ['_http._tcp.example.com', 'SVCB', 'svc-target.example.com.'], // wildcard: glue too (CoreDNS issue 6629)
    ['_mixed.example.com', 'SVCB', 'svc-target.example.com.'], // the target lower-cased on load
  ])('%s %s: answer with glue for its in-zone target', async (name, type, target) => {
    const m = (await srv.query(name, type === 'SVCB' ? 'UNKNOWN_64' : 'UNKNOWN_65')).msg; // dns-packet's names for types it does not know
    expect(m.flags! & 0x0400).toBeTruthy();
    expect(m.answers!.map((a) => `${a.name}. ${(a as { ttl?: number }).ttl}`)).toEqual([`${name}. 1800`]);
    expect(targetOf(m.answers![0] as { data?: unknown })).toBe(target);
    sortAndCheck(m, { ns: NS, extra: GLUE });
  });

  it('NODATA and NXDOMAIN carry the SOA', async () => {
    sortAndCheck((await srv.query('svc-target.example.com', 'UNKNOWN_64')).msg, { rcode: 'NOERROR', answer: [], ns: [SOA] });
    sortAndCheck((await srv.query('nonexistent.example.com', 'UNKNOWN_64')).msg, { rcode: 'NXDOMAIN', answer: [], ns: [SOA] });
  });

  it.skipIf(!hasDig)('keeps private-use keys (DNS-AID 65400-65408)', async () => {
    const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(srv.port), '+norec', '+time=2', '+tries=2', '+noall', '+answer', '_dnsaid.example.com', 'HTTPS']);
    for (const key of ['key65400="https://aid.example.com/cap"', 'key65401="sha256:e3b0c44298fc"', 'key65406="apphub-psc"']) expect(stdout).toContain(key);
  });
});
