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
import { rrText } from '../../src/plugin/api.js';
import { startServer, type TestServer } from '../../src/testing/index.js';
import { Dispenser } from '../../src/plugin/api.js';
import { checkErrors } from '../../test/support/check.js';
import { has, makeKey } from '../../test/support/dnssec.js';
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

const MIEK = `
$TTL    30M
$ORIGIN miek.nl.
@       IN      SOA     linode.atoom.net. miek.miek.nl. (
                             1282630057 ; Serial
                             4H         ; Refresh
                             1H         ; Retry
                             7D         ; Expire
                             4H )       ; Negative Cache TTL
                IN      NS      linode.atoom.net.

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
