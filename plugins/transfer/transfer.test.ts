// transfer through real sockets: AXFR/IXFR of file zones over TCP (SOA first and last, messages up
// to 64 KB, compressed), REFUSED over UDP and to addresses outside `to`, NOTIFY to the `to`
// addresses at start and when a zone's serial changes, retried up to three times.
import { afterEach, describe, expect, it } from 'vitest';
import { startServer, waitFor, type TestServer } from '../../src/testing/index.js';
import { fakeSecondary, transferFrom } from './xfr-client.js';
import { zoneFilesPerTest } from '../../test/support/zone-files.js';

const servers: TestServer[] = [];
const closers: Array<() => void> = [];
afterEach(async () => {
  while (servers.length) await servers.pop()!.close();
  while (closers.length) closers.pop()!();
});
const { zoneFile, put } = zoneFilesPerTest('typedns-xfr-');

const small = (serial: number, www = '192.0.2.80'): string =>
  `$ORIGIN example.org.\n$TTL 3600\n@ IN SOA ns1 hostmaster ${serial} 7200 3600 1209600 300\n  IN NS ns1\n  IN MX 10 mail\nns1 IN A 192.0.2.53\nmail IN A 192.0.2.25\nwww IN A ${www}\nwww IN AAAA 2001:db8::80\n_sip._tcp IN SRV 0 5 5060 www\ntxt IN TXT "hello world"\n`;

function big(n: number): string {
  const lines = ['$ORIGIN big.example.', '$TTL 300', '@ IN SOA ns hostmaster 7 7200 3600 1209600 300', '@ IN NS ns', 'ns IN A 192.0.2.53'];
  for (let i = 0; i < n; i++) lines.push(`host-${i}.dept-${i % 50} IN A 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  return `${lines.join('\n')}\n`;
}

async function serve(body: string): Promise<TestServer> {
  const srv = await startServer(body);
  servers.push(srv);
  return srv;
}

describe('AXFR', () => {
  it('a file zone: SOA first and last, every record once, AA', async () => {
    const db = zoneFile(small(2024010101));
    const srv = await serve(`example.org:0 {\n bind 127.0.0.1\n file ${db}\n transfer {\n  to *\n }\n}`);
    const r = await transferFrom(srv.port, 'example.org.');
    expect(r.rcode).toBe(0);
    expect(r.msgs).toHaveLength(1);
    expect(r.msgs[0]!.flags! & 0x0400).toBe(0x0400);
    expect(r.records[0]).toMatchObject({ type: 'SOA', name: 'example.org', data: { serial: 2024010101 } });
    expect(r.records.at(-1)).toMatchObject({ type: 'SOA', name: 'example.org', data: { serial: 2024010101 } });
    const body = r.records.slice(1, -1).map((a) => `${a.name} ${a.type}`);
    expect(body.sort()).toEqual(['_sip._tcp.example.org SRV', 'example.org MX', 'example.org NS', 'mail.example.org A', 'ns1.example.org A', 'txt.example.org TXT', 'www.example.org A', 'www.example.org AAAA']);
  });

  it('a 30,000-record zone: several messages, each under 64 KB and compressed, the records complete', async () => {
    const n = 30_000;
    const db = zoneFile(big(n));
    const srv = await serve(`big.example:0 {\n bind 127.0.0.1\n file ${db}\n transfer {\n  to 127.0.0.1\n }\n}`);
    const r = await transferFrom(srv.port, 'big.example.', 'AXFR', { timeout: 60_000 });
    expect(r.rcode).toBe(0);
    expect(r.records).toHaveLength(n + 4); // SOA NS A … SOA
    expect(r.records[0]!.type).toBe('SOA');
    expect(r.records.at(-1)!.type).toBe('SOA');
    expect(r.records.filter((a) => a.type === 'SOA')).toHaveLength(2);
    expect(new Set(r.records.slice(1, -1).map((a) => a.name)).size).toBe(n + 2); // apex (NS), ns, the hosts
    expect(r.msgs.length).toBeGreaterThan(2);
    for (const s of r.sizes) expect(s).toBeLessThanOrEqual(65_535);
    // packed: all but the last message are well over half full; compressed: fewer bytes than the records' own names
    for (const s of r.sizes.slice(0, -1)) expect(s).toBeGreaterThan(32_768);
    const uncompressed = r.records.reduce((t, a) => t + a.name.length + 2 + 10 + 4, 0);
    expect(r.sizes.reduce((a, b) => a + b, 0)).toBeLessThan(uncompressed * 0.75);
    expect(srv.log.lines.some((l) => l.includes(`Outgoing transfer of ${n + 4} records of zone "big.example." to 127.0.0.1 for 7 SOA serial`))).toBe(true);
  });

  it('over UDP: REFUSED', async () => {
    const db = zoneFile(small(1));
    const srv = await serve(`example.org:0 {\n bind 127.0.0.1\n file ${db}\n transfer {\n  to *\n }\n}`);
    const r = await transferFrom(srv.port, 'example.org.', 'AXFR', { udp: true });
    expect(r.rcode).toBe(5);
    expect(r.records).toHaveLength(0);
  });

  it('to an address outside `to`: REFUSED; an address or range inside: the zone', async () => {
    const db = zoneFile(small(1));
    const srv = await serve(`example.org:0 {\n bind 127.0.0.1\n file ${db}\n transfer {\n  to 127.0.0.1 10.0.0.0/8\n }\n}`);
    const no = await transferFrom(srv.port, 'example.org.', 'AXFR', { source: '127.0.0.2' });
    expect(no.rcode).toBe(5);
    expect(no.records).toHaveLength(0);
    const yes = await transferFrom(srv.port, 'example.org.', 'AXFR', { source: '127.0.0.1' });
    expect(yes.records).toHaveLength(10);
    const srv2 = await serve(`example.org:0 {\n bind 127.0.0.1\n file ${db}\n transfer {\n  to 127.0.0.0/30\n }\n}`);
    expect((await transferFrom(srv2.port, 'example.org.', 'AXFR', { source: '127.0.0.2' })).records).toHaveLength(10);
    expect((await transferFrom(srv2.port, 'example.org.', 'AXFR', { source: '127.0.0.5' })).rcode).toBe(5);
  });

  it('without the transfer plugin: REFUSED (file), as CoreDNS', async () => {
    const db = zoneFile(small(1));
    const srv = await serve(`example.org:0 {\n bind 127.0.0.1\n file ${db}\n}`);
    const r = await transferFrom(srv.port, 'example.org.');
    expect(r.rcode).toBe(5);
  });
});

describe('IXFR', () => {
  it('a client with our serial or a newer one gets the SOA alone; an older one the whole zone', async () => {
    const db = zoneFile(small(100));
    const srv = await serve(`example.org:0 {\n bind 127.0.0.1\n file ${db}\n transfer {\n  to *\n }\n}`);
    for (const serial of [100, 101]) {
      const r = await transferFrom(srv.port, 'example.org.', 'IXFR', { serial });
      expect(r.msgs).toHaveLength(1);
      expect(r.records).toHaveLength(1);
      expect(r.records[0]).toMatchObject({ type: 'SOA', data: { serial: 100 } });
    }
    const full = await transferFrom(srv.port, 'example.org.', 'IXFR', { serial: 99 });
    expect(full.records).toHaveLength(10);
    expect(full.records[0]!.type).toBe('SOA');
    expect(full.records.at(-1)!.type).toBe('SOA');
  });
});

describe('NOTIFY', () => {
  it('sent to the `to` addresses with a port at start and when the serial changes; not to * or ranges', async () => {
    const sec = await fakeSecondary();
    closers.push(sec.close);
    const db = zoneFile(small(1));
    const srv = await serve(`example.org:0 {\n bind 127.0.0.1\n debug\n file ${db} {\n  reload 50ms\n }\n transfer {\n  to * 10.0.0.0/8 127.0.0.1:${sec.port}\n }\n}`);
    await waitFor(() => sec.notifies.length === 1, { what: 'the start-up NOTIFY' });
    expect(sec.notifies[0]).toEqual({ zone: 'example.org', opcode: 4, aa: true });
    put(db, small(2, '192.0.2.81'));
    await waitFor(() => sec.notifies.length === 2, { what: 'the NOTIFY after the new serial' });
    await waitFor(() => srv.log.lines.some((l) => l.includes('Sent notifies for zone "example.org." to * 10.0.0.0/8 127.0.0.1:')), { what: 'the debug line' });
  });

  it('retried until answered, at most three times; then a warning', { timeout: 20_000 }, async () => {
    const flaky = await fakeSecondary((n) => n <= 2); // the first two go unanswered
    const dead = await fakeSecondary(() => true);
    closers.push(flaky.close, dead.close);
    const db = zoneFile(small(1));
    const srv = await serve(`example.org:0 {\n bind 127.0.0.1\n file ${db}\n transfer {\n  to 127.0.0.1:${flaky.port} 127.0.0.1:${dead.port}\n }\n}`);
    await waitFor(() => flaky.notifies.length === 1, { timeout: 10_000, what: 'the third try answered' });
    expect(flaky.seen).toBe(3);
    await waitFor(() => srv.log.lines.some((l) => l.includes(`Failed sending notifies: notify for zone "example.org." was not accepted by "127.0.0.1:${dead.port}": no reply`)), { timeout: 12_000, what: 'the warning' });
    expect(dead.seen).toBe(3);
    expect(srv.log.lines.some((l) => l.includes(`127.0.0.1:${flaky.port}": `))).toBe(false);
  });
});
