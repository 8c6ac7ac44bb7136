// CoreDNS's secondary tests (plugin/secondary/setup_test.go; plugin/file: secondary_test.go,
// xfr_test.go) as data, replayed through real servers: the primary of secondary_test.go (SOA
// serial 250, its AXFR of SOA A A SOA in one message) is a test plugin of a typedns server on
// 127.0.0.1, and typedns's secondary pulls from it.
// Rows: setup_test 3; TestLess 4, TestShouldTransfer 3, TestTransferIn 1, TestIsNotify 2;
// TestAXFRWithOutTransferPlugin 1, ExampleZone_All 1 = 15.
import { afterAll, describe, expect, it } from 'vitest';
import { definePlugin, QTYPE, RCODE, rr } from '../../src/plugin/api.js';
import { exchangeRaw, parsePlugin, startServer, waitFor, type TestServer } from '../../src/testing/index.js';
import secondary from './index.js';
import { soaSerial } from './client.js';
import { serialLess } from '../transfer/transfer.js';
import { notifyMessage } from '../transfer/notify.js';
import { transferFrom } from '../transfer/xfr-client.js';

const testZone = 'secondary.miek.nl.';
const soaOf = (serial: number) => rr(`${testZone} 3600 IN SOA bla. bla. ${serial} 0 0 0 0`);

/** secondary_test.go's soa.Handler: SOA → the SOA; AXFR → SOA A A SOA in one message. */
const primary = definePlugin<{ serial: number }>({
  name: 'soaprimary',
  api: '^1',
  position: { before: 'hosts' },
  parse(d) {
    d.next();
    return { serial: Number(d.arg()) };
  },
  setup(cfg) {
    return {
      serve(req, w) {
        if (req.qtype === QTYPE.SOA) w.write({ type: 'response', flags: 0, answers: [soaOf(cfg.serial)] });
        else if (req.qtype === QTYPE.AXFR) w.write({ type: 'response', flags: 0, answers: [soaOf(cfg.serial), rr(`${testZone} 3600 IN A 127.0.0.1`), rr(`${testZone} 3600 IN A 127.0.0.1`), soaOf(cfg.serial)] });
        return RCODE.NOERROR;
      },
    };
  },
});

const servers: TestServer[] = [];
afterAll(async () => {
  while (servers.length) await servers.pop()!.close();
});
async function start(text: string): Promise<TestServer> {
  const s = await startServer(text, { plugins: [primary] });
  servers.push(s);
  return s;
}

describe('secondary/setup_test.go TestSecondaryParse', () => {
  const rows: Array<[string, string, string[]]> = [
    ['secondary', '', []],
    ['secondary {\n transfer from 127.0.0.1\n}', '127.0.0.1:53', []],
    ['secondary example.org {\n transfer from 127.0.0.1\n}', '127.0.0.1:53', ['example.org.']],
  ];
  it.each(rows)('%s', (text, from, zones) => {
    const cfg = parsePlugin(secondary, text, ['.']);
    zones.forEach((z, i) => expect(cfg.zones[i]!.origin).toBe(z));
    for (const z of cfg.zones) if (from !== '') expect(`${z.from[0]!.host}:${z.from[0]!.port}`).toBe(from);
  });
});

describe('file/secondary_test.go', () => {
  it.each([
    [0, 4294967295, false],
    [4294967295, 0, true],
    [4000000000, 12345, true],
    [7, 9, true],
  ])('TestLess(%d, %d) = %s', (a, b, want) => {
    expect(serialLess(a, b)).toBe(want);
  });

  it('TestShouldTransfer: no SOA yet → transfer; ours 249 < 250 → transfer; ours 250 → none (the serial asked over TCP)', async () => {
    const p = await start('.:0 {\n bind 127.0.0.1\n soaprimary 250\n}');
    const remote = await soaSerial({ host: '127.0.0.1', port: p.port }, testZone);
    expect(remote).toBe(250);
    const should = (ours: number | undefined): boolean => ours === undefined || serialLess(ours, remote!);
    expect(should(undefined)).toBe(true);
    expect(should(249)).toBe(true);
    expect(should(250)).toBe(false);
  });

  it('TestTransferIn: the zone from the primary, SOA serial 250, the duplicate A kept once', async () => {
    const p = await start('.:0 {\n bind 127.0.0.1\n soaprimary 250\n}');
    const s = await start(`${testZone}:0 {\n bind 127.0.0.1\n secondary {\n  transfer from 127.0.0.1:${p.port}\n }\n}`);
    await waitFor(async () => (await s.query(testZone, 'SOA')).rcode === 0, { what: 'the transfer' });
    const r = await s.query(testZone, 'SOA');
    expect(r.msg.answers?.[0]).toMatchObject({ type: 'SOA', ttl: 3600, data: { mname: 'bla', serial: 250, refresh: 0 } });
    expect((await s.query(testZone, 'A')).msg.answers).toHaveLength(1);
  });

  it('TestIsNotify: from the primary address → accepted; from another → dropped', async () => {
    const s = await start(`${testZone}:0 {\n bind 127.0.0.1\n secondary {\n  transfer from 127.0.0.1:53\n }\n}`);
    const ok = await exchangeRaw(s.port, notifyMessage(testZone, 1), {});
    expect(ok![3]! & 0xf).toBe(0);
    expect(await exchangeRaw(s.port, notifyMessage(testZone, 2), { source: '127.0.0.2', timeout: 500 })).toBeUndefined();
  });
});

describe('file/xfr_test.go', () => {
  it('TestAXFRWithOutTransferPlugin: REFUSED', async () => {
    const p = await start('.:0 {\n bind 127.0.0.1\n soaprimary 250\n}');
    const s = await start(`${testZone}:0 {\n bind 127.0.0.1\n secondary {\n  transfer from 127.0.0.1:${p.port}\n }\n}`);
    await waitFor(async () => (await s.query(testZone, 'SOA')).rcode === 0, { what: 'the transfer' });
    expect((await transferFrom(s.port, testZone)).rcode).toBe(RCODE.REFUSED);
  });

  it('ExampleZone_All: every record of miek.nl once, SOA first (typedns keeps file order, CoreDNS tree order)', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-xfr-compat-'));
    try {
      const f = path.join(dir, 'db.miek.nl');
      fs.writeFileSync(
        f,
        '$TTL    30M\n$ORIGIN miek.nl.\n@ IN SOA linode.atoom.net. miek.miek.nl. ( 1282630057 4H 1H 7D 4H )\n IN NS linode.atoom.net.\n IN NS ns-ext.nlnetlabs.nl.\n IN NS omval.tednet.nl.\n IN NS ext.ns.whyscream.net.\n IN MX 1 aspmx.l.google.com.\n IN MX 5 alt1.aspmx.l.google.com.\n IN MX 5 alt2.aspmx.l.google.com.\n IN MX 10 aspmx2.googlemail.com.\n IN MX 10 aspmx3.googlemail.com.\n IN A 139.162.196.78\n IN AAAA 2a01:7e00::f03c:91ff:fef1:6735\na IN A 139.162.196.78\na IN AAAA 2a01:7e00::f03c:91ff:fef1:6735\nwww IN CNAME a\narchive IN CNAME a\n',
      );
      const s = await start(`miek.nl:0 {\n bind 127.0.0.1\n file ${f}\n transfer {\n  to *\n }\n}`);
      const r = await transferFrom(s.port, 'miek.nl.');
      const want = [
        'miek.nl. SOA', 'www.miek.nl. CNAME', 'miek.nl. NS', 'miek.nl. NS', 'miek.nl. NS', 'miek.nl. NS', 'miek.nl. MX', 'miek.nl. MX', 'miek.nl. MX', 'miek.nl. MX', 'miek.nl. MX',
        'miek.nl. A', 'miek.nl. AAAA', 'archive.miek.nl. CNAME', 'a.miek.nl. A', 'a.miek.nl. AAAA',
      ];
      const got = r.records.slice(0, -1).map((a) => `${a.name}. ${a.type}`);
      expect(got[0]).toBe('miek.nl. SOA');
      expect([...got].sort()).toEqual([...want].sort());
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
