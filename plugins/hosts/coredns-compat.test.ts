// CoreDNS's own hosts-plugin expectations (plugin/hosts: hosts_test.go, hostsfile_test.go,
// setup_test.go) replayed against typedns: the hosts data is CoreDNS's test data, served by a real
// server from a file on disk, and the answers compared with what CoreDNS expects.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parsePlugin, sortAndCheck, startServer, type Case } from '../../src/testing/index.js';
import hosts from './index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-hosts-compat-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

interface T extends Case {
  q: string;
  t: string;
}

/** Serve `text` as a hosts file (zone `.`) and check every case. */
async function replay(text: string, cases: T[], extra = ''): Promise<void> {
  const f = path.join(dir, `hosts${Math.random().toString(36).slice(2)}`);
  fs.writeFileSync(f, text);
  const srv = await startServer(`.:0 {\n  bind 127.0.0.1\n  hosts ${f} {\n    reload 0\n${extra}  }\n}\n`);
  try {
    for (const c of cases) {
      const r = await srv.query(c.q, c.t);
      try {
        sortAndCheck(r.msg, { rcode: 'NOERROR', answer: [], ...c });
      } catch (e) {
        throw new Error(`${c.q} ${c.t}: ${(e as Error).message}`);
      }
    }
  } finally {
    await srv.close();
  }
}

describe('CoreDNS hosts_test.go', () => {
  const hostsExample = `
127.0.0.1 localhost localhost.domain
::1 localhost localhost.domain
10.0.0.1 example.org
::FFFF:10.0.0.2 example.com
`;
  it('answers A, AAAA, PTR and NODATA as CoreDNS does', async () => {
    await replay(hostsExample, [
      { q: 'example.org.', t: 'A', aa: true, answer: ['example.org. 3600 IN A 10.0.0.1'] },
      // an IPv4-mapped IPv6 address is an IPv4 address (as Go's net.ParseIP(...).To4() sees it)
      { q: 'example.com.', t: 'A', answer: ['example.com. 3600 IN A 10.0.0.2'] },
      { q: 'example.com.', t: 'AAAA', answer: [] },
      { q: 'localhost.', t: 'AAAA', answer: ['localhost. 3600 IN AAAA ::1'] },
      { q: '1.0.0.10.in-addr.arpa.', t: 'PTR', answer: ['1.0.0.10.in-addr.arpa. 3600 IN PTR example.org.'] },
      { q: '2.0.0.10.in-addr.arpa.', t: 'PTR', answer: ['2.0.0.10.in-addr.arpa. 3600 IN PTR example.com.'] },
      { q: '1.0.0.127.in-addr.arpa.', t: 'PTR', answer: ['1.0.0.127.in-addr.arpa. 3600 IN PTR localhost.', '1.0.0.127.in-addr.arpa. 3600 IN PTR localhost.domain.'] },
      { q: 'example.org.', t: 'AAAA', aa: true, answer: [] },
      { q: 'example.org.', t: 'MX', aa: true, answer: [] },
      // A name that is not in the data: SERVFAIL, as CoreDNS (a hosts file has no SOA to deny with).
      { q: 'not-there.example.org.', t: 'A', rcode: 'SERVFAIL' },
    ]);
  });
});

describe('CoreDNS hostsfile_test.go', () => {
  const hostsText = `255.255.255.255\tbroadcasthost
\t127.0.0.2\todin
\t127.0.0.3\todin  # inline comment
\t::2             odin
\t127.1.1.1\tthor
\t# aliases
\t127.1.1.2\tullr ullrhost
\tfe80::1%lo0\tlocalhost
\t# Bogus entries that must be ignored.
\t123.123.123\tloki
\t321.321.321.321`;
  const ipv4hosts = `# See https://tools.ietf.org/html/rfc1123.
\t#

\t# internet address and host name
\t127.0.0.1\tlocalhost\t# inline comment separated by tab
\t127.0.0.2\tlocalhost       # inline comment separated by space

\t# internet address, host name and aliases
\t127.0.0.3\tlocalhost\tlocalhost.localdomain`;
  const ipv6hosts = `# See https://tools.ietf.org/html/rfc5952, https://tools.ietf.org/html/rfc4007.

\t# internet address and host name
\t::1\t\t\t\t\t\tlocalhost\t# inline comment separated by tab
\tfe80:0000:0000:0000:0000:0000:0000:0001\t\tlocalhost       # inline comment separated by space

\t# internet address with zone identifier and host name
\tfe80:0000:0000:0000:0000:0000:0000:0002%lo0\tlocalhost

\t# internet address, host name and aliases
\tfe80::3%lo0\t\t\t\t\tlocalhost\tlocalhost.localdomain`;
  const casehosts = `127.0.0.1\tPreserveMe\tPreserveMe.local
\t\t::1\t\tPreserveMe\tPreserveMe.local`;

  const v4 = (n: string, ips: string[]): T[] =>
    [n, n.toLowerCase(), n.toUpperCase()].map((q) => ({ q, t: 'A', answer: ips.map((ip) => `${n.toLowerCase()} 3600 IN A ${ip}`) }));
  const v6 = (n: string, ips: string[]): T[] =>
    [n, n.toUpperCase()].map((q) => ({ q, t: 'AAAA', answer: ips.map((ip) => `${n.toLowerCase()} 3600 IN AAAA ${ip}`) }));
  const ptr = (rev: string, names: string[]): T => ({ q: rev, t: 'PTR', answer: names.map((n) => `${rev} 3600 IN PTR ${n}`) });

  it('lookupStaticHost / lookupStaticAddr: the hosts file with comments, aliases, zones and junk', async () => {
    await replay(hostsText, [
      ...v4('odin.', ['127.0.0.2', '127.0.0.3']),
      ...v6('odin.', ['::2']),
      ...v4('thor.', ['127.1.1.1']),
      ...v6('thor.', []),
      ...v4('ullr.', ['127.1.1.2']),
      ...v4('ullrhost.', ['127.1.1.2']),
      ...v4('localhost.', []),
      ...v6('localhost.', ['fe80::1']),
      { q: 'loki.', t: 'A', rcode: 'SERVFAIL' },
      ptr('255.255.255.255.in-addr.arpa.', ['broadcasthost.']),
      ptr('2.0.0.127.in-addr.arpa.', ['odin.']),
      ptr('3.0.0.127.in-addr.arpa.', ['odin.']),
      ptr('2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.', ['odin.']),
      ptr('1.1.1.127.in-addr.arpa.', ['thor.']),
      ptr('2.1.1.127.in-addr.arpa.', ['ullr.', 'ullrhost.']),
      ptr('1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.e.f.ip6.arpa.', ['localhost.']),
    ]);
  });

  it('a single line file', async () => {
    await replay('127.0.0.2  odin', [...v4('odin.', ['127.0.0.2']), ptr('2.0.0.127.in-addr.arpa.', ['odin.'])]);
  });

  it('IPv4 entries with comments and aliases', async () => {
    await replay(ipv4hosts, [
      ...v4('localhost.', ['127.0.0.1', '127.0.0.2', '127.0.0.3']),
      ...v4('localhost.localdomain.', ['127.0.0.3']),
      ptr('1.0.0.127.in-addr.arpa.', ['localhost.']),
      ptr('2.0.0.127.in-addr.arpa.', ['localhost.']),
      ptr('3.0.0.127.in-addr.arpa.', ['localhost.', 'localhost.localdomain.']),
    ]);
  });

  it('IPv6 entries in full and short form, with zone identifiers', async () => {
    const rev = (last: string) => `${last}.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.e.f.ip6.arpa.`;
    await replay(ipv6hosts, [
      ...v6('localhost.', ['::1', 'fe80::1', 'fe80::2', 'fe80::3']),
      ...v6('localhost.localdomain.', ['fe80::3']),
      ptr('1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.', ['localhost.']),
      ptr(rev('1'), ['localhost.']),
      ptr(rev('2'), ['localhost.']),
      ptr(rev('3'), ['localhost.', 'localhost.localdomain.']),
    ]);
  });

  it('one address written two ways is one entry; an IPv4-mapped address is IPv4', async () => {
    await replay('fe80::1 a.example\nfe80:0000:0000:0000:0000:0000:0000:0001 a.example\n::ffff:192.0.2.1 a.example\n', [
      { q: 'a.example.', t: 'AAAA', answer: ['a.example. 3600 IN AAAA fe80::1'] },
      { q: 'a.example.', t: 'A', answer: ['a.example. 3600 IN A 192.0.2.1'] },
    ]);
  });

  it('names match case-insensitively and are answered lower-cased (as CoreDNS normalises them)', async () => {
    await replay(casehosts, [
      ...v4('PreserveMe.', ['127.0.0.1']),
      ...v6('PreserveMe.local.', ['::1']),
      ptr('1.0.0.127.in-addr.arpa.', ['preserveme.', 'preserveme.local.']),
    ]);
  });
});

describe('CoreDNS setup_test.go', () => {
  const parse = (text: string, zones: readonly string[] = ['.']) => parsePlugin(hosts, text, zones);
  it('TestHostsParse: file, zones (a CIDR becomes its reverse zone), fallthrough', () => {
    expect(parse('hosts\n')).toMatchObject({ path: '/etc/hosts' });
    expect(parse('hosts\n').zones.list).toEqual(['.']);
    expect(parse('hosts /tmp')).toMatchObject({ path: '/tmp' });
    expect(parse('hosts /etc/hosts miek.nl.').zones.list).toEqual(['miek.nl.']);
    expect(parse('hosts /etc/hosts miek.nl. pun.gent.').zones.list).toEqual(['miek.nl.', 'pun.gent.']);
    const f = parse('hosts {\n fallthrough\n}');
    expect(f.path).toBe('/etc/hosts');
    expect(f.fall.through('anything.example.')).toBe(true);
    expect(parse('hosts /tmp {\n fallthrough\n}').fall.through('x.')).toBe(true);
    const c = parse('hosts /etc/hosts miek.nl 10.0.0.9/8 {\n fallthrough\n}');
    expect(c.zones.list).toEqual(['miek.nl.', '10.in-addr.arpa.']);
    expect(parse('hosts /etc/hosts').fall.through('x.')).toBe(false);
  });

  it('TestHostsParse: hosts twice in one server block is an error', async () => {
    await expect(startServer('.:0 {\n  bind 127.0.0.1\n  hosts /etc/hosts {\n    fallthrough\n  }\n  hosts /etc/hosts {\n    fallthrough\n  }\n}\n')).rejects.toThrow(/hosts/);
  });

  it('TestHostsInlineParse: inline entries with and without fallthrough', () => {
    const a = parse('hosts highly_unlikely_to_exist_hosts_file example.org {\n  10.0.0.1 example.org\n  fallthrough\n}');
    expect(a.inline).toEqual(['10.0.0.1 example.org']);
    expect(a.fall.through('x.example.org.')).toBe(true);
    const b = parse('hosts highly_unlikely_to_exist_hosts_file example.org {\n  10.0.0.1 example.org\n}');
    expect(b.inline).toEqual(['10.0.0.1 example.org']);
    expect(b.fall.through('x.example.org.')).toBe(false);
    // Deliberate difference: CoreDNS rejects an inline entry after `fallthrough` ("unknown
    // property"); typedns accepts entries anywhere in the block (see the README).
    const c = parse('hosts highly_unlikely_to_exist_hosts_file example.org {\n  fallthrough\n  10.0.0.1 example.org\n}');
    expect(c.inline).toEqual(['10.0.0.1 example.org']);
    // a line that is neither a property nor an address is still an error
    expect(() => parse('hosts {\n  fallthrough\n  bogus example.org\n}')).toThrow(/bogus/);
  });
});
