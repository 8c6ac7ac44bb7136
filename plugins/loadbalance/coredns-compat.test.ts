// CoreDNS 1.10.1's own loadbalance tables (plugin/loadbalance: loadbalance_test.go, setup_test.go,
// weighted_test.go) replayed against typedns: the Corefile set up in process (startInProcess, no socket) with `loadbalance` in
// front of a test plugin that writes the table's records (CoreDNS's tests echo them the same way).
//
// Differences kept (see the README): typedns reorders the answer section of A/AAAA/MX queries only.
// CoreDNS's tables ask SRV and expect the additional section reordered too; here they are asked as
// A queries (so the answer is reordered) and the additional section comes back as written.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DecodedPacket } from 'dns-packet';
import { RCODE, rr, type RR } from '../../src/plugin/api.js';
import { parsePlugin, responder, rrText } from '../../src/testing/index.js';
import { scopedPerTest } from '../../test/support/scoped.js';
import { checkStanza } from '../../test/support/check-corefile.js';
import loadbalance, { ipKey, parseWeights } from './index.js';

const { inProcess } = scopedPerTest();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-lb-compat-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A server whose backend answers every query with `answer` and `extra` (as CoreDNS's handler() echoes req.Answer/Extra). */
async function echoServer(lbStanza: string, answer: string[], extra: string[] = []) {
  const a: RR[] = answer.map((x) => rr(x));
  const e: RR[] = extra.map((x) => rr(x));
  const backend = responder('backend', (_req, w) => {
    w.write({ type: 'response', flags: 0, answers: a, additionals: e });
    return RCODE.NOERROR;
  });
  return inProcess(`.:0 {\n bind 127.0.0.1\n ${lbStanza}\n backend\n}\n`, { plugins: [backend] });
}

/** CoreDNS's countRecords: CNAMEs, A/AAAA and MX counted, and whether they come in that order. */
function countRecords(rrs: ReadonlyArray<{ type: string }>): { cname: number; address: number; mx: number; sorted: boolean } {
  const rank: Record<string, number> = { CNAME: 1, A: 2, AAAA: 2, MX: 3 };
  let state = 0;
  let sorted = true;
  const n = { cname: 0, address: 0, mx: 0 };
  for (const r of rrs) {
    const k = rank[r.type] ?? 4;
    if (k === 1) n.cname++;
    if (k === 2) n.address++;
    if (k === 3) n.mx++;
    if (k < 4) sorted = sorted && state <= k;
    state = k;
  }
  return { ...n, sorted };
}
const extraOf = (m: DecodedPacket): Array<{ type: string }> => (m.additionals ?? []).filter((a) => a.type !== 'OPT');

// ---------------------------------------------------------------------------------------------

const randomRows: Array<{ answer: string[]; extra?: string[]; want: { cname: number; address: number; mx: number }; wantExtra: { cname: number; address: number; mx: number; sorted: boolean } }> = [
  {
    answer: [
      'cname1.region2.skydns.test. 300 IN CNAME cname2.region2.skydns.test.',
      'cname2.region2.skydns.test. 300 IN CNAME cname3.region2.skydns.test.',
      'cname5.region2.skydns.test. 300 IN CNAME cname6.region2.skydns.test.',
      'cname6.region2.skydns.test. 300 IN CNAME endpoint.region2.skydns.test.',
      'endpoint.region2.skydns.test. 300 IN A 10.240.0.1',
      'mx.region2.skydns.test. 300 IN MX 1 mx1.region2.skydns.test.',
      'mx.region2.skydns.test. 300 IN MX 2 mx2.region2.skydns.test.',
      'mx.region2.skydns.test. 300 IN MX 3 mx3.region2.skydns.test.',
    ],
    want: { cname: 4, address: 1, mx: 3 },
    wantExtra: { cname: 0, address: 0, mx: 0, sorted: true },
  },
  {
    answer: [
      'endpoint.region2.skydns.test. 300 IN A 10.240.0.1',
      'mx.region2.skydns.test. 300 IN MX 1 mx1.region2.skydns.test.',
      'cname.region2.skydns.test. 300 IN CNAME endpoint.region2.skydns.test.',
    ],
    want: { cname: 1, address: 1, mx: 1 },
    wantExtra: { cname: 0, address: 0, mx: 0, sorted: true },
  },
  {
    answer: [
      'mx.region2.skydns.test. 300 IN MX 1 mx1.region2.skydns.test.',
      'endpoint.region2.skydns.test. 300 IN A 10.240.0.1',
      'endpoint.region2.skydns.test. 300 IN A 10.240.0.2',
      'mx.region2.skydns.test. 300 IN MX 1 mx2.region2.skydns.test.',
      'cname2.region2.skydns.test. 300 IN CNAME cname3.region2.skydns.test.',
      'endpoint.region2.skydns.test. 300 IN A 10.240.0.3',
      'mx.region2.skydns.test. 300 IN MX 1 mx3.region2.skydns.test.',
    ],
    extra: [
      'endpoint.region2.skydns.test. 300 IN A 10.240.0.1',
      'endpoint.region2.skydns.test. 300 IN AAAA ::1',
      'mx.region2.skydns.test. 300 IN MX 1 mx1.region2.skydns.test.',
      'cname2.region2.skydns.test. 300 IN CNAME cname3.region2.skydns.test.',
      'mx.region2.skydns.test. 300 IN MX 1 mx2.region2.skydns.test.',
      'endpoint.region2.skydns.test. 300 IN A 10.240.0.3',
      'endpoint.region2.skydns.test. 300 IN AAAA ::2',
      'mx.region2.skydns.test. 300 IN MX 1 mx3.region2.skydns.test.',
    ],
    want: { cname: 1, address: 3, mx: 3 },
    // CoreDNS: 1 CNAME, 4 addresses, 3 MX, sorted. typedns leaves the additional section as written.
    wantExtra: { cname: 1, address: 4, mx: 3, sorted: false },
  },
];

describe('CoreDNS TestLoadBalanceRandom', () => {
  it('has 3 rows', () => expect(randomRows.length).toBe(3));
  it.each(randomRows.map((r, i) => [i, r] as const))('row %i: CNAMEs, then addresses, then MX; counts kept', async (_i, row) => {
    const s = await echoServer('loadbalance', row.answer, row.extra);
    const orders = new Set<string>();
    for (let q = 0; q < 30; q++) {
      const r = await s.query('region2.skydns.test.', 'A', { tcp: true });
      const got = countRecords(r.msg.answers ?? []);
      expect(got).toEqual({ ...row.want, sorted: true });
      expect(countRecords(extraOf(r.msg))).toEqual(row.wantExtra);
      orders.add((r.msg.answers ?? []).map(rrText).join('|'));
    }
    // with three addresses and three MX the order must vary (CoreDNS checks only the counts)
    if (row.want.address + row.want.mx > 4) expect(orders.size).toBeGreaterThan(1);
  });
});

describe('CoreDNS TestLoadBalanceXFR', () => {
  const answer = [
    'skydns.test. 30 IN SOA ns.dns.skydns.test. hostmaster.skydns.test. 1542756695 7200 1800 86400 30',
    'mx.region2.skydns.test. 300 IN MX 1 mx1.region2.skydns.test.',
    'endpoint.region2.skydns.test. 300 IN A 10.240.0.1',
    'endpoint.region2.skydns.test. 300 IN A 10.240.0.2',
    'mx.region2.skydns.test. 300 IN MX 1 mx2.region2.skydns.test.',
    'cname2.region2.skydns.test. 300 IN CNAME cname3.region2.skydns.test.',
    'endpoint.region2.skydns.test. 300 IN A 10.240.0.3',
    'mx.region2.skydns.test. 300 IN MX 1 mx3.region2.skydns.test.',
    'skydns.test. 30 IN SOA ns.dns.skydns.test. hostmaster.skydns.test. 1542756695 7200 1800 86400 30',
  ];
  it.each(['IXFR', 'AXFR'])('%s: the answer is left as written (SOA first and last)', async (t) => {
    const s = await echoServer('loadbalance', answer);
    const r = await s.query('skydns.test.', t, { tcp: true });
    const got = r.msg.answers ?? [];
    expect(got[0]?.type).toBe('SOA');
    expect(got[got.length - 1]?.type).toBe('SOA');
    expect(got.map(rrText)).toEqual(answer.map((x) => rrText(rr(x))));
  });
});

// ---------------------------------------------------------------------------------------------

/** [input, policy | error substring (CoreDNS's own)] — TestSetup, with testWeighted's file and reload. */
const setupRows: Array<[string, { policy: string; weightFile?: string; reload?: number } | { error: string }]> = [
  ['loadbalance', { policy: 'round_robin' }],
  ['loadbalance round_robin', { policy: 'round_robin' }],
  ['loadbalance weighted wfile', { policy: 'weighted', weightFile: 'wfile', reload: 30_000 }],
  ['loadbalance weighted wf {\n reload 10s\n}', { policy: 'weighted', weightFile: 'wf', reload: 10_000 }],
  ['loadbalance weighted wf {\n reload 0s\n}', { policy: 'weighted', weightFile: 'wf', reload: 0 }],
  ['loadbalance fleeb', { error: 'unknown policy' }],
  ['loadbalance round_robin a', { error: 'unknown property' }],
  ['loadbalance weighted', { error: 'missing weight file argument' }],
  ['loadbalance weighted a b', { error: 'unexpected argument' }],
  ['loadbalance weighted wfile {\n susu\n}', { error: 'unknown property' }],
  ['loadbalance weighted wfile {\n reload a\n}', { error: 'invalid reload duration' }],
  ['loadbalance weighted wfile {\n reload 30s  a\n}', { error: 'unexpected argument' }],
];

describe('CoreDNS TestSetup', () => {
  it('has 12 rows', () => expect(setupRows.length).toBe(12));
  it.each(setupRows)('%j', (input, want) => {
    if ('error' in want) {
      const errs = checkStanza(input);
      expect(errs).toHaveLength(1);
      expect(errs[0]).toMatch(/^Corefile:\d+: plugin\/loadbalance: /);
      expect(errs[0]).toContain(want.error);
      return;
    }
    expect(checkStanza(input)).toEqual([]);
    expect(parsePlugin(loadbalance, input)).toMatchObject(want);
  });
});

/** TestWeightFileUpdate: file text → domains (address → weight) or an error (CoreDNS's text, then typedns's). */
const weightRows: Array<[name: string, text: string, want: Record<string, Record<string, number>> | { error: RegExp }]> = [
  ['empty', '', {}],
  ['oneDomainWRR', '\nw1,example.org\n192.168.1.15 10\n192.168.1.14 20\n', { 'w1,example.org.': { '192.168.1.15': 10, '192.168.1.14': 20 } }],
  [
    'twoDomainsWRR',
    '\n# domain 1\nw1.example.org\n192.168.1.15   10\n192.168.1.14   20\n\n# domain 2\nw2.example.org\n # domain 3\n w3.example.org\n 192.168.2.16 11\n 192.168.2.15 12\n 192.168.2.14 13\n',
    { 'w1.example.org.': { '192.168.1.15': 10, '192.168.1.14': 20 }, 'w2.example.org.': {}, 'w3.example.org.': { '192.168.2.16': 11, '192.168.2.15': 12, '192.168.2.14': 13 } },
  ],
  // "Wrong domain name"
  ['missingWeightWRR', '\nw1,example.org\n192.168.1.14\n192.168.1.15 20\n', { error: /w:3 .*expected a domain name, got the address '192\.168\.1\.14'/ }],
  // "Missing domain name"
  ['missingDomainWRR', '\n# missing domain\n192.168.1.14 10\nw2,example.org\n192.168.2.14 11\n192.168.2.15 12\n', { error: /w:3 .*before any domain name/ }],
  // "Wrong IP address"
  ['wrongIpWRR', '\nw1,example.org\n192.168.1.300 10\n', { error: /w:3 .*invalid address/ }],
  // "Wrong weight value"
  ['wrongWeightWRR', '\nw1,example.org\n192.168.1.14 300\n', { error: /w:3 .*invalid weight '300'/ }],
];

describe('CoreDNS TestWeightFileUpdate', () => {
  it('has 7 rows', () => expect(weightRows.length).toBe(7));
  it.each(weightRows)('%s', (_n, text, want) => {
    if ('error' in want) {
      expect(() => parseWeights(text, 'w')).toThrow(want.error as RegExp);
      return;
    }
    const got = parseWeights(text, 'w');
    expect([...got.keys()].sort()).toEqual(Object.keys(want).sort());
    for (const [domain, ips] of Object.entries(want as Record<string, Record<string, number>>)) {
      const w = got.get(domain)!;
      expect(w.size).toBe(Object.keys(ips).length);
      for (const [ip, v] of Object.entries(ips)) expect(w.get(ipKey(ip)), ip).toBe(v);
    }
  });
});

// TestLoadBalanceWRR: CoreDNS fixes the random value per query and checks which address comes
// first. Live, the choice is random: many queries are asked, and each address must come first
// about as often as its share of the weights (an owner or address not in the file weighs 1).
const wrrRows: Array<{ weights: string; answer: string[]; share: Record<string, number>; want: { cname: number; address: number; mx: number } }> = [
  {
    weights: 'endpoint.region2.skydns.test\n10.240.0.2 5\n10.240.0.1 2\nendpoint.region1.skydns.test\n::2 4\n::1 3\n',
    answer: [
      'cname1.region2.skydns.test. 300 IN CNAME cname2.region2.skydns.test.',
      'cname2.region2.skydns.test. 300 IN CNAME cname3.region2.skydns.test.',
      'cname5.region2.skydns.test. 300 IN CNAME cname6.region2.skydns.test.',
      'cname6.region2.skydns.test. 300 IN CNAME endpoint.region2.skydns.test.',
      'endpoint.region2.skydns.test. 300 IN A 10.240.0.1',
      'endpoint.region2.skydns.test. 300 IN A 10.240.0.2',
      'endpoint.region2.skydns.test. 300 IN A 10.240.0.3',
      'endpoint.region1.skydns.test. 300 IN AAAA ::1',
      'endpoint.region1.skydns.test. 300 IN AAAA ::2',
      'mx.region2.skydns.test. 300 IN MX 1 mx1.region2.skydns.test.',
      'mx.region2.skydns.test. 300 IN MX 2 mx2.region2.skydns.test.',
      'mx.region2.skydns.test. 300 IN MX 3 mx3.region2.skydns.test.',
    ],
    share: { '10.240.0.2': 5 / 15, '::2': 4 / 15, '::1': 3 / 15, '10.240.0.1': 2 / 15, '10.240.0.3': 1 / 15 },
    want: { cname: 4, address: 5, mx: 3 },
  },
  {
    weights: 'endpoint.region2.skydns.test\n10.240.0.2 3\n10.240.0.1 2\n',
    answer: [
      'endpoint.region2.skydns.test. 300 IN A 10.240.0.1',
      'mx.region2.skydns.test. 300 IN MX 1 mx1.region2.skydns.test.',
      'cname.region2.skydns.test. 300 IN CNAME endpoint.region2.skydns.test.',
      'endpoint.region2.skydns.test. 300 IN A 10.240.0.2',
      'endpoint.region1.skydns.test. 300 IN A 10.240.0.3',
    ],
    share: { '10.240.0.2': 3 / 6, '10.240.0.1': 2 / 6, '10.240.0.3': 1 / 6 },
    want: { cname: 1, address: 3, mx: 1 },
  },
  {
    weights: 'endpoint.region2.skydns.test\n10.240.0.2 3\n10.240.0.1 2\n',
    answer: ['mx.region2.skydns.test. 300 IN MX 1 mx1.region2.skydns.test.', 'cname.region2.skydns.test. 300 IN CNAME endpoint.region2.skydns.test.'],
    share: {},
    want: { cname: 1, address: 0, mx: 1 },
  },
];

describe('CoreDNS TestLoadBalanceWRR', () => {
  it('has 3 rows', () => expect(wrrRows.length).toBe(3));
  it.each(wrrRows.map((r, i) => [i, r] as const))('row %i: the first address follows the weights', async (i, row) => {
    const file = path.join(dir, `weights${i}`);
    fs.writeFileSync(file, row.weights);
    const s = await echoServer(`loadbalance weighted ${file} {\n  reload 0\n }`, row.answer);
    const n = Object.keys(row.share).length === 0 ? 5 : 600;
    const top = new Map<string, number>();
    for (let q = 0; q < n; q++) {
      const r = await s.query('endpoint.region2.skydns.test.', 'A', { edns: 4096 });
      const answers = r.msg.answers ?? [];
      const c = countRecords(answers);
      expect({ cname: c.cname, address: c.address, mx: c.mx }).toEqual(row.want);
      const first = answers.find((a) => a.type === 'A' || a.type === 'AAAA');
      if (first === undefined) {
        // no address records: the answer is unaltered
        expect(answers.map(rrText)).toEqual(row.answer.map((x) => rrText(rr(x))));
        continue;
      }
      expect(c.sorted).toBe(true);
      const ip = String((first as { data: unknown }).data);
      top.set(ip, (top.get(ip) ?? 0) + 1);
    }
    for (const [ip, share] of Object.entries(row.share)) {
      const expected = share * n;
      // within ~3 standard deviations of a binomial draw
      const got = top.get(ip) ?? 0;
      expect(got, `${ip} first ${got} of ${n} times, expected about ${expected.toFixed(0)}`).toBeGreaterThan(expected * 0.5);
      expect(got).toBeLessThan(expected * 1.6);
    }
  });
});
