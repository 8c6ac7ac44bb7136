// A big zone is stored compactly (zone.ts, arena.ts): after a full garbage collection a
// 200,000-record zone adds only a few bytes per record to the JS heap (its records are bytes in a
// few large Buffers, not objects), and little more counting those Buffers. And nothing is lost
// on the way: random names answer exactly their records over UDP, empty non-terminals and missing
// names answer NODATA and NXDOMAIN, and AXFR gives back every record.
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../src/testing/index.js';
import { transferFrom } from '../transfer/xfr-client.js';
import { zoneFilesPerTest } from '../../test/support/zone-files.js';

const { zoneFile } = zoneFilesPerTest('typedns-file-compact-');
const servers: TestServer[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()!.close();
});

const N = 200_000;
const HEAD = ['$ORIGIN big.test.', '$TTL 300', '@ IN SOA ns hostmaster 7 7200 3600 1209600 300', '@ IN NS ns', 'ns IN A 192.0.2.53'];

/** Record i: its owner (below an empty non-terminal d<i % 100>), type and data as dig's client reads them back. */
function rec(i: number): { name: string; type: string; text: string; data: string } {
  const name = `h${i}.d${i % 100}.big.test`;
  const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  switch (i % 10) {
    case 7:
      return { name, type: 'AAAA', text: `AAAA 2001:db8::${(i & 0xffff).toString(16)}`, data: `2001:db8::${(i & 0xffff).toString(16)}` };
    case 8:
      return { name, type: 'TXT', text: `TXT "record ${i}"`, data: `record ${i}` };
    case 9:
      return { name, type: 'MX', text: `MX 10 ns.big.test.`, data: '10 ns.big.test' };
    default:
      return { name, type: 'A', text: `A ${ip}`, data: ip };
  }
}

const dataText = (a: { type: string; data?: unknown }): string => {
  const d = a.data as { preference?: number; exchange?: string } | Buffer[] | string;
  if (a.type === 'TXT') return (d as Buffer[]).map((b) => b.toString()).join('');
  if (a.type === 'MX') return `${(d as { preference: number }).preference} ${(d as { exchange: string }).exchange}`;
  return String(d);
};

let gc: (() => void) | undefined;
/** JS heap and ArrayBuffer bytes in use after two full collections. */
function usage(): { heap: number; buffers: number } {
  if (gc === undefined) {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
  }
  gc();
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, buffers: m.arrayBuffers };
}

describe('a 200,000-record zone', () => {
  it('costs under 40 bytes of JS heap per record (under 150 with its buffers), answers every name it holds and transfers every record', async () => {
    const lines = [...HEAD];
    for (let i = 0; i < N; i++) lines.push(`${rec(i).name}. ${rec(i).text}`);
    const db = zoneFile(`${lines.join('\n')}\n`);
    lines.length = 0;

    const before = usage();
    const srv = await startServer(`big.test:0 {\n bind 127.0.0.1\n file ${db}\n transfer {\n  to *\n }\n}`);
    servers.push(srv);
    const after = usage();
    const heapPer = (after.heap - before.heap) / N;
    const allPer = (after.heap + after.buffers - before.heap - before.buffers) / N;
    expect(heapPer, `JS heap: ${heapPer.toFixed(0)} bytes/record`).toBeLessThan(40);
    expect(allPer, `JS heap and buffers: ${allPer.toFixed(0)} bytes/record`).toBeLessThan(150);

    // 300 names spread over the zone answer exactly their records (MX with its in-zone address)
    for (let k = 0; k < 300; k++) {
      const i = (k * 7919 + 13) % N;
      const want = rec(i);
      const { msg: r, rcode } = await srv.query(want.name, want.type);
      expect(rcode, want.name).toBe(0);
      expect(r.answers?.map((a) => `${a.name} ${a.type} ${dataText(a)}`), want.name).toEqual([`${want.name} ${want.type} ${want.data}`]);
      if (want.type === 'MX') expect(r.additionals?.map((a) => `${a.name} ${a.type} ${dataText(a)}`)).toEqual(['ns.big.test A 192.0.2.53']);
    }
    // the empty non-terminal above the hosts: NODATA; a name that is not there: NXDOMAIN
    const ent = await srv.query('d5.big.test', 'A');
    expect([ent.rcode, ent.msg.answers?.length, ent.msg.authorities?.[0]?.type]).toEqual([0, 0, 'SOA']);
    const nx = await srv.query(`h${N}.d0.big.test`, 'A');
    expect([nx.rcode, nx.msg.authorities?.[0]?.type]).toEqual([3, 'SOA']);

    // AXFR: the SOA, every record once in file order, the SOA again
    const x = await transferFrom(srv.port, 'big.test.', 'AXFR', { timeout: 120_000 });
    expect(x.rcode).toBe(0);
    expect(x.records).toHaveLength(N + 4);
    expect([x.records[0]!.type, x.records.at(-1)!.type]).toEqual(['SOA', 'SOA']);
    expect(x.records.slice(1, 3).map((a) => `${a.name} ${a.type} ${dataText(a)}`)).toEqual(['big.test NS ns.big.test', 'ns.big.test A 192.0.2.53']);
    const body = x.records.slice(3, -1);
    let wrong = 0;
    for (let i = 0; i < N; i++) {
      const a = body[i]!;
      const want = rec(i);
      if (`${a.name} ${a.type} ${dataText(a)}` !== `${want.name} ${want.type} ${want.data}`) wrong++;
    }
    expect(wrong).toBe(0);
  }, 240_000);
});
