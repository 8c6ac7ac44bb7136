// secondary through real sockets, with a typedns primary (file + transfer) on 127.0.0.1: the zone
// pulled at start (retried while the primary is down), NOTIFY from the primary acted on and from
// anyone else dropped, the refresh timer, the old copy served while the primary is gone and
// SERVFAIL once the zone expired, and the zone transferred on (transfer in the secondary's block).
import { afterEach, describe, expect, it } from 'vitest';
import { exchangeRaw, freePort, startServer, waitFor, type TestServer } from '../../src/testing/index.js';
import { notifyMessage } from '../transfer/notify.js';
import { fakeSecondary, transferFrom } from '../transfer/xfr-client.js';
import { zoneFilesPerTest } from '../../test/support/zone-files.js';

const servers: TestServer[] = [];
const closers: Array<() => void> = [];
afterEach(async () => {
  while (servers.length) await servers.pop()!.close();
  while (closers.length) closers.pop()!();
});
const { zoneFile, put } = zoneFilesPerTest('typedns-secondary-');

/** A zone with SOA timers refresh/retry/expire (seconds). */
const zone = (serial: number, www: string, t: [number, number, number] = [3600, 600, 86400]): string =>
  `$ORIGIN example.org.\n$TTL 300\n@ IN SOA ns1 hostmaster ${serial} ${t[0]} ${t[1]} ${t[2]} 60\n  IN NS ns1\nns1 IN A 192.0.2.53\nwww IN A ${www}\nalias IN CNAME www\n`;

async function start(body: string): Promise<TestServer> {
  const srv = await startServer(body);
  servers.push(srv);
  return srv;
}

const primaryBlock = (port: number, db: string, extra = ''): string => `example.org:${port} {\n bind 127.0.0.1\n file ${db} {\n  reload 50ms\n }\n transfer {\n  to * ${extra}\n }\n}`;
const secondaryBlock = (primaryPort: number, extra = '', port = 0): string => `example.org:${port} {\n bind 127.0.0.1\n secondary {\n  transfer from 127.0.0.1:${primaryPort}\n }\n${extra}}`;

const wwwOf = async (srv: TestServer): Promise<string | undefined> => {
  const r = await srv.query('www.example.org', 'A');
  const a = r.msg.answers?.find((x) => x.type === 'A');
  return a?.type === 'A' ? a.data : r.rcode === 0 ? undefined : `rcode ${r.rcode}`;
};

describe('secondary', () => {
  it('pulls the zone at start (retrying while the primary is down) and serves it authoritatively', async () => {
    const pport = await freePort();
    const sec = await start(secondaryBlock(pport));
    // no primary yet: SERVFAIL, and the start-up transfer is retried
    expect(await wwwOf(sec)).toBe('rcode 2');
    await waitFor(() => sec.log.lines.some((l) => l.includes("All 'example.org.' masters failed to transfer, retrying in")), { what: 'a failed first try' });
    await start(primaryBlock(pport, zoneFile(zone(1, '192.0.2.80'))));
    await waitFor(async () => (await wwwOf(sec)) === '192.0.2.80', { timeout: 10_000, what: 'the zone transferred' });
    const r = await sec.query('alias.example.org', 'A');
    expect(r.msg.flags! & 0x0400).toBe(0x0400);
    expect(r.msg.answers?.map((a) => a.type)).toEqual(['CNAME', 'A']);
    const nx = await sec.query('nope.example.org', 'A');
    expect(nx.rcode).toBe(3);
    expect(nx.msg.authorities?.[0]).toMatchObject({ type: 'SOA', data: { serial: 1 } });
    // AXFR of a secondary zone without the transfer plugin: REFUSED
    expect((await transferFrom(sec.port, 'example.org.')).rcode).toBe(5);
  });

  it('a NOTIFY from the primary brings a changed record at once (refresh is an hour)', async () => {
    const pport = await freePort();
    const db = zoneFile(zone(1, '192.0.2.80'));
    const sec = await start(secondaryBlock(pport));
    const prim = await start(primaryBlock(pport, db, `127.0.0.1:${sec.port}`));
    await waitFor(async () => (await wwwOf(sec)) === '192.0.2.80', { timeout: 10_000, what: 'the first transfer' });
    put(db, zone(2, '192.0.2.81'));
    await waitFor(async () => (await wwwOf(sec)) === '192.0.2.81', { timeout: 10_000, what: 'the change after NOTIFY' });
    expect(sec.log.lines.some((l) => /Notify from 127\.0\.0\.1 for example\.org\.: checking transfer/.test(l))).toBe(true);
    expect(prim.log.lines.some((l) => l.includes('Failed sending notifies'))).toBe(false);
  });

  it('answers a NOTIFY from a primary address (opcode NOTIFY, AA, NOERROR) and drops one from any other address', async () => {
    const pport = await freePort();
    const sec = await start(secondaryBlock(pport));
    const ok = await exchangeRaw(sec.port, notifyMessage('example.org.', 77), {});
    expect(ok).toBeDefined();
    expect(ok!.readUInt16BE(0)).toBe(77);
    expect((ok![2]! >> 3) & 0xf).toBe(4);
    expect(ok![2]! & 0x84).toBe(0x84); // QR AA
    expect(ok![3]! & 0xf).toBe(0);
    const dropped = await exchangeRaw(sec.port, notifyMessage('example.org.', 78), { source: '127.0.0.2', timeout: 500 });
    expect(dropped).toBeUndefined();
    expect(sec.log.lines.some((l) => l.includes('Dropping notify from 127.0.0.2 for example.org.'))).toBe(true);
  });

  it('refresh: a change on the primary is picked up within the SOA refresh, without NOTIFY', async () => {
    const pport = await freePort();
    const db = zoneFile(zone(1, '192.0.2.80', [1, 1, 3600]));
    const sec = await start(secondaryBlock(pport));
    await start(primaryBlock(pport, db)); // `to *`: no NOTIFY target
    await waitFor(async () => (await wwwOf(sec)) === '192.0.2.80', { timeout: 10_000, what: 'the first transfer' });
    put(db, zone(2, '192.0.2.82', [1, 1, 3600]));
    await waitFor(async () => (await wwwOf(sec)) === '192.0.2.82', { timeout: 10_000, what: 'the refresh' });
  });

  it('keeps serving the old copy while the primary is gone, SERVFAIL after expire, serves again when it is back', { timeout: 30_000 }, async () => {
    const pport = await freePort();
    const db = zoneFile(zone(1, '192.0.2.80', [1, 1, 4]));
    const sec = await start(secondaryBlock(pport));
    let prim = await start(primaryBlock(pport, db));
    await waitFor(async () => (await wwwOf(sec)) === '192.0.2.80', { timeout: 10_000, what: 'the first transfer' });
    await prim.close();
    servers.splice(servers.indexOf(prim), 1);
    await waitFor(() => sec.log.lines.some((l) => l.includes("Failed refresh check of 'example.org.'") || l.includes("Failed retry check of 'example.org.'")), { timeout: 10_000, what: 'a failed check' });
    expect(await wwwOf(sec)).toBe('192.0.2.80'); // the old copy
    await waitFor(async () => (await wwwOf(sec)) === 'rcode 2', { timeout: 15_000, what: 'the zone expired' });
    expect(sec.log.lines.some((l) => l.includes('Zone example.org. is expired'))).toBe(true);
    prim = await start(primaryBlock(pport, db));
    await waitFor(async () => (await wwwOf(sec)) === '192.0.2.80', { timeout: 10_000, what: 'serving again' });
  });

  it('a Corefile reload keeps the transferred copy answering, even with the primary gone', async () => {
    const pport = await freePort();
    const sport = await freePort();
    const sec = await start(secondaryBlock(pport, '', sport));
    const prim = await start(primaryBlock(pport, zoneFile(zone(3, '192.0.2.83'))));
    await waitFor(async () => (await wwwOf(sec)) === '192.0.2.83', { timeout: 10_000, what: 'the first transfer' });
    await prim.close();
    servers.splice(servers.indexOf(prim), 1);
    const text = `${secondaryBlock(pport, '', sport)}\n# reloaded\n`;
    expect(await sec.server.reload('test', { text, file: 'Corefile' })).toBe(true);
    expect(await wwwOf(sec)).toBe('192.0.2.83');
    await waitFor(() => sec.log.lines.some((l) => l.includes("Failed refresh check of 'example.org.'")), { timeout: 10_000, what: 'the new generation checking the (gone) primary' });
    expect(await wwwOf(sec)).toBe('192.0.2.83');
  });

  it('with transfer in its block: the secondary zone is transferred on, and its new serials notified', async () => {
    const pport = await freePort();
    const db = zoneFile(zone(5, '192.0.2.80'));
    const down = await fakeSecondary();
    closers.push(down.close);
    const sec = await start(secondaryBlock(pport, ` transfer {\n  to 127.0.0.1:${down.port}\n }\n`));
    const prim = await start(primaryBlock(pport, db, `127.0.0.1:${sec.port}`));
    await waitFor(async () => (await wwwOf(sec)) === '192.0.2.80', { timeout: 10_000, what: 'the first transfer' });
    const r = await transferFrom(sec.port, 'example.org.');
    expect(r.records[0]).toMatchObject({ type: 'SOA', data: { serial: 5 } });
    expect(r.records).toHaveLength(6);
    await waitFor(() => down.notifies.length >= 1, { what: 'NOTIFY downstream after the first transfer' });
    const before = down.notifies.length;
    put(db, zone(6, '192.0.2.81'));
    await waitFor(() => down.notifies.length > before, { timeout: 10_000, what: 'NOTIFY downstream after the new serial' });
    expect(prim.port).toBe(pport);
  });

  it('names whose label bytes are no printable ASCII (\\255, \\@, a dot in a label) keep their bytes through the transfer', async () => {
    const pport = await freePort();
    const odd = `${zone(1, '192.0.2.80')}\\255x IN A 192.0.2.1\na\\@b IN A 192.0.2.2\na\\.b IN A 192.0.2.3\nsp\\032ace IN A 192.0.2.4\n`;
    await start(primaryBlock(pport, zoneFile(odd)));
    const sec = await start(secondaryBlock(pport));
    await waitFor(async () => (await wwwOf(sec)) === '192.0.2.80', { timeout: 10_000, what: 'the zone transferred' });
    for (const [name, addr] of [
      ['\\255x.example.org', '192.0.2.1'],
      ['a\\@b.example.org', '192.0.2.2'],
      ['a\\.b.example.org', '192.0.2.3'],
      ['sp\\032ace.example.org', '192.0.2.4'],
    ]) {
      const r = await sec.query(name!, 'A');
      expect(r.rcode, name).toBe(0);
      expect(r.msg.answers?.map((a) => [a.name, a.type === 'A' ? a.data : a.type]), name).toEqual([[name, addr]]);
    }
  });
});

describe('secondary parse', () => {
  it('transfer to is refused with a pointer to the transfer plugin', async () => {
    await expect(startServer('example.org:0 {\n secondary {\n  transfer to 127.0.0.1\n }\n}')).rejects.toThrow(/unknown property to \(outgoing transfers are the transfer plugin's/);
  });
});

