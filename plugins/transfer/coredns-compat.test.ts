// CoreDNS's transfer tests (plugin/transfer: transfer_test.go, select_test.go,
// failed_write_test.go, setup_test.go) as data, replayed through real servers: the transferer
// plugin of transfer_test.go (a zone of SOA, NS, A at serial 12345) and its terminating
// NXDOMAIN plugin are test plugins of a typedns server, queried over TCP on 127.0.0.1.
// Rows: transfer_test 8, select_test 1, failed_write_test 1, setup_test 7 + 2, notify_test 1 = 20
// (TestNotifyMultipleFailures, TestTransferLargeRecordBatching: transfer.test.ts).
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { definePlugin, RCODE, rr, type RR } from '../../src/plugin/api.js';
import { parsePlugin, startServer, waitFor, type TestServer } from '../../src/testing/index.js';
import transfer from './index.js';
import type { Transferer, XfrZone } from './source.js';
import { fakeSecondary, transferFrom, xfrQuery } from './xfr-client.js';
import { zoneFilesPerTest } from '../../test/support/zone-files.js';

const SERIAL = 12345;
const soa = (z: string, serial = SERIAL): RR => rr(`${z} 100 IN SOA ns.dns.${z} hostmaster.${z} ${serial} 7200 1800 86400 100`);

/** transfer_test.go's transfererPlugin for each zone argument (and `big N`: N more A records, for a long transfer). */
const xfrtest = definePlugin<{ zones: string[]; big: number }>({
  name: 'xfrtest',
  api: '^1',
  position: { before: 'hosts' },
  parse(d) {
    d.next();
    const zones = d.remainingArgs();
    let big = 0;
    while (d.nextBlock()) if (d.val() === 'big') big = d.uint(0, 1_000_000);
    return { zones, big };
  },
  setup(cfg) {
    const zoneOf = (z: string): XfrZone => ({
      origin: z,
      soa: soa(z),
      serial: SERIAL,
      *records() {
        yield soa(z);
        yield rr(`${z} 100 IN NS ns.dns.${z}`);
        yield rr(`ns.dns.${z} 100 IN A 1.2.3.4`);
        for (let i = 0; i < cfg.big; i++) yield rr(`h${i}.${z} 100 IN A 10.0.${(i >> 8) & 255}.${i & 255}`);
      },
    });
    const t: Transferer = {
      xfrZone: (z) => (cfg.zones.includes(z) ? zoneOf(z) : undefined),
      xfrZones: () => cfg.zones,
      onXfrChange: () => {},
    };
    return {
      ...t,
      // the zone's own name: written as an empty NOERROR (CoreDNS returns 0); anything else the terminating NXDOMAIN
      serve: (req, w) => {
        if (cfg.zones.includes(req.name)) return RCODE.NOERROR;
        w.write({ type: 'response', flags: RCODE.NXDOMAIN, answers: [] });
        return RCODE.NXDOMAIN;
      },
    };
  },
});

const servers: TestServer[] = [];
afterAll(async () => {
  while (servers.length) await servers.pop()!.close();
});
async function server(body: string): Promise<TestServer> {
  const srv = await startServer(`.:0 {\n bind 127.0.0.1\n${body}\n}`, { plugins: [xfrtest] });
  servers.push(srv);
  return srv;
}

describe('transfer_test.go', () => {
  let srv: TestServer;
  beforeAll(async () => {
    // newTestTransfer: example.org. and example.com., both to *
    srv = await server(' xfrtest example.com. example.org.\n transfer example.org. {\n  to *\n }\n transfer example.com. {\n  to *\n }');
  });

  it.each(['sub.example.org.', 'example.test.'])('TestTransferNonZone: AXFR %s → NXDOMAIN from the next plugin', async (z) => {
    const r = await transferFrom(srv.port, z);
    expect(r.rcode).toBe(RCODE.NXDOMAIN);
  });

  it('TestTransferNotAXFRorIXFR: A test.domain. → NXDOMAIN', async () => {
    expect((await srv.query('test.domain.', 'A', { tcp: true })).rcode).toBe(RCODE.NXDOMAIN);
  });

  const validateAXFR = (r: Awaited<ReturnType<typeof transferFrom>>): void => {
    expect(r.msgs.length).toBeGreaterThan(0);
    expect(r.records[0]!.type).toBe('SOA');
    expect(r.records.at(-1)!.type).toBe('SOA');
    expect(r.records).toHaveLength(4);
  };

  it.each(['example.org.', 'example.com.'])('TestTransferAXFR %s: SOA first and last, 4 records', async (z) => {
    validateAXFR(await transferFrom(srv.port, z));
  });

  it('TestTransferIXFRCurrent: the SOA alone', async () => {
    const r = await transferFrom(srv.port, 'example.org.', 'IXFR', { serial: SERIAL });
    expect(r.msgs[0]!.answers).toHaveLength(1);
    expect(r.msgs[0]!.answers![0]!.type).toBe('SOA');
  });

  it('TestTransferIXFRFallback: serial - 1 → the whole zone', async () => {
    validateAXFR(await transferFrom(srv.port, 'example.org.', 'IXFR', { serial: SERIAL - 1 }));
  });

  it('TestTransferNotAllowed: to 1.2.3.4 → REFUSED', async () => {
    const s = await server(' xfrtest example.org.\n transfer example.org. {\n  to 1.2.3.4\n }');
    expect((await transferFrom(s.port, 'example.org.')).rcode).toBe(RCODE.REFUSED);
  });
});

describe('select_test.go', () => {
  it('TestZoneSelection: the longest zone of the stanzas picks `to`, the transferer of sub.example.org. answers', async () => {
    const s = await server(' xfrtest example.org. sub.example.org.\n transfer example.org. {\n  to 192.0.2.1\n }\n transfer sub.example.org. {\n  to *\n }');
    const r = await transferFrom(s.port, 'sub.example.org.');
    expect(r.rcode).toBe(0);
    expect(r.records[0]).toMatchObject({ type: 'SOA', name: 'sub.example.org' });
    expect((await transferFrom(s.port, 'example.org.')).rcode).toBe(RCODE.REFUSED);
  });
});

describe('failed_write_test.go', () => {
  it('TestWriteMessageFailed: the client goes away mid-transfer → the transfer fails and is logged', async () => {
    const s = await server(' xfrtest example.org. {\n  big 200000\n }\n transfer {\n  to *\n }');
    await new Promise<void>((resolve, reject) => {
      const sock = net.connect({ host: '127.0.0.1', port: s.port }, () => {
        const q = xfrQuery('example.org.', 'AXFR');
        sock.write(Buffer.concat([Buffer.from([q.length >> 8, q.length & 0xff]), q]));
      });
      sock.once('data', () => {
        sock.destroy();
        resolve();
      });
      sock.on('error', reject);
    });
    await waitFor(() => s.log.lines.some((l) => /Outgoing transfer of zone "example\.org\." to 127\.0\.0\.1 failed after \d+ records/.test(l)), { timeout: 20_000, what: 'the failed transfer logged' });
  });
});

describe('setup_test.go', () => {
  const ok: Array<[string, string[], Array<{ zones: string[]; to: string[]; source?: string }>]> = [
    [
      'transfer example.net example.org {\n to 1.2.3.4 5.6.7.8:1053 [1::2]:34\n source 2001:db8::53\n}\ntransfer example.com example.edu {\n to * 1.2.3.4\n}',
      [],
      [
        { zones: ['example.net.', 'example.org.'], to: ['1.2.3.4:53', '5.6.7.8:1053', '[1::2]:34'], source: '2001:db8::53' },
        { zones: ['example.com.', 'example.edu.'], to: ['*', '1.2.3.4:53'] },
      ],
    ],
    ['transfer {\n to 1.2.3.4 5.6.7.8:1053 [1::2]:34\n}', ['.'], [{ zones: ['.'], to: ['1.2.3.4:53', '5.6.7.8:1053', '[1::2]:34'] }]],
  ];
  it.each(ok)('TestParse ok: %s', (text, zones, want) => {
    const cfg = parsePlugin(transfer, text, zones.length ? zones : ['.']);
    expect(cfg.stanzas.map((s) => ({ zones: s.zones, to: s.to.map((t) => t.text), ...(s.source !== undefined ? { source: s.source } : {}) }))).toEqual(want);
  });

  const bad = [
    'transfer example.net example.org {\n}',
    'transfer example.net example.org {\n invalid option\n}',
    'transfer example.net example.org {\n to 1.2.3.4\n source example.org\n}',
    'transfer example.net example.org {\n to 1.2.3.4\n source 192.0.2.53\n source 2001:db8::53\n}',
    'transfer example.com example.edu {\n to example.com 1.2.3.4\n}',
  ];
  it.each(bad)('TestParse error, and a server refuses to start: %s', async (text) => {
    expect(() => parsePlugin(transfer, text)).toThrow();
    await expect(startServer(`.:0 {\n bind 127.0.0.1\n ${text}\n}`)).rejects.toThrow(/plugin\/transfer/);
  });

  it('TestSetup: `transfer` alone fails; two stanzas start a server', async () => {
    await expect(startServer('.:0 {\n bind 127.0.0.1\n transfer\n}')).rejects.toThrow(/'to' is required/);
    const s = await server(' transfer example.net example.org {\n  to 1.2.3.4 5.6.7.8:1053 [1::2]:34\n }\n transfer example.com example.edu {\n  to * 1.2.3.4\n }');
    expect(s.port).toBeGreaterThan(0);
  });
});

describe('notify_test.go', () => {
  const { zoneFile } = zoneFilesPerTest('typedns-notify-src-');
  it('TestNotifyClientSource: with `source`, NOTIFY leaves from that address; without, from the one the system picks', async () => {
    const sec = await fakeSecondary();
    try {
      const db = zoneFile('$ORIGIN example.org.\n@ 3600 IN SOA ns hm 1 7200 3600 1209600 300\n@ 3600 IN NS ns\nns 3600 IN A 192.0.2.53\n');
      await server(` file ${db} example.org\n transfer example.org {\n  to 127.0.0.1:${sec.port}\n  source 127.0.0.2\n }`);
      await waitFor(() => sec.from.length === 1, { what: 'the NOTIFY from 127.0.0.2' });
      expect(sec.from[0]).toBe('127.0.0.2');
      await server(` file ${db} example.org\n transfer example.org {\n  to 127.0.0.1:${sec.port}\n }`);
      await waitFor(() => sec.from.length === 2, { what: 'the NOTIFY without source' });
      expect(sec.from[1]).toBe('127.0.0.1');
    } finally {
      sec.close();
    }
  });
});
