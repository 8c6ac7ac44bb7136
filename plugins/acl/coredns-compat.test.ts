// CoreDNS 1.10.1's own acl tables (plugin/acl: acl_test.go TestACLServeDNS, setup_test.go TestSetup)
// replayed against typedns. IPv4 rows go through a real server on 127.0.0.1: the whole 127/8 is
// loopback, so each row's addresses are moved into it (first octet → 127, prefix lengths ≥ 8 kept)
// and the query is sent from the row's (moved) source address. IPv6 rows cannot have their source
// on loopback (only ::1 is), so they go through the plugin's serve() with that client address.
// Differences: typedns sends no Extended DNS Error option (CoreDNS: Blocked 15 / Filtered 17).
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import dnsPacket from 'dns-packet';
import { DROP, QTYPE, RCODE } from '../../src/plugin/api.js';
import { buildQuery, exchangeRaw, fakeRequest, nextReturning, rcodeOfWire, Recorder, setupPlugin } from '../../src/testing/index.js';
import { scopedPerTest } from '../../test/support/scoped.js';
import { checkStanza } from '../../test/support/check-corefile.js';
import acl from './index.js';

const { server } = scopedPerTest();

interface Row {
  name: string;
  config: string;
  /** The server block's zones in CoreDNS's test ('' = the root). */
  zones: string;
  q: string;
  src: string;
  t: string;
  rcode: 'REFUSED' | 'NOERROR';
  /** CoreDNS's Extended DNS Error code (not sent by typedns). */
  ede: string;
  /** No reply at all. */
  drop: boolean;
}

const serveRows: Row[] = [
  { name: "Blacklist 1 BLOCKED", config: "acl example.org { block type A net 192.168.0.0/16 }", zones: "", q: "www.example.org.", src: "192.168.0.2", t: "A", rcode: "REFUSED", ede: "Blocked", drop: false },
  { name: "Blacklist 1 ALLOWED", config: "acl example.org { block type A net 192.168.0.0/16 }", zones: "", q: "www.example.org.", src: "192.167.0.2", t: "A", rcode: "NOERROR", ede: "", drop: false },
  { name: "Blacklist 2 BLOCKED", config: "acl example.org { block type * net 192.168.0.0/16 }", zones: "", q: "www.example.org.", src: "192.168.0.2", t: "AAAA", rcode: "REFUSED", ede: "Blocked", drop: false },
  { name: "Blacklist 3 BLOCKED", config: "acl example.org { block type A }", zones: "", q: "www.example.org.", src: "10.1.0.2", t: "A", rcode: "REFUSED", ede: "Blocked", drop: false },
  { name: "Blacklist 3 ALLOWED", config: "acl example.org { block type A }", zones: "", q: "www.example.org.", src: "10.1.0.2", t: "AAAA", rcode: "NOERROR", ede: "", drop: false },
  { name: "Blacklist 4 Single IP BLOCKED", config: "acl example.org { block type A net 192.168.1.2 }", zones: "", q: "www.example.org.", src: "192.168.1.2", t: "A", rcode: "REFUSED", ede: "Blocked", drop: false },
  { name: "Blacklist 4 Single IP ALLOWED", config: "acl example.org { block type A net 192.168.1.2 }", zones: "", q: "www.example.org.", src: "192.168.1.3", t: "A", rcode: "NOERROR", ede: "", drop: false },
  { name: "Filter 1 FILTERED", config: "acl example.org { filter type A net 192.168.0.0/16 }", zones: "", q: "www.example.org.", src: "192.168.0.2", t: "A", rcode: "NOERROR", ede: "Filtered", drop: false },
  { name: "Filter 1 ALLOWED", config: "acl example.org { filter type A net 192.168.0.0/16 }", zones: "", q: "www.example.org.", src: "192.167.0.2", t: "A", rcode: "NOERROR", ede: "", drop: false },
  { name: "Whitelist 1 ALLOWED", config: "acl example.org { allow net 192.168.0.0/16 block }", zones: "", q: "www.example.org.", src: "192.168.0.2", t: "A", rcode: "NOERROR", ede: "", drop: false },
  { name: "Whitelist 1 REFUSED", config: "acl example.org { allow type * net 192.168.0.0/16 block }", zones: "", q: "www.example.org.", src: "10.1.0.2", t: "A", rcode: "REFUSED", ede: "Blocked", drop: false },
  { name: "Drop 1 DROPPED", config: "acl example.org { drop net 192.168.0.0/16 }", zones: "", q: "www.example.org.", src: "192.168.0.2", t: "A", rcode: "NOERROR", ede: "", drop: true },
  { name: "Subnet-Order 1 REFUSED", config: "acl example.org { block net 192.168.1.0/24 drop net 192.168.0.0/16 }", zones: "", q: "www.example.org.", src: "192.168.1.2", t: "A", rcode: "REFUSED", ede: "Blocked", drop: false },
  { name: "Subnet-Order 2 DROPPED", config: "acl example.org { drop net 192.168.0.0/16 block net 192.168.1.0/24 }", zones: "", q: "www.example.org.", src: "192.168.1.1", t: "A", rcode: "NOERROR", ede: "", drop: true },
  { name: "Drop-Type 1 DROPPED", config: "acl example.org { drop type A allow net 192.168.0.0/16 }", zones: "", q: "www.example.org.", src: "192.168.1.1", t: "A", rcode: "NOERROR", ede: "", drop: true },
  { name: "Drop-Type 2 ALLOWED", config: "acl example.org { drop type A allow net 192.168.0.0/16 }", zones: "", q: "www.example.org.", src: "192.168.1.1", t: "AAAA", rcode: "NOERROR", ede: "", drop: false },
  { name: "Fine-Grained 1 REFUSED", config: "acl a.example.org { block type * net 192.168.1.0/24 }", zones: "example.org", q: "a.example.org.", src: "192.168.1.2", t: "A", rcode: "REFUSED", ede: "Blocked", drop: false },
  { name: "Fine-Grained 1 ALLOWED", config: "acl a.example.org { block net 192.168.1.0/24 }", zones: "example.org", q: "www.example.org.", src: "192.168.1.2", t: "A", rcode: "NOERROR", ede: "", drop: false },
  { name: "Fine-Grained 2 REFUSED", config: "acl example.org { block net 192.168.1.0/24 }", zones: "example.org", q: "a.example.org.", src: "192.168.1.2", t: "A", rcode: "REFUSED", ede: "Blocked", drop: false },
  { name: "Fine-Grained 2 ALLOWED", config: "acl { block net 192.168.1.0/24 }", zones: "example.org", q: "a.example.com.", src: "192.168.1.2", t: "A", rcode: "NOERROR", ede: "", drop: false },
  { name: "Fine-Grained 3 REFUSED", config: "acl a.example.org { block net 192.168.1.0/24 } acl b.example.org { block type * net 192.168.2.0/24 }", zones: "example.org", q: "b.example.org.", src: "192.168.2.2", t: "A", rcode: "REFUSED", ede: "Blocked", drop: false },
  { name: "Fine-Grained 3 ALLOWED", config: "acl a.example.org { block net 192.168.1.0/24 } acl b.example.org { block net 192.168.2.0/24 }", zones: "example.org", q: "b.example.org.", src: "192.168.1.2", t: "A", rcode: "NOERROR", ede: "", drop: false },
  { name: "Blacklist 1 BLOCKED IPv6", config: "acl example.org { block type A net 2001:db8:abcd:0012::0/64 }", zones: "", q: "www.example.org.", src: "2001:db8:abcd:0012::1230", t: "A", rcode: "REFUSED", ede: "Blocked", drop: false },
  { name: "Blacklist 1 ALLOWED IPv6", config: "acl example.org { block type A net 2001:db8:abcd:0012::0/64 }", zones: "", q: "www.example.org.", src: "2001:db8:abcd:0013::0", t: "A", rcode: "NOERROR", ede: "", drop: false },
  { name: "Blacklist 2 BLOCKED IPv6", config: "acl example.org { block type A }", zones: "", q: "www.example.org.", src: "2001:0db8:85a3:0000:0000:8a2e:0370:7334", t: "A", rcode: "REFUSED", ede: "Blocked", drop: false },
  { name: "Blacklist 3 Single IP BLOCKED IPv6", config: "acl example.org { block type A net 2001:0db8:85a3:0000:0000:8a2e:0370:7334 }", zones: "", q: "www.example.org.", src: "2001:0db8:85a3:0000:0000:8a2e:0370:7334", t: "A", rcode: "REFUSED", ede: "Blocked", drop: false },
  { name: "Blacklist 3 Single IP ALLOWED IPv6", config: "acl example.org { block type A net 2001:0db8:85a3:0000:0000:8a2e:0370:7334 }", zones: "", q: "www.example.org.", src: "2001:0db8:85a3:0000:0000:8a2e:0370:7335", t: "A", rcode: "NOERROR", ede: "", drop: false },
  { name: "Fine-Grained 1 REFUSED IPv6", config: "acl a.example.org { block type * net 2001:db8:abcd:0012::0/64 }", zones: "example.org", q: "a.example.org.", src: "2001:db8:abcd:0012:2019::0", t: "A", rcode: "REFUSED", ede: "Blocked", drop: false },
  { name: "Fine-Grained 1 ALLOWED IPv6", config: "acl a.example.org { block net 2001:db8:abcd:0012::0/64 }", zones: "example.org", q: "www.example.org.", src: "2001:db8:abcd:0012:2019::0", t: "A", rcode: "NOERROR", ede: "", drop: false },
  { name: "Blacklist Address%ifname", config: "acl example.org { block type AAAA net 2001:0db8:85a3:0000:0000:8a2e:0370:7334 }", zones: "eth0", q: "www.example.org.", src: "2001:0db8:85a3:0000:0000:8a2e:0370:7334", t: "AAAA", rcode: "REFUSED", ede: "Blocked", drop: false },
  { name: "Drop 1 DROPPED IPV6", config: "acl example.org { drop net 2001:0db8:85a3:0000:0000:8a2e:0370:7334 }", zones: "", q: "www.example.org.", src: "2001:0db8:85a3:0000:0000:8a2e:0370:7334", t: "AAAA", rcode: "NOERROR", ede: "", drop: true },
  { name: "Subnet-Order 1 REFUSED IPv6", config: "acl example.org { block net 2001:db8:abcd:0012:8000::/66 drop net 2001:db8:abcd:0012::0/64 }", zones: "", q: "www.example.org.", src: "2001:db8:abcd:0012:8000::1", t: "AAAA", rcode: "REFUSED", ede: "Blocked", drop: false },
  { name: "Subnet-Order 2 DROPPED IPv6", config: "acl example.org { drop net 2001:db8:abcd:0012::0/64 block net 2001:db8:abcd:0012:8000::/66 }", zones: "", q: "www.example.org.", src: "2001:db8:abcd:0012:8000::1", t: "AAAA", rcode: "NOERROR", ede: "", drop: true },
  { name: "Drop-Type 1 DROPPED IPv6", config: "acl example.org { drop type A allow net 2001:db8:85a3:0000::0/64 }", zones: "", q: "www.example.org.", src: "2001:0db8:85a3:0000:0000:8a2e:0370:7334", t: "A", rcode: "NOERROR", ede: "", drop: true },
  { name: "Drop-Type 2 ALLOWED IPv6", config: "acl example.org { drop type A allow net 2001:db8:85a3:0000::0/64 }", zones: "", q: "www.example.org.", src: "2001:0db8:85a3:0000:0000:8a2e:0370:7334", t: "AAAA", rcode: "NOERROR", ede: "", drop: false },
];

/** An IPv4 address or CIDR moved into 127/8 (first octet replaced). */
const to127 = (s: string): string => s.replace(/\b(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\b/g, (_m, _a, b, c, d) => `127.${b}.${c}.${d}`);

/** One UDP query from `src` (a 127/8 address), or undefined when no reply comes within `timeout`. */
const queryFrom = (src: string, port: number, name: string, type: string, timeout = 1000): Promise<Buffer | undefined> =>
  exchangeRaw(port, buildQuery(name, type), { source: src, timeout });

/** The flattened config back on lines: one rule per line, one acl stanza after another. */
const lines = (config: string): string => config.replace(/ \{ /g, ' {\n ').replace(/ \}/g, '\n}').replace(/ (allow|block|filter|drop)\b/g, '\n $1').replace(/\} acl/g, '}\n acl');

const v4 = serveRows.filter((r) => net.isIPv4(r.src));
const v6 = serveRows.filter((r) => !net.isIPv4(r.src));

describe('CoreDNS TestACLServeDNS', () => {
  it('has 35 rows (22 IPv4, 13 IPv6)', () => expect([serveRows.length, v4.length, v6.length]).toEqual([35, 22, 13]));

  // "Fine-Grained 2 ALLOWED" asks a.example.com of a block for example.org: a live server refuses
  // a name outside its blocks before acl sees it, so that row goes through serve() as the IPv6 ones.
  const live = v4.filter((r) => r.name !== 'Fine-Grained 2 ALLOWED');
  const unit = [...v4.filter((r) => r.name === 'Fine-Grained 2 ALLOWED'), ...v6];

  it.each(live.map((r) => [r.name, r] as const))('%s (through a server)', async (_n, row) => {
    const key = row.zones === '' ? '.' : row.zones;
    const s = await server(`${key}:0 {\n bind 127.0.0.1\n ${lines(to127(row.config))}\n whoami\n}\n`);
    const src = to127(row.src);
    const reply = await queryFrom(src, s.port, row.q, row.t, row.drop ? 400 : 2000);
    if (row.drop) {
      expect(reply, 'no reply (dropped)').toBeUndefined();
      return;
    }
    expect(reply).toBeDefined();
    const m = dnsPacket.decode(reply!);
    expect(rcodeOfWire(reply!)).toBe(RCODE[row.rcode]);
    // filter: NOERROR without records; allowed: whoami answers
    if (row.ede === 'Filtered') expect(m.answers ?? []).toEqual([]);
    if (row.rcode === 'NOERROR' && row.ede === '') expect((m.answers ?? []).length + (m.additionals ?? []).length).toBeGreaterThan(0);
  });

  it.each(unit.map((r) => [r.name, r] as const))('%s (serve() with the client address)', async (_n, row) => {
    const zones = row.zones === '' ? ['.'] : [`${row.zones.replace(/\.$/, '')}.`];
    const stanzas = row.config.split(/(?<=\}) (?=acl)/);
    let rcode: number = RCODE.NOERROR;
    let calledNext = 0;
    // the stanzas run in order, each as its own plugin instance (as two acl lines in a block)
    for (const st of stanzas) {
      const { plugin } = await setupPlugin(acl, lines(st), zones);
      const next = nextReturning(RCODE.NOERROR);
      const req = fakeRequest(row.q, row.t, { client: row.src.replace(/%.*/, '') });
      rcode = (await plugin.serve!(req, new Recorder(req), next)) as number;
      calledNext += next.calls;
      if (next.calls === 0) break;
    }
    if (row.drop) expect(rcode).toBe(DROP);
    else expect(rcode, `next called ${calledNext}`).toBe(RCODE[row.rcode]);
    void QTYPE;
  });
});

/** [name, stanza, should error] — TestSetup. */
const setupRows: Array<[string, string, boolean]> = [
  ["Blacklist 1", "acl {\n block type A net 192.168.0.0/16\n }", false],
  ["Blacklist 2", "acl {\n block type * net 192.168.0.0/16\n }", false],
  ["Blacklist 3", "acl {\n block type A net *\n }", false],
  ["Blacklist 4", "acl {\n allow type * net 192.168.1.0/24\n block type * net 192.168.0.0/16\n }", false],
  ["Filter 1", "acl {\n filter type A net 192.168.0.0/16\n }", false],
  ["Whitelist 1", "acl {\n allow type * net 192.168.0.0/16\n block type * net *\n }", false],
  ["Drop 1", "acl {\n drop type * net 192.168.0.0/16\n }", false],
  ["fine-grained 1", "acl a.example.org {\n block type * net 192.168.1.0/24\n }", false],
  ["fine-grained 2", "acl a.example.org {\n block type * net 192.168.1.0/24\n }\n acl b.example.org {\n block type * net 192.168.2.0/24\n }", false],
  ["Multiple Networks 1", "acl example.org {\n block type * net 192.168.1.0/24 192.168.3.0/24\n }", false],
  ["Multiple Qtypes 1", "acl example.org {\n block type TXT ANY CNAME net 192.168.3.0/24\n }", false],
  ["Missing argument 1", "acl {\n block A net 192.168.0.0/16\n }", true],
  ["Missing argument 2", "acl {\n block type net 192.168.0.0/16\n }", true],
  ["Illegal argument 1", "acl {\n block type ABC net 192.168.0.0/16\n }", true],
  ["Illegal argument 2", "acl {\n blck type A net 192.168.0.0/16\n }", true],
  ["Illegal argument 3", "acl {\n block type A net 192.168.0/16\n }", true],
  ["Illegal argument 4", "acl {\n block type A net 192.168.0.0/33\n }", true],
  ["Blacklist 1 IPv6", "acl {\n block type A net 2001:0db8:85a3:0000:0000:8a2e:0370:7334\n }", false],
  ["Blacklist 2 IPv6", "acl {\n block type * net 2001:db8:85a3::8a2e:370:7334\n }", false],
  ["Blacklist 3 IPv6", "acl {\n block type A\n }", false],
  ["Blacklist 4 IPv6", "acl {\n allow net 2001:db8:abcd:0012::0/64\n block net 2001:db8:abcd:0012::0/48\n }", false],
  ["Filter 1 IPv6", "acl {\n filter type A net 2001:0db8:85a3:0000:0000:8a2e:0370:7334\n }", false],
  ["Whitelist 1 IPv6", "acl {\n allow net 2001:db8:abcd:0012::0/64\n block\n }", false],
  ["Drop 1 IPv6", "acl {\n drop net 2001:db8:abcd:0012::0/64\n }", false],
  ["fine-grained 1 IPv6", "acl a.example.org {\n block net 2001:db8:abcd:0012::0/64\n }", false],
  ["fine-grained 2 IPv6", "acl a.example.org {\n block net 2001:db8:abcd:0012::0/64\n }\n acl b.example.org {\n block net 2001:db8:abcd:0013::0/64\n }", false],
  ["Multiple Networks 1 IPv6", "acl example.org {\n block net 2001:db8:abcd:0012::0/64 2001:db8:85a3::8a2e:370:7334/64\n }", false],
  ["Illegal argument 1 IPv6", "acl {\n block type A net 2001::85a3::8a2e:370:7334\n }", true],
  ["Illegal argument 2 IPv6", "acl {\n block type A net 2001:db8:85a3:::8a2e:370:7334\n }", true],
];

describe('CoreDNS TestSetup', () => {
  it('has 29 rows', () => expect(setupRows.length).toBe(29));
  it.each(setupRows)('%s', (_n, stanza, shouldErr) => {
    const errs = checkStanza(stanza);
    if (!shouldErr) expect(errs).toEqual([]);
    else {
      expect(errs.length).toBeGreaterThan(0);
      expect(errs[0]).toMatch(/^Corefile:\d+: plugin\/acl: /);
    }
  });
});
