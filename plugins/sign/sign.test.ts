// sign over real tools and sockets: the file it writes is accepted by ldns-verify-zone and
// named-checkzone, and, served by `file`, validated by delv (existing name, NXDOMAIN, NODATA,
// wildcard, delegations); re-signing when the SOA's signature gets old, would expire or the input
// serial changes, by an injected clock and a short refresh; CoreDNS's plugin/sign tests
// (signer_test.go, resign_test.go, setup_test.go) replayed where they map.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RR } from '../../src/plugin/api.js';
import { startServer, type TestServer } from '../../src/testing/index.js';
import { readKeyPair } from '../../src/dns/dnssec/index.js';
import { anchorFile, delv, DNSSEC_NAMES, makeKey, run } from '../../test/support/dnssec.js';
import { hasTool as has } from '../../test/support/tools.js';
import { checkCorefile as checkErrors } from '../../test/support/check-corefile.js';
import { until } from '../../test/support/k8s-dns.js';
import { zoneRecords } from '../file/zonefile.js';
import { signClock } from './index.js';
import { DURATIONS, resignReason, Signer } from './signer.js';

const haveTools = has('ldns-keygen') && has('delv') && has('ldns-verify-zone') && has('named-checkzone');
if (!haveTools) console.warn('skipping the sign tests: ldns-keygen, ldns-verify-zone (ldnsutils), named-checkzone (bind9-utils) or delv (bind9-dnsutils) not installed');

const ZONE = `$ORIGIN example.org.
$TTL 3600
@ IN SOA ns1 hostmaster 7 7200 3600 1209600 300
@ IN NS ns1
@ IN MX 10 mail
ns1 IN A 192.0.2.53
www IN A 192.0.2.80
www IN AAAA 2001:db8::80
www IN TXT "a \\"quoted\\" string" "and; more"
${DNSSEC_NAMES}svc IN SVCB 1 . alpn=h2
`;

// CoreDNS's plugin/sign/testdata zones (data only)
const MIEK = `$TTL    30M
$ORIGIN miek.nl.
@       IN      SOA     linode.atoom.net. miek.miek.nl. ( 1282630060 4H 1H 7D 4H )
                IN      NS      linode.atoom.net.
                IN      MX      1  aspmx.l.google.com.
		IN 	AAAA    2a01:7e00::f03c:91ff:fe79:234c
		IN	DNSKEY  257 3 13 sfzRg5nDVxbeUc51su4MzjgwpOpUwnuu81SlRHqJuXe3SOYOeypR69tZ52XLmE56TAmPHsiB8Rgk+NTpf0o1Cw==

a		IN 	AAAA    2a01:7e00::f03c:91ff:fe79:234c
www     	IN 	CNAME 	a


bla                 IN  NS      ns1.bla.com.
ns3.blaaat.miek.nl. IN  AAAA    ::1 ; non-glue, should be signed.
; in baliwick nameserver that requires glue, should not be signed
bla                 IN  NS      ns2.bla.miek.nl.
ns2.bla.miek.nl.    IN  A       127.0.0.1
`;
const MIEK_NS = `$TTL    30M
$ORIGIN miek.nl.
@       IN      SOA     linode.atoom.net. miek.miek.nl. ( 1282630060 4H 1H 7D 4H )
                NS      linode.atoom.net.
		DNSKEY  257 3 13 sfzRg5nDVxbeUc51su4MzjgwpOpUwnuu81SlRHqJuXe3SOYOeypR69tZ52XLmE56TAmPHsiB8Rgk+NTpf0o1Cw==

www 	        AAAA    ::1
child           NS      ns.child
ns.child        AAAA    ::1
child	        DS	34385 13 2 fc7397c77afbccb6742fcff19c7b1410d0044661e7085fc200ae1ab3d15a5842
`;

/** The records of a signed file by owner: "TYPE" strings, RRSIGs as "RRSIG:COVERED". */
function byOwner(text: string, origin: string): Map<string, { types: string[]; rrs: RR[] }> {
  const m = new Map<string, { types: string[]; rrs: RR[] }>();
  for (const r of zoneRecords(text, origin, 'signed')) {
    let e = m.get(r.owner);
    if (e === undefined) m.set(r.owner, (e = { types: [], rrs: [] }));
    const d = (r.rr as { data?: unknown }).data;
    e.types.push(r.qtype === 46 ? `RRSIG:${(d as Buffer).readUInt16BE(0)}` : String(r.qtype));
    e.rrs.push(r.rr);
  }
  return m;
}
const nsecOf = (rr: RR | { type: string }): { next: string; types: number[] } => {
  const d = (rr as unknown as { data: Buffer }).data;
  const labels: string[] = [];
  let p = 0;
  while (d[p] !== 0) {
    labels.push(d.subarray(p + 1, p + 1 + d[p]!).toString());
    p += d[p]! + 1;
  }
  const types: number[] = [];
  for (p++; p < d.length; ) {
    const win = d[p]!;
    const len = d[p + 1]!;
    for (let i = 0; i < len; i++) for (let b = 0; b < 8; b++) if (d[p + 2 + i]! & (0x80 >> b)) types.push(win * 256 + i * 8 + b);
    p += 2 + len;
  }
  return { next: `${labels.join('.')}.`, types };
};

describe.skipIf(!haveTools)('sign: offline signing', () => {
  let dir: string;
  let key: string;
  let srv: TestServer | undefined;
  const saved = { ...signClock };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-sign-'));
    key = await makeKey(dir, 'example.org', { ksk: true });
    fs.writeFileSync(path.join(dir, 'db.example.org'), ZONE);
  });
  afterEach(async () => {
    Object.assign(signClock, saved);
    await srv?.close();
    srv = undefined;
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const corefile = (out: string): string => `example.org:0 {
  bind 127.0.0.1
  sign ${path.join(dir, 'db.example.org')} {
    key file ${key}
    directory ${out}
  }
  file ${path.join(out, 'db.example.org.signed')} {
    reload 0
  }
}`;

  it('writes db.example.org.signed, which ldns-verify-zone and named-checkzone accept and delv validates when file serves it', async () => {
    const out = path.join(dir, 'out1');
    srv = await startServer(corefile(out));
    const signed = path.join(out, 'db.example.org.signed');
    expect(srv.log.lines.join('\n')).toMatch(/Signed zone "example.org." because there is no signed file/);
    const verify = await run('ldns-verify-zone', [signed]).catch((e: { stdout?: string; stderr?: string; code?: number }) => e);
    expect((verify as { code?: number }).code ?? 0, `${(verify as { stdout?: string }).stdout}\n${(verify as { stderr?: string }).stderr}`).toBe(0);
    expect((verify as { stdout: string }).stdout).toMatch(/Zone is verified and complete/);
    const check = await run('named-checkzone', ['-i', 'full', 'example.org', signed]);
    // (it warns about the SHA-1 CDS, which CoreDNS's sign writes too)
    expect(check.stdout).toMatch(/loaded serial \d+[\s\S]*\nOK\n?$/);

    const anchors = anchorFile(dir, 'example.org', `${key}.key`);
    const v = (name: string, type: string): Promise<string> => delv(srv!.port, anchors, 'example.org', name, type);
    const www = await v('www.example.org', 'A');
    expect(www).toContain('; fully validated');
    expect(www).toContain('192.0.2.80');
    expect(await v('www.example.org', 'TXT')).toContain('; fully validated');
    expect(await v('example.org', 'DNSKEY')).toContain('; fully validated');
    expect(await v('example.org', 'CDS')).toContain('; fully validated');
    expect(await v('alias.example.org', 'AAAA')).toContain('; fully validated');
    expect(await v('svc.example.org', 'SVCB')).toContain('; fully validated');
    const nx = await v('missing.example.org', 'A');
    expect(nx).toContain('; negative response, fully validated');
    expect(nx).toContain('NXDOMAIN');
    const nodata = await v('www.example.org', 'MX');
    expect(nodata).toContain('; negative response, fully validated');
    expect(nodata).toContain('NXRRSET');
    expect(await v('b.deep.example.org', 'A')).toContain('; negative response, fully validated');
    const wild = await v('host.wild.example.org', 'A');
    expect(wild).toContain('; fully validated');
    expect(wild).toContain('192.0.2.99');
    expect(await v('host.wild.example.org', 'TXT')).toContain('; negative response, fully validated');
    expect(await v('secure.example.org', 'DS')).toContain('; fully validated');
    expect(await v('sub.example.org', 'DS')).toContain('; negative response, fully validated');
  });

  it('re-signs on the refresh when the input serial changes, and not while the signatures are good', async () => {
    const out = path.join(dir, 'out2');
    const input = path.join(dir, 'db.example.org');
    srv = await startServer(corefile(out));
    await srv.close();
    srv = undefined;
    const signed = path.join(out, 'db.example.org.signed');
    const first = fs.readFileSync(signed, 'utf8');
    // a restart with nothing changed: skipped
    signClock.refreshMs = 20;
    srv = await startServer(corefile(out));
    expect(srv.log.lines.join('\n')).toMatch(/Skipping signing zone "example.org."/);
    expect(fs.readFileSync(signed, 'utf8')).toBe(first);
    // a new serial in the input: the next refresh signs again
    fs.writeFileSync(input, ZONE.replace(' 7 7200', ' 8 7200').replace('192.0.2.80', '192.0.2.81'));
    try {
      await until(() => fs.readFileSync(signed, 'utf8').includes('serial 8 at'), 10_000, 'the signed file made again from serial 8');
      expect(fs.readFileSync(signed, 'utf8')).toContain('192.0.2.81');
      expect(srv.log.lines.join('\n')).toMatch(/because the input's serial 8 is not the signed one's \(7\)/);
    } finally {
      fs.writeFileSync(input, ZONE);
    }
  });

  it("re-signs by CoreDNS's window on the SOA's RRSIG: inception over 6 days back or in the future, expiration under 7 days", async () => {
    const out = path.join(dir, 'out3');
    const s = new Signer({ dbfile: path.join(dir, 'db.example.org'), origin: 'example.org.', directory: out, keys: [readKeyPair(key)], jitter: { inception: 0, expiration: 0 } });
    const t0 = 1_800_000_000;
    expect(s.reason(t0)).toBe('there is no signed file');
    const o = s.sign(t0);
    expect(o.serial).toBe(t0);
    expect(s.reason(t0)).toBeUndefined();
    // inception = t0 - 3h: at t0 + 6d - 3h it is exactly 6 days old, one second later too old
    expect(s.reason(t0 + DURATIONS.resign - DURATIONS.inception)).toBeUndefined();
    expect(s.reason(t0 + DURATIONS.resign - DURATIONS.inception + 1)).toMatch(/inception .* was more than 6 days ago/);
    expect(s.reason(t0 - 4 * 3600)).toMatch(/inception .* is in the future/);
    // (the expiration branch: CoreDNS's resign_test.go table below)
  });

  it('CoreDNS resign_test.go: inception and expiration of an SOA RRSIG', () => {
    // then = 2019-07-18T22:50:00Z
    const then = Date.UTC(2019, 6, 18, 22, 50) / 1000;
    const sig = (exp: string, inc: string): string =>
      `miek.nl. 1800 IN SOA a. b. 1 2 3 4 5\nmiek.nl.\t1800\tIN\tRRSIG\tSOA 13 2 1800 ${exp} ${inc} 59725 miek.nl. eU6gI1OkSEby\n`; // (CoreDNS's signature text cut to valid base64)
    const r = (exp: string, inc: string): string | undefined => resignReason(sig(exp, inc), 'miek.nl.', 1, then);
    expect(r('20190808191936', '20190717161936')).toBeUndefined(); // signed yesterday
    expect(r('20190808191936', '20190731161936')).toBeDefined(); // inception in the future
    expect(r('20190717191936', '20190717161936')).toBeDefined(); // expires tomorrow (already expired)
    expect(r('20190731191936', '20190717161936')).toBeUndefined(); // expiration far enough
    expect(r('20190721191936', '20190717161936')).toBeDefined(); // under 7 days
  });

  it('CoreDNS signer_test.go: apex records, glue unsigned, a signed delegation', async () => {
    const mkey = await makeKey(dir, 'miek.nl', { ksk: true });
    const k = readKeyPair(mkey);
    const signWith = (text: string, origin: string, name: string): string => {
      fs.writeFileSync(path.join(dir, name), text);
      const s = new Signer({ dbfile: path.join(dir, name), origin, directory: path.join(dir, `out-${name}`), keys: [k], jitter: { inception: 0, expiration: 0 } });
      s.sign(Math.floor(Date.now() / 1000));
      return fs.readFileSync(s.signedPath, 'utf8');
    };
    // TestSign: the input's DNSKEY dropped; one DNSKEY, two CDS, one CDNSKEY, no DS at the apex
    const miek = byOwner(signWith(MIEK, 'miek.nl.', 'db.miek.nl'), 'miek.nl.');
    const apex = miek.get('miek.nl.')!.types;
    expect(apex.filter((t) => t === '48')).toHaveLength(1);
    expect(apex.filter((t) => t === '59')).toHaveLength(2);
    expect(apex.filter((t) => t === '60')).toHaveLength(1);
    expect(apex.filter((t) => t === '43')).toHaveLength(0);
    // TestSignGlue: no RRSIG on glue below a delegation; the out-of-delegation name is signed
    expect(miek.get('ns2.bla.miek.nl.')!.types).toEqual(['1']);
    expect(miek.get('ns3.blaaat.miek.nl.')!.types).toContain('RRSIG:28');
    // TestSignApexZone: NSEC at the apex to itself with 7 types, DNSKEY TTL = SOA TTL, RRSIG original TTL = DNSKEY TTL
    const only = byOwner(signWith('$TTL    30M\n$ORIGIN example.org.\n@       IN      SOA     linode miek.miek.nl. ( 1282630060 4H 1H 7D 4H )\n        IN      NS      linode\n', 'example.org.', 'db.apex-test.example.org'), 'example.org.');
    const e = only.get('example.org.')!;
    const nsec = nsecOf(e.rrs.find((r) => (r.type as string) === 'UNKNOWN_47')!);
    expect(nsec.next).toBe('example.org.');
    expect(nsec.types).toEqual([2, 6, 46, 47, 48, 59, 60]);
    const dnskey = e.rrs.find((r) => (r.type as string) === 'UNKNOWN_48') as unknown as { ttl: number };
    expect(dnskey.ttl).toBe(1800);
    const keySig = e.rrs.find((r) => (r.type as string) === 'UNKNOWN_46' && (r as unknown as { data: Buffer }).data.readUInt16BE(0) === 48) as unknown as { data: Buffer };
    expect(keySig.data.readUInt32BE(4)).toBe(1800);
    // TestSignDS: at the delegation NS, DS, NSEC and RRSIGs over DS and NSEC only; NSEC to www, TTL = SOA minimum
    const ds = byOwner(signWith(MIEK_NS, 'miek.nl.', 'db.miek.nl_ns'), 'miek.nl.');
    const child = ds.get('child.miek.nl.')!;
    expect(child.types.sort()).toEqual(['2', '43', '47', 'RRSIG:43', 'RRSIG:47'].sort());
    const cn = child.rrs.find((r) => (r.type as string) === 'UNKNOWN_47')!;
    expect(nsecOf(cn).next).toBe('www.miek.nl.');
    expect((cn as unknown as { ttl: number }).ttl).toBe(4 * 3600);
  });

  it('CoreDNS setup_test.go and bad options as file:line errors', () => {
    const k = path.relative(process.cwd(), key);
    expect(checkErrors(`example.org {\n  sign db.example.org {\n    key file ${k}\n    directory /tmp\n  }\n}\n`)).toEqual([]);
    expect(checkErrors(`example.org {\n  sign\n}\n`)).toEqual(["Corefile:2: plugin/sign: wrong argument count or unexpected line ending after 'sign'"]);
    expect(checkErrors(`example.org {\n  sign db.example.org {\n    key file ${k}\n    directory a b\n  }\n}\n`)).toEqual(['Corefile:4: plugin/sign: can only be one argument after "directory"']);
    expect(checkErrors(`example.org {\n  sign db.example.org {\n    key directory /etc\n  }\n}\n`)).toEqual(['Corefile:3: plugin/sign: directory: not implemented']);
    expect(checkErrors(`example.org {\n  sign db.example.org {\n    key file Knope\n  }\n}\n`)[0]).toMatch(/^Corefile:3: plugin\/sign: no such key file: .*Knope\.key$/);
    expect(checkErrors(`example.org {\n  sign db.example.org {\n    nope\n  }\n}\n`)).toEqual(["Corefile:3: plugin/sign: unknown property 'nope'"]);
    expect(checkErrors(`example.org {\n  sign db.example.org\n}\n`)).toEqual(['Corefile:2: plugin/sign: no key to sign zone example.org. with']);
  });
});
