import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, it, expect } from 'vitest';
import { parsePlugin, sortAndCheck, startServer, type TestServer } from '../../src/testing/index.js';
import { CorefileError } from '../../src/plugin/api.js';
import hosts from './index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-hosts-'));
const hostsFile = path.join(dir, 'hosts');
fs.writeFileSync(
  hostsFile,
  [
    '# a comment line',
    '127.0.0.1   localhost',
    '10.0.0.1    web.example.org   www.example.org   # trailing comment',
    '10.0.0.2    db.example.org',
    'fd00::2     db.example.org',
    '10.0.0.3    override.example.org',
    '192.0.2.9   outside.example.net',
    'not-an-ip   ignored.example.org',
    '',
  ].join('\n'),
);

describe('hosts over sockets', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer(`.:0 {
  bind 127.0.0.1
  hosts ${hostsFile} example.org {
    10.9.9.9 override.example.org
    fd00::99 inline.example.org
    ttl 300
    reload 200ms
    fallthrough sub.example.org
  }
  whoami
}`);
  });
  afterAll(async () => {
    await srv.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers A and AAAA from the file, authoritatively', async () => {
    sortAndCheck((await srv.query('web.example.org', 'A')).msg, { rcode: 'NOERROR', aa: true, answer: ['web.example.org. 300 IN A 10.0.0.1'] });
    const mixed = await srv.query('WWW.Example.ORG', 'A');
    sortAndCheck(mixed.msg, { rcode: 'NOERROR', aa: true, answer: ['www.example.org. 300 IN A 10.0.0.1'] });
    expect(mixed.msg.answers?.[0]?.name).toBe('WWW.Example.ORG'); // the qname as asked, as CoreDNS answers
    sortAndCheck((await srv.query('db.example.org', 'AAAA')).msg, { rcode: 'NOERROR', aa: true, answer: ['db.example.org. 300 IN AAAA fd00::2'] });
  });

  it('inline entries override the file and add names', async () => {
    sortAndCheck((await srv.query('override.example.org', 'A')).msg, { rcode: 'NOERROR', answer: ['override.example.org. 300 IN A 10.9.9.9'] });
    sortAndCheck((await srv.query('inline.example.org', 'AAAA')).msg, { rcode: 'NOERROR', answer: ['inline.example.org. 300 IN AAAA fd00::99'] });
  });

  it('generates PTR records for IPv4 and IPv6, even outside the zones', async () => {
    sortAndCheck((await srv.query('1.0.0.10.in-addr.arpa', 'PTR')).msg, {
      rcode: 'NOERROR',
      aa: true,
      answer: ['1.0.0.10.in-addr.arpa. 300 IN PTR web.example.org.', '1.0.0.10.in-addr.arpa. 300 IN PTR www.example.org.'],
    });
    const v6 = '2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa';
    sortAndCheck((await srv.query(v6, 'PTR')).msg, { rcode: 'NOERROR', answer: [`${v6}. 300 IN PTR db.example.org.`] });
    // inline addresses get PTR records too
    sortAndCheck((await srv.query('9.9.9.10.in-addr.arpa', 'PTR')).msg, { answer: ['9.9.9.10.in-addr.arpa. 300 IN PTR override.example.org.'] });
  });

  it('gives NODATA for a known name without records of the type, SERVFAIL for unknown names (CoreDNS: no SOA to deny with)', async () => {
    sortAndCheck((await srv.query('web.example.org', 'AAAA')).msg, { rcode: 'NOERROR', aa: true, answer: [], ns: [] });
    sortAndCheck((await srv.query('web.example.org', 'MX')).msg, { rcode: 'NOERROR', aa: true, answer: [] });
    sortAndCheck((await srv.query('ignored.example.org', 'A')).msg, { rcode: 'SERVFAIL', aa: false, answer: [] });
    sortAndCheck((await srv.query('nope.example.org', 'A')).msg, { rcode: 'SERVFAIL', answer: [] });
    sortAndCheck((await srv.query('nope.example.org', 'AAAA')).msg, { rcode: 'SERVFAIL', answer: [] });
  });

  it('passes names outside its zones to the next plugin', async () => {
    const r = await srv.query('outside.example.net', 'A');
    expect(r.msg.answers).toEqual([]);
    expect(r.msg.additionals?.some((a) => a.type === 'SRV')).toBe(true);
  });

  it('falls through to the next plugin in the fallthrough zones only', async () => {
    const r = await srv.query('x.sub.example.org', 'A');
    // whoami answered: the client's address and port in the additional section
    expect(r.rcode).toBe(0);
    expect(r.msg.answers).toEqual([]);
    expect(r.msg.additionals?.some((a) => a.type === 'A' && a.data === '127.0.0.1')).toBe(true);
  });

  it('passes unknown reverse names to the next plugin', async () => {
    const r = await srv.query('77.0.0.10.in-addr.arpa', 'PTR');
    expect(r.msg.additionals?.some((a) => a.type === 'SRV')).toBe(true);
  });

  it('picks up a changed hosts file', async () => {
    fs.appendFileSync(hostsFile, '10.0.0.50 fresh.example.org\n');
    // a different size and mtime: poll until the reload (200ms) has happened
    const deadline = Date.now() + 10_000;
    let got = -1;
    while (Date.now() < deadline) {
      const r = await srv.query('fresh.example.org', 'A');
      got = r.rcode;
      if (got === 0) {
        sortAndCheck(r.msg, { answer: ['fresh.example.org. 300 IN A 10.0.0.50'] });
        break;
      }
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(got).toBe(0);
    const text = await srv.metrics.registry.metrics();
    expect(text).toMatch(/coredns_hosts_entries \d+/);
    expect(text).toMatch(/coredns_hosts_reload_timestamp_seconds \d/);
  });
});

describe('hosts outside its zones and without reverse', () => {
  it('passes names outside its zones on, and makes no PTR with no_reverse', async () => {
    const srv = await startServer(`.:0 {
  bind 127.0.0.1
  hosts ${path.join(os.tmpdir(), 'typedns-no-such-hosts-file')} example.org {
    10.1.1.1 a.example.org a.example.net
    no_reverse
  }
  whoami
}`);
    try {
      sortAndCheck((await srv.query('a.example.org', 'A')).msg, { rcode: 'NOERROR', aa: true, answer: ['a.example.org. 3600 IN A 10.1.1.1'] });
      const out = await srv.query('a.example.net', 'A');
      expect(out.msg.answers).toEqual([]);
      expect(out.msg.additionals?.some((a) => a.type === 'SRV')).toBe(true);
      const ptr = await srv.query('1.1.1.10.in-addr.arpa', 'PTR');
      expect(ptr.msg.answers).toEqual([]);
      expect(ptr.msg.additionals?.some((a) => a.type === 'SRV')).toBe(true);
      expect(srv.log.lines.join('\n')).toContain('file does not exist');
    } finally {
      await srv.close();
    }
  });
});

describe('hosts parse', () => {
  it('reads defaults and options', () => {
    const c = parsePlugin(hosts, 'hosts', ['example.org.']);
    expect(c).toMatchObject({ path: '/etc/hosts', ttl: 3600, reverse: true, reload: 5000, inline: [] });
    expect(c.zones.list).toEqual(['example.org.']);
    const d = parsePlugin(hosts, 'hosts my.hosts a.org b.org {\n 10.0.0.1 x.a.org\n ttl 60\n reload 0\n no_reverse\n fallthrough\n}');
    expect(d).toMatchObject({ path: 'my.hosts', ttl: 60, reload: 0, reverse: false, inline: ['10.0.0.1 x.a.org'] });
    expect(d.zones.list).toEqual(['a.org.', 'b.org.']);
    expect(d.fall.through('anything.')).toBe(true);
  });

  const bad: Array<[string, string]> = [
    ['hosts {\n ttl\n}', 'Testfile:2'],
    ['hosts {\n ttl 0\n}', 'Testfile:2'],
    ['hosts {\n ttl 5 6\n}', 'Testfile:2'],
    ['hosts {\n reload soon\n}', 'Testfile:2'],
    ['hosts {\n\n bogus\n}', "Testfile:3 - Error during parsing: plugin/hosts: unknown property 'bogus'"],
    ['hosts {\n 10.0.0.1\n}', 'Testfile:2'],
    ['hosts {\n no_reverse x\n}', 'Testfile:2'],
  ];
  it.each(bad)('rejects %j', (text, want) => {
    expect(() => parsePlugin(hosts, text)).toThrow(CorefileError);
    expect(() => parsePlugin(hosts, text)).toThrow(want);
  });

  it('rejects a second hosts in one block', async () => {
    await expect(startServer('.:0 {\n bind 127.0.0.1\n hosts\n hosts\n}')).rejects.toThrow(/Corefile:4.*once/);
  });
});
