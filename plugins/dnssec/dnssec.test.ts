// Online signing over sockets: an unsigned zone served by `file` and the kubernetes zone (from
// manifests) signed by `dnssec`, validated by BIND's delv with the signing key as trust anchor —
// existing names, DNSKEY, NXDOMAIN and NODATA as black lies, a Service name — plus direct checks
// of what a DO=1 reply holds beside a DO=0 one, split KSK/ZSK signing and the signature cache.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DecodedPacket } from 'dns-packet';
import { startServer, type TestServer } from '../../src/testing/index.js';
import { anchorFile, covered, delv, makeKey, types } from '../../test/support/dnssec.js';
import { hasTool as has } from '../../test/support/tools.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const haveTools = has('ldns-keygen') && has('delv');
if (!haveTools) console.warn('skipping the dnssec plugin tests: ldns-keygen (ldnsutils) or delv (bind9-dnsutils) not installed');

const ZONE = `$ORIGIN example.org.
$TTL 3600
@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300
@ IN NS ns1
@ IN MX 10 mail
ns1 IN A 192.0.2.53
www IN A 192.0.2.80
www IN AAAA 2001:db8::80
alias IN CNAME www
*.wild IN A 192.0.2.99
sub IN NS ns.sub
ns.sub IN A 192.0.2.1
`;

type Rrs = DecodedPacket['answers'];
const sigData = (rrs: Rrs): { keyTag: number; inception: number; expiration: number; originalTTL: number; signersName: string }[] =>
  (rrs ?? []).filter((r) => r.type === 'RRSIG').map((r) => (r as unknown as { data: { keyTag: number; inception: number; expiration: number; originalTTL: number; signersName: string } }).data);

describe.skipIf(!haveTools)('dnssec: online signing over sockets', () => {
  let dir: string;
  let srv: TestServer;
  let csk: string;
  let kcsk: string;
  let ksk: string;
  let zsk: string;
  /** Before the server started: a signature made by any test of this block is not older. */
  let started: number;

  beforeAll(async () => {
    started = Math.floor(Date.now() / 1000);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-dnssec-'));
    fs.writeFileSync(path.join(dir, 'db.example.org'), ZONE);
    csk = await makeKey(dir, 'example.org', { ksk: true });
    kcsk = await makeKey(dir, 'cluster.local', { ksk: true, algorithm: 'ED25519' });
    ksk = await makeKey(dir, 'split.test', { ksk: true, algorithm: 'ECDSAP384SHA384' });
    zsk = await makeKey(dir, 'split.test', { algorithm: 'ECDSAP384SHA384' });
    fs.writeFileSync(path.join(dir, 'db.split.test'), ZONE.replace('$ORIGIN example.org.', '$ORIGIN split.test.'));
    srv = await startServer(`example.org:0 {
  bind 127.0.0.1
  dnssec {
    key file ${csk}
  }
  file ${path.join(dir, 'db.example.org')} {
    reload 0
  }
}
cluster.local:0 {
  bind 127.0.0.1
  dnssec {
    key file ${kcsk}.private
  }
  kubernetes cluster.local {
    manifests ${path.join(ROOT, 'examples/cluster')}
  }
}
split.test:0 {
  bind 127.0.0.1
  dnssec {
    key file ${ksk}.key ${zsk}
  }
  file ${path.join(dir, 'db.split.test')} {
    reload 0
  }
}`);
  }, 60_000);
  afterAll(async () => {
    await srv?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const v = (zone: string, key: string, name: string, type: string): Promise<string> => delv(srv.port, anchorFile(dir, zone, `${key}.key`), zone, name, type);

  it('delv validates an existing name, the apex DNSKEY, MX, NS and a CNAME chain', async () => {
    const www = await v('example.org', csk, 'www.example.org', 'A');
    expect(www).toContain('; fully validated');
    expect(www).toMatch(/www\.example\.org\.\s+\d+\s+IN\s+A\s+192\.0\.2\.80/);
    expect(await v('example.org', csk, 'www.example.org', 'AAAA')).toContain('; fully validated');
    expect(await v('example.org', csk, 'example.org', 'DNSKEY')).toContain('; fully validated');
    expect(await v('example.org', csk, 'example.org', 'MX')).toContain('; fully validated');
    expect(await v('example.org', csk, 'example.org', 'NS')).toContain('; fully validated');
    expect(await v('example.org', csk, 'alias.example.org', 'A')).toContain('; fully validated');
    expect(await v('example.org', csk, 'host.wild.example.org', 'A')).toContain('; fully validated');
  });

  it('delv validates NXDOMAIN and NODATA, both as black-lie NODATA', async () => {
    const nx = await v('example.org', csk, 'missing.example.org', 'A');
    expect(nx).toContain('; negative response, fully validated');
    expect(nx).toContain('NXRRSET');
    const nodata = await v('example.org', csk, 'www.example.org', 'TXT');
    expect(nodata).toContain('; negative response, fully validated');
    expect(await v('example.org', csk, 'example.org', 'TXT')).toContain('; negative response, fully validated');
  });

  it('delv validates a kubernetes Service name, a missing one and the cluster zone DNSKEY (ED25519)', async () => {
    const web = await v('cluster.local', kcsk, 'web.shop.svc.cluster.local', 'A');
    expect(web).toContain('; fully validated');
    expect(web).toContain('10.96.10.10');
    expect(await v('cluster.local', kcsk, 'cluster.local', 'DNSKEY')).toContain('; fully validated');
    expect(await v('cluster.local', kcsk, 'nope.shop.svc.cluster.local', 'A')).toContain('; negative response, fully validated');
    expect(await v('cluster.local', kcsk, '_http._tcp.web.shop.svc.cluster.local', 'SRV')).toContain('; fully validated');
  });

  it('split keys (P-384): DNSKEY signed by the KSK, the rest by the ZSK; delv validates from the KSK', async () => {
    expect(await v('split.test', ksk, 'www.split.test', 'A')).toContain('; fully validated');
    expect(await v('split.test', ksk, 'missing.split.test', 'A')).toContain('; negative response, fully validated');
    const tags = (base: string): number => Number(/\+(\d+)$/.exec(base)![1]);
    const dnskey = (await srv.query('split.test', 'DNSKEY', { edns: true, do: true })).msg;
    expect(types(dnskey.answers)).toEqual(['split.test DNSKEY', 'split.test DNSKEY', 'split.test RRSIG']);
    expect(sigData(dnskey.answers).map((s) => s.keyTag)).toEqual([tags(ksk)]);
    const www = (await srv.query('www.split.test', 'A', { edns: true, do: true })).msg;
    expect(sigData(www.answers).map((s) => s.keyTag)).toEqual([tags(zsk)]);
  });

  it('DO=1: RRSIGs as CoreDNS makes them, DO echoed, AD never set; DO=0 replies unchanged', async () => {
    const plain = (await srv.query('www.example.org', 'A', { edns: true })).msg;
    expect(types(plain.answers)).toEqual(['www.example.org A']);
    expect(types(plain.authorities)).toEqual(['example.org NS']);
    const t0 = Math.floor(Date.now() / 1000);
    const signed = (await srv.query('www.example.org', 'A', { edns: true, do: true })).msg;
    expect(types(signed.answers)).toEqual(['www.example.org A', 'www.example.org RRSIG']);
    expect(covered(signed.authorities)).toEqual(['example.org NS']);
    expect(signed.flag_ad).toBe(false);
    expect(signed.flag_aa).toBe(true);
    const opt = (signed.additionals ?? []).find((a) => a.type === 'OPT') as { flag_do?: boolean } | undefined;
    expect(opt?.flag_do).toBe(true);
    const [sig] = sigData(signed.answers);
    expect(sig!.originalTTL).toBe(3600);
    expect(sig!.signersName).toBe('example.org');
    // inception three hours back, expiration eight days ahead, of when it was signed: this test
    // or an earlier one of the block (the signature cache keeps it), so between `started` and now
    expect(sig!.inception).toBeGreaterThanOrEqual(started - 3 * 3600);
    expect(sig!.inception).toBeLessThanOrEqual(t0 - 3 * 3600 + 1);
    expect(sig!.expiration - sig!.inception).toBe(3 * 3600 + 8 * 86400);

    // DNSKEY at the apex answered by dnssec, with DO=0 too (no RRSIG then)
    const k0 = (await srv.query('example.org', 'DNSKEY', { edns: true })).msg;
    expect(types(k0.answers)).toEqual(['example.org DNSKEY']);
    expect(k0.flag_aa).toBe(true);

    // NXDOMAIN with DO=0 stays NXDOMAIN; with DO=1 it becomes NODATA with the black lie
    const nx0 = await srv.query('missing.example.org', 'A', { edns: true });
    expect(nx0.rcode).toBe(3);
    expect(types(nx0.msg.authorities)).toEqual(['example.org SOA']);
    const nx1 = await srv.query('missing.example.org', 'A', { edns: true, do: true });
    expect(nx1.rcode).toBe(0);
    expect(types(nx1.msg.authorities)).toEqual(['example.org RRSIG', 'example.org SOA', 'missing.example.org NSEC', 'missing.example.org RRSIG']);
    const nsec = (nx1.msg.authorities ?? []).find((r) => r.type === 'NSEC') as unknown as { data: { nextDomain: string; rrtypes: string[] } };
    expect(nsec.data.nextDomain).toBe('\\000.missing.example.org');
    // the zone bitmap without the asked type (black_lies.go)
    expect(nsec.data.rrtypes).toEqual(['HINFO', 'TXT', 'AAAA', 'LOC', 'SRV', 'CERT', 'SSHFP', 'RRSIG', 'NSEC', 'TLSA', 'HIP', 'UNKNOWN_61', 'SPF']); // (OPENPGPKEY: dns-packet has no name for 61)

    // a query for NSEC: the black lie in the answer, no SOA
    const q = await srv.query('missing.example.org', 'NSEC', { edns: true, do: true });
    expect(q.rcode).toBe(0);
    expect(types(q.msg.answers)).toEqual(['missing.example.org NSEC', 'missing.example.org RRSIG']);
    expect(q.msg.authorities ?? []).toEqual([]);

    // a delegation without DS: the NS plus an NSEC for the name with the delegation bitmap
    const ref = (await srv.query('www.sub.example.org', 'A', { edns: true, do: true })).msg;
    expect(types(ref.authorities)).toEqual(['sub.example.org NS', 'www.sub.example.org NSEC', 'www.sub.example.org RRSIG']);
    const dn = (ref.authorities ?? []).find((r) => r.type === 'NSEC') as unknown as { data: { nextDomain: string; rrtypes: string[] } };
    expect(dn.data.nextDomain).toBe('www\\000.sub.example.org');
    expect(dn.data.rrtypes).toContain('NS');
  });

  it('the signature cache: hits for a repeated RRset, bounded by cache_capacity', async () => {
    const one = await startServer(`cluster.local:0 {
  bind 127.0.0.1
  dnssec {
    key file ${kcsk}
    cache_capacity 2
  }
  kubernetes cluster.local {
    manifests ${path.join(ROOT, 'examples/cluster')}
  }
}`);
    try {
      const metric = async (name: string): Promise<number> => {
        const text = await one.metrics.registry.getSingleMetricAsString(name);
        let sum = 0;
        for (const line of text.split('\n')) if (line.startsWith(`${name}{`)) sum += Number(line.split(' ').pop());
        return sum;
      };
      const a = (await one.query('web.shop.svc.cluster.local', 'A', { edns: true, do: true })).msg;
      expect(await metric('coredns_dnssec_cache_misses_total')).toBe(1);
      expect(await metric('coredns_dnssec_cache_hits_total')).toBe(0);
      const b = (await one.query('web.shop.svc.cluster.local', 'A', { edns: true, do: true })).msg;
      expect(covered(a.answers)).toEqual(['web.shop.svc.cluster.local A']);
      expect(await metric('coredns_dnssec_cache_hits_total')).toBe(1);
      expect(sigData(b.answers)).toEqual(sigData(a.answers));
      for (const n of ['api.shop', 'db.data', 'search.shop']) await one.query(`${n}.svc.cluster.local`, 'A', { edns: true, do: true });
      expect(await metric('coredns_dnssec_cache_entries')).toBe(2);
      // web.shop's signature was evicted: signed again
      const misses = await metric('coredns_dnssec_cache_misses_total');
      await one.query('web.shop.svc.cluster.local', 'A', { edns: true, do: true });
      expect(await metric('coredns_dnssec_cache_misses_total')).toBe(misses + 1);
    } finally {
      await one.close();
    }
  });
});
