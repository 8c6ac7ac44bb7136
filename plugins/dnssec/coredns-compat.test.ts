// CoreDNS's plugin/dnssec tests replayed against typedns: setup_test.go (TestSetupDnssec) through
// the parser and `typedns check` (the same Corefile snippets, key pairs made by ldns-keygen —
// RSASHA1 as in CoreDNS's fixtures — under the names the table uses; errors as file:line), and
// handler_test.go (TestLookupZone, TestLookupDNSKEY) as a table of queries to a real server
// serving CoreDNS's miek.nl zone through `file` with `dnssec` in front. As CoreDNS's SortAndCheck
// does, an RRSIG is compared by type covered, labels and signer, an NSEC by its next name.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DecodedPacket } from 'dns-packet';
import { RCODE, rrText, typeName, type RR } from '../../src/plugin/api.js';
import { responder, startServer, type TestServer } from '../../src/testing/index.js';
import { Dispenser } from '../../src/plugin/api.js';
import { checkCorefile as checkErrors } from '../../test/support/check-corefile.js';
import { makeKey } from '../../test/support/dnssec.js';
import { hasTool as has } from '../../test/support/tools.js';
import { MIEK_SOA } from '../../test/support/miek.js';
import { DEFAULT_CAPACITY, parseDnssec } from './setup.js';

const haveKeygen = has('ldns-keygen');
if (!haveKeygen) console.warn('skipping the dnssec setup table: ldns-keygen (ldnsutils) not installed');

describe.skipIf(!haveKeygen)('CoreDNS setup_test.go (TestSetupDnssec)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-dnssec-setup-'));
    const rename = (from: string, to: string): void => {
      for (const ext of ['.key', '.private']) fs.renameSync(`${from}${ext}`, path.join(dir, `${to}${ext}`));
    };
    rename(await makeKey(dir, 'cluster.local', { algorithm: 'RSASHA1' }), 'Kcluster.local');
    rename(await makeKey(dir, 'cluster.local', { algorithm: 'RSASHA1', ksk: true }), 'ksk_Kcluster.local');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  // [input, zones, split, capacity] — parses
  const good: Array<[string, string[], boolean, number]> = [
    ['dnssec', ['.'], false, DEFAULT_CAPACITY],
    ['dnssec example.org', ['example.org.'], false, DEFAULT_CAPACITY],
    ['dnssec 10.0.0.0/8', ['10.in-addr.arpa.'], false, DEFAULT_CAPACITY],
    ['dnssec example.org {\n  cache_capacity 100\n}', ['example.org.'], false, 100],
    ['dnssec cluster.local {\n  key file Kcluster.local\n}', ['cluster.local.'], false, DEFAULT_CAPACITY],
    ['dnssec example.org cluster.local {\n  key file Kcluster.local\n}', ['example.org.', 'cluster.local.'], false, DEFAULT_CAPACITY],
    ['dnssec cluster.local {\n  key file Kcluster.local\n  key file ksk_Kcluster.local\n}', ['cluster.local.'], true, DEFAULT_CAPACITY],
  ];
  it.each(good)('%s', (input, zones, split, capacity) => {
    const cfg = parseDnssec(Dispenser.from(input), ['.'], dir);
    expect(cfg.zones).toEqual(zones);
    expect(cfg.split).toBe(split);
    expect(cfg.capacity).toBe(capacity);
  });

  // [input, error] — fails, through `typedns check` with the line of the offending token
  const bad: Array<[string, string]> = [
    ['dnssec example.org {\n  key file Kcluster.local\n}', 'Corefile:3: plugin/dnssec: key cluster.local. (keyid: TAG) can not sign any of the zones'],
    ['dnssec example.org {\n  key\n}', "Corefile:3: plugin/dnssec: wrong argument count or unexpected line ending after 'key'"],
    ['dnssec example.org {\n  key file\n}', "Corefile:3: plugin/dnssec: wrong argument count or unexpected line ending after 'file'"],
    ['dnssec\ndnssec', ''],
    // typedns's own: a missing key file, a non-number capacity, an unknown property
    ['dnssec {\n  key file Knope\n}', 'Corefile:3: plugin/dnssec: no such key file: DIR/Knope.key'],
    ['dnssec {\n  cache_capacity many\n}', 'Corefile:3: plugin/dnssec: strconv.Atoi: parsing "many": invalid syntax'],
    ['dnssec {\n  nope\n}', "Corefile:3: plugin/dnssec: unknown property 'nope'"],
    ['dnssec {\n  key aws_secretsmanager Kexample\n}', "Corefile:3: plugin/dnssec: unsupported key source 'aws_secretsmanager', expected 'file'"],
  ];
  it.each(bad)('%s', (input, want) => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const errs = checkErrors(`.:53 {\n${input}\n}\n`);
      expect(errs).toHaveLength(1);
      if (want === '') return; // a second stanza: the "once" error
      const tag = /keyid: (\d+)/.exec(errs[0]!)?.[1] ?? '';
      expect(errs[0]!.replace(`keyid: ${tag}`, 'keyid: TAG').replace(fs.realpathSync(dir), 'DIR').replace(dir, 'DIR')).toBe(want);
    } finally {
      process.chdir(cwd);
    }
  });
});

const MIEK = `${MIEK_SOA}                IN      NS      linode.atoom.net.

                IN      MX      1  aspmx.l.google.com.

                IN      A       139.162.196.78
                IN      AAAA    2a01:7e00::f03c:91ff:fef1:6735

a               IN      A       139.162.196.78
                IN      AAAA    2a01:7e00::f03c:91ff:fef1:6735
www             IN      CNAME   a
deleg			IN		NS		ns01.deleg
				IN		DS		18512 13 2 D4E806322598BC97A003EF1ACDFF352EEFF7B42DBB0D41B8224714C36AEF08D9
unsigned		IN		NS		ns01.deleg
`;

/** A record as the table writes it: RRSIG by covered type, labels and signer; NSEC by next name; DNSKEY by flags. */
function show(r: NonNullable<DecodedPacket['answers']>[number]): string {
  const d = (r as { data?: unknown }).data as Record<string, unknown>;
  const ttl = (r as { ttl?: number }).ttl;
  switch (r.type) {
    case 'RRSIG':
      return `${r.name}. ${ttl} RRSIG ${String(d['typeCovered'])} ${String(d['labels'])} ${String(d['signersName'])}.`;
    case 'NSEC':
      return `${r.name}. ${ttl} NSEC ${String(d['nextDomain']).replace(/\u0000/g, '\\000')}.`;
    case 'DNSKEY':
      return `${r.name}. ${ttl} DNSKEY ${String(d['flags'])}`;
    case 'DS':
      return `${r.name}. ${ttl} DS ${String(d['keyTag'])} ${String(d['algorithm'])} ${String(d['digestType'])} ${(d['digest'] as Buffer).toString('hex').toUpperCase()}`;
    default:
      return rrText(r);
  }
}

interface Row {
  q: [string, string];
  do?: boolean;
  answer?: string[];
  ns?: string[];
  /** Types the black lie's bitmap must hold (where CoreDNS's table spells it out as the code makes it). */
  bitmap?: string[];
}

const SOA = 'miek.nl. 1800 IN SOA linode.atoom.net. miek.miek.nl. 1282630057 14400 3600 604800 14400';
const DS = 'deleg.miek.nl. 1800 DS 18512 13 2 D4E806322598BC97A003EF1ACDFF352EEFF7B42DBB0D41B8224714C36AEF08D9';
const NS = 'miek.nl. 1800 IN NS linode.atoom.net.';
const APEX = ['A', 'NS', 'SOA', 'HINFO', 'MX', 'TXT', 'AAAA', 'LOC', 'SRV', 'CERT', 'SSHFP', 'RRSIG', 'NSEC', 'DNSKEY', 'TLSA', 'HIP', 'UNKNOWN_61', 'SPF'];
const sig = (owner: string, covered: string, labels: number, ttl = 1800): string => `${owner} ${ttl} RRSIG ${covered} ${labels} miek.nl.`;

/** TestLookupDNSKEY (dnssecTestCases) and TestLookupZone (dnsTestCases). */
const rows: Row[] = [
  { q: ['miek.nl.', 'DNSKEY'], answer: ['miek.nl. 3600 DNSKEY 257'] },
  { q: ['miek.nl.', 'DNSKEY'], do: true, answer: ['miek.nl. 3600 DNSKEY 257', sig('miek.nl.', 'DNSKEY', 2, 3600)] },
  { q: ['miek.nl.', 'NS'], do: true, answer: [NS, sig('miek.nl.', 'NS', 2)] },
  { q: ['deleg.miek.nl.', 'NS'], do: true, ns: [DS, 'deleg.miek.nl. 1800 IN NS ns01.deleg.miek.nl.', sig('deleg.miek.nl.', 'DS', 3)] },
  { q: ['unsigned.miek.nl.', 'NS'], do: true, ns: ['unsigned.miek.nl. 1800 IN NS ns01.deleg.miek.nl.', 'unsigned.miek.nl. 1800 NSEC unsigned\\000.miek.nl.', sig('unsigned.miek.nl.', 'NSEC', 3)] },
  { q: ['deleg.miek.nl.', 'DS'], answer: [DS], ns: [NS] },
  { q: ['unsigned.miek.nl.', 'DS'], ns: [SOA] },
  { q: ['miek.nl.', 'DS'], do: true, ns: ['miek.nl. 1800 NSEC \\000.miek.nl.', sig('miek.nl.', 'NSEC', 2), sig('miek.nl.', 'SOA', 2), SOA], bitmap: APEX },
  { q: ['deleg.miek.nl.', 'DS'], do: true, answer: [DS, sig('deleg.miek.nl.', 'DS', 3)], ns: [NS, sig('miek.nl.', 'NS', 2)] },
  { q: ['unsigned.miek.nl.', 'DS'], do: true, ns: [sig('miek.nl.', 'SOA', 2), SOA, 'unsigned.miek.nl. 1800 NSEC \\000.unsigned.miek.nl.', sig('unsigned.miek.nl.', 'NSEC', 3)] },
  { q: ['miek.nl.', 'MX'], answer: ['miek.nl. 1800 IN MX 1 aspmx.l.google.com.'], ns: [NS] },
  { q: ['miek.nl.', 'MX'], do: true, answer: ['miek.nl. 1800 IN MX 1 aspmx.l.google.com.', sig('miek.nl.', 'MX', 2)], ns: [NS, sig('miek.nl.', 'NS', 2)] },
  {
    q: ['www.miek.nl.', 'AAAA'],
    do: true,
    answer: ['a.miek.nl. 1800 IN AAAA 2a01:7e00::f03c:91ff:fef1:6735', sig('a.miek.nl.', 'AAAA', 3), 'www.miek.nl. 1800 IN CNAME a.miek.nl.', sig('www.miek.nl.', 'CNAME', 3)],
    ns: [NS, sig('miek.nl.', 'NS', 2)],
  },
  {
    q: ['wwwww.miek.nl.', 'AAAA'],
    do: true,
    ns: [sig('miek.nl.', 'SOA', 2), SOA, 'wwwww.miek.nl. 1800 NSEC \\000.wwwww.miek.nl.', sig('wwwww.miek.nl.', 'NSEC', 3)],
    bitmap: ['A', 'HINFO', 'TXT', 'LOC', 'SRV', 'CERT', 'SSHFP', 'RRSIG', 'NSEC', 'TLSA', 'HIP', 'UNKNOWN_61', 'SPF'],
  },
  { q: ['miek.nl.', 'HINFO'], do: true, ns: ['miek.nl. 1800 NSEC \\000.miek.nl.', sig('miek.nl.', 'NSEC', 2), sig('miek.nl.', 'SOA', 2), SOA], bitmap: APEX.filter((t) => t !== 'HINFO') },
  // ('www.example.org. AAAA' → SERVFAIL does not map: outside the block's zone a real server answers REFUSED)
];

describe.skipIf(!haveKeygen)('CoreDNS handler_test.go (TestLookupZone, TestLookupDNSKEY) through a server', () => {
  let dir: string;
  let srv: TestServer;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-dnssec-miek-'));
    fs.writeFileSync(path.join(dir, 'db.miek.nl'), MIEK);
    const key = await makeKey(dir, 'miek.nl', { ksk: true });
    srv = await startServer(`miek.nl:0 {\n  bind 127.0.0.1\n  dnssec {\n    key file ${key}\n  }\n  file ${path.join(dir, 'db.miek.nl')} {\n    reload 0\n  }\n}`);
  });
  afterAll(async () => {
    await srv?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it.each(rows.map((r) => [`${r.q[0]} ${r.q[1]}${r.do ? ' +dnssec' : ''}`, r] as const))('%s', async (_n, row) => {
    const r = await srv.query(row.q[0], row.q[1], { edns: true, do: row.do ?? false });
    expect(r.rcode).toBe(0);
    if (row.q[1] === 'DNSKEY') expect(r.msg.flag_aa).toBe(true);
    expect((r.msg.answers ?? []).map(show).sort()).toEqual([...(row.answer ?? [])].sort());
    expect((r.msg.authorities ?? []).map(show).sort()).toEqual([...(row.ns ?? [])].sort());
    for (const n of [...(r.msg.answers ?? []), ...(r.msg.authorities ?? [])]) {
      if (n.type !== 'NSEC') continue;
      const types = (n as unknown as { data: { rrtypes: string[] } }).data.rrtypes;
      // a denial's bitmap never has the asked type (TestLookupDNSKEY); a delegation's is fixed
      if ((r.msg.authorities ?? []).some((a) => a.type === 'SOA')) expect(types).not.toContain(row.q[1]);
      if (row.bitmap) expect([...types].sort()).toEqual([...row.bitmap].sort());
    }
  });
});

/** CoreDNS's dnssec_test.go and cname_signing_test.go: fixed replies written by a plugin after dnssec, the RRSIGs counted per section. */
interface SignRow {
  name: string;
  q: [string, string];
  answer?: RR[];
  ns?: RR[];
  extra?: RR[];
  /** RRSIGs expected in answer, authority, additional. */
  sigs: [number, number, number];
  /** Signer of the RRSIG covering each type, when the row checks it. */
  signers?: Record<string, string>;
}

const R = (name: string, type: string, data: unknown, ttl = 1800): RR => ({ name, type, class: 'IN', ttl, data }) as RR;
const signRows: SignRow[] = [
  { name: 'TestZoneSigning', q: ['miek.nl.', 'MX'], answer: [R('miek.nl', 'MX', { preference: 1, exchange: 'aspmx.l.google.com' }, 1703)], ns: [R('miek.nl', 'NS', 'omval.tednet.nl', 1703)], sigs: [1, 1, 0] },
  { name: 'TestSigningCname', q: ['www.miek.nl.', 'CNAME'], answer: [R('www.miek.nl', 'CNAME', 'a.miek.nl')], sigs: [1, 0, 0] },
  {
    name: 'TestSigningDname',
    q: ['a.dname.miek.nl.', 'A'],
    answer: [R('a.dname.miek.nl', 'CNAME', 'a.test.miek.nl'), R('a.test.miek.nl', 'A', '139.162.196.78'), R('dname.miek.nl', 'DNAME', 'test.miek.nl')],
    sigs: [3, 0, 0],
  },
  { name: 'TestSigningEmpty', q: ['a.miek.nl.', 'A'], ns: [R('miek.nl', 'SOA', { mname: 'ns.miek.nl', rname: 'dnsmaster.miek.nl', serial: 2017100301, refresh: 200, retry: 100, expire: 604800, minimum: 3600 })], sigs: [0, 2, 0] },
  {
    name: 'TestDelegationSigned',
    q: ['sub.miek.nl.', 'NS'],
    ns: [R('sub.miek.nl', 'NS', 'ns1.sub.miek.nl'), R('sub.miek.nl', 'DS', { keyTag: 18512, algorithm: 13, digestType: 2, digest: Buffer.alloc(32, 0xd4) })],
    extra: [R('ns1.sub.miek.nl', 'A', '192.0.2.1')],
    sigs: [0, 1, 0],
  },
  // not CoreDNS's: the DS's TTL differs from the NS's; its RRSIG carries the DS's (RFC 4034 3: an RRSIG's TTL is its RRset's)
  {
    name: 'DelegationSignedDsTtl',
    q: ['ttl.miek.nl.', 'NS'],
    ns: [R('ttl.miek.nl', 'NS', 'ns1.ttl.miek.nl'), R('ttl.miek.nl', 'DS', { keyTag: 18512, algorithm: 13, digestType: 2, digest: Buffer.alloc(32, 0xd4) }, 3600)],
    sigs: [0, 1, 0],
  },
  // (CoreDNS asks sub.miek.nl. here too; another name, so that the fixed plugin tells the two rows apart)
  { name: 'TestDelegationUnSigned', q: ['unsub.miek.nl.', 'NS'], ns: [R('unsub.miek.nl', 'NS', 'ns1.unsub.miek.nl')], extra: [R('ns1.unsub.miek.nl', 'A', '192.0.2.1')], sigs: [0, 1, 0] },
  {
    name: 'TestSigningCnameOutOfZone',
    q: ['www.miek.nl.', 'A'],
    answer: [R('www.miek.nl', 'CNAME', 'target.example.com'), R('target.example.com', 'A', '127.0.0.1')],
    sigs: [1, 0, 0],
    signers: { CNAME: 'miek.nl' },
  },
  {
    name: 'TestSigningCnameCrossZone',
    q: ['www.miek.nl.', 'AAAA'],
    answer: [R('www.miek.nl', 'CNAME', 'db.example.org'), R('db.example.org', 'A', '127.0.0.1')],
    sigs: [2, 0, 0],
    signers: { CNAME: 'miek.nl', A: 'example.org' },
  },
];

describe.skipIf(!haveKeygen)('CoreDNS dnssec_test.go and cname_signing_test.go through a server', () => {
  let dir: string;
  let one: TestServer;
  let two: TestServer;
  const fixed = responder('fixed', (req, w) => {
    const row = signRows.find((r) => r.q[0] === req.name && r.q[1] === typeName(req.qtype));
    if (row === undefined) return RCODE.SERVFAIL;
    w.write({ type: 'response', flags: 0, answers: row.answer ?? [], authorities: row.ns ?? [], additionals: row.extra ?? [] });
    return RCODE.NOERROR;
  });
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-dnssec-sign-'));
    const k1 = await makeKey(dir, 'miek.nl', { ksk: true });
    const k2 = await makeKey(dir, 'miek.nl', { ksk: true });
    const kx = await makeKey(dir, 'example.org', { ksk: true });
    const block = (keys: string[]): string => `miek.nl:0 example.org:0 {\n  bind 127.0.0.1\n  dnssec miek.nl example.org {\n    key file ${keys.join(' ')}\n  }\n  fixed\n}`;
    one = await startServer(block([k1, kx]), { plugins: [fixed] });
    two = await startServer(block([k1, k2]), { plugins: [fixed] });
  });
  afterAll(async () => {
    await one?.close();
    await two?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const count = (rrs: DecodedPacket['answers']): number => (rrs ?? []).filter((r) => r.type === 'RRSIG').length;
  it.each(signRows.map((r) => [r.name, r] as const))('%s', async (_n, row) => {
    // The block has two keys (one made for each zone, both KSKs: no split) and, as in CoreDNS, every
    // key signs every RRset in the zones: CoreDNS's one-key counts, doubled.
    const r = await one.query(row.q[0], row.q[1], { edns: true, do: true });
    const perKey = 2;
    expect([count(r.msg.answers), count(r.msg.authorities), count((r.msg.additionals ?? []).filter((a) => a.type !== 'OPT'))]).toEqual(row.sigs.map((n) => n * perKey));
    for (const [type, signer] of Object.entries(row.signers ?? {})) {
      const sigs = (r.msg.answers ?? []).filter((a) => a.type === 'RRSIG' && (a as unknown as { data: { typeCovered: string } }).data.typeCovered === type);
      expect(sigs.map((s) => (s as unknown as { data: { signersName: string } }).data.signersName)).toEqual([signer, signer]);
    }
    if (row.name === 'DelegationSignedDsTtl') {
      const sigs = (r.msg.authorities ?? []).filter((a) => a.type === 'RRSIG');
      expect(sigs.map((s) => s.ttl)).toEqual([3600, 3600]);
    }
    if (row.name === 'TestDelegationUnSigned') {
      const nsec = (r.msg.authorities ?? []).find((a) => a.type === 'NSEC') as unknown as { data: { rrtypes: string[] } };
      expect(nsec.data.rrtypes).toContain('NS'); // correctNsecForDS: NS set, DS not
      expect(nsec.data.rrtypes).not.toContain('DS');
    }
  });

  it('TestZoneSigningDouble: two keys, two RRSIGs per RRset', async () => {
    const r = await two.query('miek.nl.', 'MX', { edns: true, do: true });
    expect([count(r.msg.answers), count(r.msg.authorities)]).toEqual([2, 2]);
  });
});
