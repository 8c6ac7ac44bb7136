import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, it, expect } from 'vitest';
import { parsePlugin, sortAndCheck, startServer, waitFor, type TestServer } from '../../src/testing/index.js';
import { CorefileError } from '../../src/plugin/api.js';
import file from './index.js';
import { scopedPerTest } from '../../test/support/scoped.js';
import type { Upstream } from '../../test/support/upstream.js';

const zoneFile = path.join(import.meta.dirname, 'testdata', 'db.example.org');
const SOA = 'example.org. 300 IN SOA ns1.example.org. hostmaster.example.org. 2024010101 7200 3600 1209600 300';
const NS = ['example.org. 3600 IN NS ns1.example.org.', 'example.org. 3600 IN NS ns2.example.org.'];
const hasDig = spawnSync('which', ['dig']).status === 0;

describe('file over sockets', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer(`example.org:0 example.net:0 {
  bind 127.0.0.1
  file ${zoneFile} example.org {
    reload 0
  }
  whoami
}`);
  });
  afterAll(() => srv.close());

  it('answers authoritatively with NS in authority and additional addresses', async () => {
    sortAndCheck((await srv.query('example.org', 'MX')).msg, {
      rcode: 'NOERROR',
      aa: true,
      answer: ['example.org. 3600 IN MX 10 mail.example.org.'],
      ns: NS,
      extra: ['mail.example.org. 3600 IN A 192.0.2.25', 'mail.example.org. 3600 IN AAAA 2001:db8::25'],
    });
    sortAndCheck((await srv.query('mail.example.org', 'AAAA')).msg, { aa: true, answer: ['mail.example.org. 3600 IN AAAA 2001:db8::25'] });
    sortAndCheck((await srv.query('txt.example.org', 'TXT', { tcp: true })).msg, {
      aa: true,
      answer: ['txt.example.org. 3600 IN TXT "hello world" "second; not a comment" "plain"'],
    });
    sortAndCheck((await srv.query('_sip._tcp.example.org', 'SRV')).msg, { answer: ['_sip._tcp.example.org. 3600 IN SRV 10 20 5060 mail.example.org.'] });
  });

  it('answers SOA and NS at the apex', async () => {
    sortAndCheck((await srv.query('example.org', 'SOA')).msg, { aa: true, answer: ['example.org. 3600 IN SOA ns1.example.org. hostmaster.example.org. 2024010101 7200 3600 1209600 300'], ns: NS });
    sortAndCheck((await srv.query('example.org', 'NS')).msg, {
      aa: true,
      answer: NS,
      extra: ['ns1.example.org. 3600 IN A 192.0.2.53', 'ns2.example.org. 3600 IN A 192.0.2.54'],
    });
  });

  it('NXDOMAIN and NODATA carry the zone SOA', async () => {
    sortAndCheck((await srv.query('missing.example.org', 'A')).msg, { rcode: 'NXDOMAIN', aa: true, answer: [], ns: [SOA] });
    sortAndCheck((await srv.query('web.example.org', 'TXT')).msg, { rcode: 'NOERROR', aa: true, answer: [], ns: [SOA] });
  });

  it('chases CNAMEs inside the zone', async () => {
    sortAndCheck((await srv.query('alias.example.org', 'A')).msg, {
      rcode: 'NOERROR',
      aa: true,
      ordered: true,
      answer: ['alias.example.org. 3600 IN CNAME www.example.org.', 'www.example.org. 3600 IN CNAME web.example.org.', 'web.example.org. 3600 IN A 192.0.2.80'],
    });
  });

  it('synthesises wildcard answers with the query name as owner', async () => {
    sortAndCheck((await srv.query('Anything.Wild.example.org', 'A')).msg, { rcode: 'NOERROR', aa: true, answer: ['anything.wild.example.org. 3600 IN A 192.0.2.99'] });
    sortAndCheck((await srv.query('host.wild.example.org', 'A')).msg, { answer: ['host.wild.example.org. 3600 IN A 192.0.2.100'] });
    sortAndCheck((await srv.query('below.host.wild.example.org', 'A')).msg, { rcode: 'NXDOMAIN', ns: [SOA] });
  });

  it('refers names under a delegation: no AA, NS in authority, glue', async () => {
    sortAndCheck((await srv.query('www.deep.sub.example.org', 'A')).msg, {
      rcode: 'NOERROR',
      aa: false,
      answer: [],
      ns: ['sub.example.org. 3600 IN NS ns.sub.example.org.', 'sub.example.org. 3600 IN NS ns.other.net.'],
      extra: ['ns.sub.example.org. 3600 IN A 192.0.2.200'],
    });
  });

  it('passes names outside its zones to the next plugin', async () => {
    const r = await srv.query('www.example.net', 'A');
    expect(r.msg.answers).toEqual([]);
    expect(r.msg.additionals?.some((a) => a.type === 'SRV')).toBe(true);
  });

  it.skipIf(!hasDig)('matches dig +norec output', async () => {
    const dig = async (...args: string[]): Promise<string> => (await promisify(execFile)('dig', ['@127.0.0.1', '-p', String(srv.port), '+norec', '+time=2', '+tries=1', ...args])).stdout;
    const mx = await dig('example.org', 'MX');
    expect(mx).toContain('status: NOERROR');
    expect(mx).toMatch(/flags: qr aa;/);
    expect(mx).toMatch(/example\.org\.\s+3600\s+IN\s+MX\s+10 mail\.example\.org\./);
    expect(mx).toMatch(/mail\.example\.org\.\s+3600\s+IN\s+AAAA\s+2001:db8::25/);
    const nx = await dig('nothere.example.org', 'A');
    expect(nx).toContain('status: NXDOMAIN');
    expect(nx).toMatch(/AUTHORITY SECTION:\nexample\.org\.\s+300\s+IN\s+SOA\s+ns1\.example\.org\. hostmaster\.example\.org\. 2024010101 7200 3600 1209600 300/);
    const ref = await dig('deep.sub.example.org', 'A');
    expect(ref).toMatch(/flags: qr;/);
    expect(ref).toMatch(/sub\.example\.org\.\s+3600\s+IN\s+NS\s+ns\.sub\.example\.org\./);
    expect(ref).toMatch(/ADDITIONAL SECTION:[\s\S]*ns\.sub\.example\.org\.\s+3600\s+IN\s+A\s+192\.0\.2\.200/);
  });
});

describe('file for several zones and reloads', () => {
  it('parses one file for each zone of the line', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-file-'));
    fs.writeFileSync(path.join(dir, 'db.shared'), '@ 60 IN SOA ns hostmaster 1 7200 3600 1209600 30\n@ 60 NS ns\nns 60 A 10.0.0.53\nwww 60 A 10.0.0.80\n');
    const srv = await startServer(`.:0 {\n bind 127.0.0.1\n file db.shared a.test b.test\n}`, { file: path.join(dir, 'Corefile') });
    try {
      sortAndCheck((await srv.query('www.a.test', 'A')).msg, { aa: true, answer: ['www.a.test. 60 IN A 10.0.0.80'] });
      sortAndCheck((await srv.query('www.b.test', 'A')).msg, { aa: true, answer: ['www.b.test. 60 IN A 10.0.0.80'] });
      sortAndCheck((await srv.query('nope.b.test', 'A')).msg, { rcode: 'NXDOMAIN', ns: ['b.test. 30 IN SOA ns.b.test. hostmaster.b.test. 1 7200 3600 1209600 30'] });
    } finally {
      await srv.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reloads the zone when the SOA serial changes, not before', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-file-'));
    const db = path.join(dir, 'db.r.test');
    const zone = (serial: number, ip: string) => `$ORIGIN r.test.\n@ 60 IN SOA ns hostmaster ${serial} 7200 3600 1209600 30\n@ 60 NS ns\nns 60 A 10.0.0.53\nwww 60 A ${ip}\n`;
    // replace the file in one step (write + rename): a reload tick must not read a half-written file
    const put = (text: string): void => {
      fs.writeFileSync(`${db}.tmp`, text);
      fs.renameSync(`${db}.tmp`, db);
    };
    put(zone(1, '10.0.0.1'));
    // debug: the reload tick says when it has seen a change with the same serial
    const srv = await startServer(`r.test:0 {\n bind 127.0.0.1\n debug\n file ${db} {\n  reload 100ms\n }\n}`);
    try {
      sortAndCheck((await srv.query('www.r.test', 'A')).msg, { answer: ['www.r.test. 60 IN A 10.0.0.1'] });
      // same serial: the change is read by a reload tick, and ignored; a later tick that finds the
      // file unchanged proves that tick is over (ticks never overlap), whatever it did
      put(zone(1, '10.0.0.2'));
      const after = (first: string, then: string) => (): boolean => {
        const i = srv.log.lines.findIndex((l) => l.includes(first));
        return i >= 0 && srv.log.lines.slice(i + 1).some((l) => l.includes(then));
      };
      await waitFor(after('changed on disk with the same serial 1: not reloaded', `zone file '${db}' unchanged on disk: not read`), { what: 'a reload tick to read the same serial, and the next one' });
      sortAndCheck((await srv.query('www.r.test', 'A')).msg, { answer: ['www.r.test. 60 IN A 10.0.0.1'] });
      // a broken file is logged and the old zone kept
      put(zone(2, '10.0.0.999'));
      // wait for the reload tick to read it (the logged error), then the old zone must still answer
      await waitFor(() => /db\.r\.test:5: bad A address/.test(srv.log.lines.join('\n')), { what: 'the broken zone file to be logged' });
      sortAndCheck((await srv.query('www.r.test', 'A')).msg, { answer: ['www.r.test. 60 IN A 10.0.0.1'] });
      // new serial: picked up
      put(zone(3, '10.0.0.3'));
      await waitFor(async () => {
        const r = await srv.query('www.r.test', 'A');
        return r.msg.answers?.[0]?.type === 'A' && r.msg.answers[0].data === '10.0.0.3';
      }, { timeout: 10_000, interval: 100, what: 'the zone with serial 3 to answer' });
    } finally {
      await srv.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('file errors', () => {
  it('rejects a broken zone file naming file:line', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-file-'));
    fs.writeFileSync(path.join(dir, 'db.bad'), '@ 60 IN SOA ns hm 1 2 3 4 5\n\nx 60 IN NAPTR 1 2 "a" "b" "c"\n');
    try {
      await expect(startServer(`bad.test:0 {\n bind 127.0.0.1\n file db.bad\n}`, { file: path.join(dir, 'Corefile') })).rejects.toThrow(/db\.bad:3: NAPTR record: missing replacement/);
      await expect(startServer(`bad.test:0 {\n bind 127.0.0.1\n file db.missing\n}`, { file: path.join(dir, 'Corefile') })).rejects.toThrow(/Corefile:3.*cannot read zone file 'db.missing': ENOENT/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads its directive', () => {
    const c = parsePlugin(file, 'file db.x a.org b.org {\n reload 30s\n fallthrough\n}');
    expect(c.stanzas[0]).toMatchObject({ path: 'db.x', origins: ['a.org.', 'b.org.'], reload: 30_000 });
    expect(parsePlugin(file, 'file db.x', ['example.org.']).stanzas[0]).toMatchObject({ origins: ['example.org.'], reload: 60_000 });
    expect(parsePlugin(file, 'file db.x {\n reload 0\n}').stanzas[0]!.reload).toBe(0);
  });

  const bad: Array<[string, string]> = [
    ['file', 'Testfile:1'],
    ['file db.x {\n\n bogus 1\n}', "Testfile:3 - Error during parsing: plugin/file: unknown property 'bogus'"],
    ['file db.x {\n reload\n}', 'Testfile:2'],
    ['file db.x {\n reload 1x\n}', "Testfile:2 - Error during parsing: plugin/file: invalid duration '1x'"],
    ['file db.x {\n reload 1s 2s\n}', 'Testfile:2'],
  ];
  it.each(bad)('rejects %j', (text, want) => {
    expect(() => parsePlugin(file, text)).toThrow(CorefileError);
    expect(() => parsePlugin(file, text)).toThrow(want);
  });
});

describe('file: a CNAME whose target is outside the zone is resolved through the server (CoreDNS externalLookup)', () => {
  const { upstream, server } = scopedPerTest();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-file-ext-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const SOA_ORG = 'example.org. 300 IN SOA ns1.example.org. hostmaster.example.org. 1 7200 3600 1209600 300';
  const NS_ORG = ['example.org. 3600 IN NS ns1.example.org.'];

  async function start(): Promise<{ srv: TestServer; up: Upstream }> {
    fs.writeFileSync(
      path.join(dir, 'db.example.org'),
      `$ORIGIN example.org.
@ 300 IN SOA ns1 hostmaster 1 7200 3600 1209600 300
@ 3600 IN NS ns1
ns1 3600 IN A 192.0.2.1
ok 3600 IN CNAME target.example.net.
hop 3600 IN CNAME ok
nx 3600 IN CNAME gone.example.net.
sf 3600 IN CNAME broken.example.net.
loop 3600 IN CNAME loop.example.com.
`,
    );
    fs.writeFileSync(path.join(dir, 'db.example.com'), `$ORIGIN example.com.\n@ 300 IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ 3600 IN NS ns1\nloop 3600 IN CNAME loop.example.org.\n`);
    const up = await upstream();
    up.answer('target.example.net.', 'A', ['target.example.net. 60 IN A 198.51.100.7']);
    up.answer('target.example.net.', 'AAAA', { answers: [] });
    up.answer('broken.example.net.', 'A', { rcode: 2 });
    // Two blocks on one listener: the zones, and everything else forwarded.
    const srv = await server(
      `example.org:0 example.com:0 {\n bind 127.0.0.1\n file ${dir}/db.example.org example.org {\n  reload 0\n }\n file ${dir}/db.example.com example.com {\n  reload 0\n }\n}\n` +
        `.:0 {\n bind 127.0.0.1\n forward . ${up.addr} {\n  max_fails 0\n }\n}`,
    );
    return { srv, up };
  }

  it('appends the target\'s records, follows an in-zone chain first, and maps the target\'s rcode', async () => {
    const { srv, up } = await start();
    sortAndCheck((await srv.query('ok.example.org', 'A')).msg, {
      rcode: 'NOERROR',
      aa: true,
      answer: ['ok.example.org. 3600 IN CNAME target.example.net.', 'target.example.net. 60 IN A 198.51.100.7'],
      ns: NS_ORG,
    });
    sortAndCheck((await srv.query('hop.example.org', 'A')).msg, {
      rcode: 'NOERROR',
      answer: ['hop.example.org. 3600 IN CNAME ok.example.org.', 'ok.example.org. 3600 IN CNAME target.example.net.', 'target.example.net. 60 IN A 198.51.100.7'],
      ns: NS_ORG,
    });
    // the target exists without records of the type: NODATA, our SOA
    sortAndCheck((await srv.query('ok.example.org', 'AAAA')).msg, { rcode: 'NOERROR', aa: true, answer: ['ok.example.org. 3600 IN CNAME target.example.net.'], ns: [SOA_ORG] });
    // the target does not exist: NXDOMAIN with the CNAME, our SOA
    sortAndCheck((await srv.query('nx.example.org', 'A')).msg, { rcode: 'NXDOMAIN', aa: true, answer: ['nx.example.org. 3600 IN CNAME gone.example.net.'], ns: [SOA_ORG] });
    // the target's lookup fails: SERVFAIL, still with the CNAME (RFC 6604 §3)
    sortAndCheck((await srv.query('sf.example.org', 'A')).msg, { rcode: 'SERVFAIL', aa: true, answer: ['sf.example.org. 3600 IN CNAME broken.example.net.'], ns: NS_ORG });
    expect(up.seen('target.example.net.')).toBeGreaterThanOrEqual(2);
  });

  it('ends a CNAME loop across two zones with SERVFAIL instead of recursing for ever', async () => {
    const { srv } = await start();
    const r = await srv.query('loop.example.org', 'A', { tcp: true });
    expect(r.rcode).toBe(2);
    expect(r.msg.answers?.[0]).toMatchObject({ type: 'CNAME', name: 'loop.example.org', data: 'loop.example.com' });
  });
});
