// Pre-signed zones (issue #15): zones signed by ldns-signzone (NSEC and NSEC3) and by BIND's
// dnssec-signzone (NSEC3 with opt-out) served by the file
// plugin and validated by BIND's delv with the zone's KSK as trust anchor, plus direct checks of
// which records a DO=1 query gets beside a DO=0 one.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DecodedPacket } from 'dns-packet';
import { startServer, type TestServer } from '../../src/testing/index.js';
import { anchorFile, covered, delv as delvAt, DNSSEC_NAMES, run, types } from '../../test/support/dnssec.js';
import { hasTool as has } from '../../test/support/tools.js';
const haveTools = has('ldns-signzone') && has('ldns-keygen') && has('delv') && has('dnssec-signzone') && has('dnssec-keygen');
if (!haveTools) console.warn('skipping the pre-signed zone tests: ldns-signzone/ldns-keygen (ldnsutils), dnssec-signzone/dnssec-keygen (bind9-utils) or delv (bind9-dnsutils) not installed');

const ZONE = (origin: string): string => `$ORIGIN ${origin}.
$TTL 3600
@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300
@ IN NS ns1
ns1 IN A 192.0.2.53
www IN A 192.0.2.80
www IN AAAA 2001:db8::80
esc IN A 192.0.2.6
esc\\.z IN A 192.0.2.7
${DNSSEC_NAMES}`;

/**
 * Sign a zone with a fresh KSK and ZSK: by ldns-signzone (NSEC, or NSEC3 with a salt and a few
 * iterations so the hashing is really exercised), or by BIND's dnssec-signzone with NSEC3 opt-out
 * (`-A`: insecure delegations get no NSEC3 of their own). Returns the signed file and a delv anchor file.
 */
async function sign(dir: string, origin: string, how: 'nsec' | 'nsec3' | 'optout'): Promise<{ file: string; anchors: string }> {
  const src = path.join(dir, `db.${origin}`);
  fs.writeFileSync(src, ZONE(origin));
  let ksk: string;
  if (how === 'optout') {
    ksk = (await run('dnssec-keygen', ['-q', '-a', 'ECDSAP256SHA256', '-f', 'KSK', origin], { cwd: dir })).stdout.trim();
    await run('dnssec-keygen', ['-q', '-a', 'ECDSAP256SHA256', origin], { cwd: dir });
    await run('dnssec-signzone', ['-S', '-K', '.', '-3', 'abcd', '-H', '3', '-A', '-o', origin, '-f', `${src}.signed`, src], { cwd: dir });
  } else {
    ksk = (await run('ldns-keygen', ['-a', 'ECDSAP256SHA256', '-k', origin], { cwd: dir })).stdout.trim();
    const zsk = (await run('ldns-keygen', ['-a', 'ECDSAP256SHA256', origin], { cwd: dir })).stdout.trim();
    const args = how === 'nsec3' ? ['-n', '-s', 'abcd', '-t', '3'] : [];
    await run('ldns-signzone', [...args, '-o', origin, src, ksk, zsk], { cwd: dir });
  }
  return { file: `${src}.signed`, anchors: anchorFile(dir, origin, path.join(dir, `${ksk}.key`)) };
}

describe.skipIf(!haveTools)('pre-signed zones over sockets', () => {
  let dir: string;
  let srv: TestServer;
  const zones: Record<string, { file: string; anchors: string }> = {};

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-signed-'));
    zones['nsec.test'] = await sign(dir, 'nsec.test', 'nsec');
    zones['nsec3.test'] = await sign(dir, 'nsec3.test', 'nsec3');
    zones['optout.test'] = await sign(dir, 'optout.test', 'optout');
    srv = await startServer(`nsec.test:0 nsec3.test:0 optout.test:0 {
  bind 127.0.0.1
  file ${zones['nsec.test']!.file} nsec.test {
    reload 0
  }
  file ${zones['nsec3.test']!.file} nsec3.test {
    reload 0
  }
  file ${zones['optout.test']!.file} optout.test {
    reload 0
  }
}`);
  }, 60_000);
  afterAll(async () => {
    await srv?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** delv's verdict line and records for one query, validated from the zone's KSK. */
  const delv = (zone: string, name: string, type: string): Promise<string> => delvAt(srv.port, zones[zone]!.anchors, zone, name, type);

  for (const zone of ['nsec.test', 'nsec3.test', 'optout.test']) {
    describe(zone, () => {
      it('delv validates an existing name, the apex DNSKEY and a CNAME chain as fully validated', async () => {
        const www = await delv(zone, `www.${zone}`, 'A');
        expect(www).toContain('; fully validated');
        expect(www).toMatch(new RegExp(`www\\.${zone.replace('.', '\\.')}\\.\\s+\\d+\\s+IN\\s+A\\s+192\\.0\\.2\\.80`));
        expect(await delv(zone, zone, 'DNSKEY')).toContain('; fully validated');
        expect(await delv(zone, `alias.${zone}`, 'AAAA')).toContain('; fully validated');
        // The DS at a delegation is the parent's, signed here.
        expect(await delv(zone, `secure.${zone}`, 'DS')).toContain('; fully validated');
      });

      it('delv validates NXDOMAIN and NODATA (at a name and at an empty non-terminal)', async () => {
        const nx = await delv(zone, `missing.${zone}`, 'A');
        expect(nx).toContain('; negative response, fully validated');
        expect(nx).toContain('NXDOMAIN');
        const nodata = await delv(zone, `www.${zone}`, 'TXT');
        expect(nodata).toContain('; negative response, fully validated');
        expect(nodata).toContain('NXRRSET');
        expect(await delv(zone, `b.deep.${zone}`, 'A')).toContain('; negative response, fully validated');
        expect(await delv(zone, `below.a.b.deep.${zone}`, 'A')).toContain('; negative response, fully validated');
        // No DS at an unsigned delegation: NODATA from the parent side of the cut.
        expect(await delv(zone, `sub.${zone}`, 'DS')).toContain('; negative response, fully validated');
      });

      it('delv validates names with an escaped dot, and NXDOMAIN next to them (canonical order is by label bytes)', async () => {
        // "esc.z" (one label) sorts after "esc" and before "esca" by its bytes (0x2e < 0x61); a
        // split on every dot would put it after "b…" and prove "esca" with the wrong NSEC.
        const esc = await delv(zone, `esc\\.z.${zone}`, 'A');
        expect(esc).toContain('; fully validated');
        expect(esc).toContain('192.0.2.7');
        const nx = await delv(zone, `esca.${zone}`, 'A');
        expect(nx).toContain('; negative response, fully validated');
        expect(nx).toContain('NXDOMAIN');
      });

      it('delv validates a wildcard answer and a wildcard NODATA', async () => {
        const w = await delv(zone, `host.wild.${zone}`, 'A');
        // With opt-out, the NSEC3 covering the next closer name may hide an unsigned delegation:
        // a validator takes the expansion as insecure (RFC 5155 §8.8), not bogus.
        expect(w).toContain(zone === 'optout.test' ? '; unsigned answer' : '; fully validated');
        expect(w).toContain('192.0.2.99');
        expect(await delv(zone, `host.wild.${zone}`, 'TXT')).toContain('; negative response, fully validated');
      });

      it('DO=1 adds RRSIGs and denial proofs, echoes DO, never sets AD; DO=0 answers are unchanged', async () => {
        const plain = (await srv.query(`www.${zone}`, 'A', { edns: true })).msg;
        expect(types(plain.answers)).toEqual([`www.${zone} A`]);
        const signed = (await srv.query(`www.${zone}`, 'A', { edns: true, do: true })).msg;
        expect(types(signed.answers)).toEqual([`www.${zone} A`, `www.${zone} RRSIG`]);
        expect(covered(signed.answers)).toEqual([`www.${zone} A`]);
        expect(covered(signed.authorities)).toEqual([`${zone} NS`]);
        expect(signed.flag_ad).toBe(false);
        const opt = (signed.additionals ?? []).find((a) => a.type === 'OPT') as { flag_do?: boolean } | undefined;
        expect(opt?.flag_do).toBe(true);

        const dnskey = (await srv.query(zone, 'DNSKEY', { edns: true, do: true })).msg;
        // (dnssec-signzone signs the DNSKEY RRset with the ZSK as well: two RRSIGs)
        expect([...new Set(covered(dnskey.answers))]).toEqual([`${zone} DNSKEY`]);
        // ANY already holds the owner's RRSIGs: each once.
        const any = (await srv.query(`www.${zone}`, 'ANY', { edns: true, do: true, tcp: true })).msg;
        const sigs = covered(any.answers);
        expect(new Set(sigs).size).toBe(sigs.length);
        expect(sigs).toEqual(expect.arrayContaining([`www.${zone} A`, `www.${zone} AAAA`]));

        const nx0 = (await srv.query(`missing.${zone}`, 'A', { edns: true })).msg;
        expect(types(nx0.authorities)).toEqual([`${zone} SOA`]);
        const nxr = await srv.query(`missing.${zone}`, 'A', { edns: true, do: true });
        expect(nxr.rcode).toBe(3);
        const nx1 = nxr.msg;
        const proof = zone === 'nsec.test' ? 'NSEC' : 'NSEC3';
        const optOut = zone === 'optout.test';
        const auth = nx1.authorities ?? [];
        expect(auth.filter((r) => r.type === 'SOA')).toHaveLength(1);
        expect(covered(auth)).toContain(`${zone} SOA`);
        expect(auth.filter((r) => r.type === proof).length).toBeGreaterThanOrEqual(zone === 'nsec.test' ? 1 : 2);
        expect(covered(auth).filter((c) => c.endsWith(` ${proof}`))).toHaveLength(auth.filter((r) => r.type === proof).length);
        expect(nx1.flag_ad).toBe(false);

        const wild = (await srv.query(`host.wild.${zone}`, 'A', { edns: true, do: true })).msg;
        expect(covered(wild.answers)).toEqual([`host.wild.${zone} A`]);
        expect((wild.authorities ?? []).filter((r) => r.type === proof)).toHaveLength(1);
        const wild0 = (await srv.query(`host.wild.${zone}`, 'A', { edns: true })).msg;
        expect(types(wild0.answers)).toEqual([`host.wild.${zone} A`]);
        expect(types(wild0.authorities)).toEqual([`${zone} NS`]);

        // An unsigned delegation: NS plus the proof that there is no DS; no RRSIG over the NS.
        const ref = (await srv.query(`www.sub.${zone}`, 'A', { edns: true, do: true })).msg;
        expect(ref.flag_aa).toBe(false);
        expect((ref.authorities ?? []).filter((r) => r.type === 'NS')).toHaveLength(1);
        // (opt-out: no NSEC3 at the delegation; the apex's and the opt-out one covering it)
        expect((ref.authorities ?? []).filter((r) => r.type === proof)).toHaveLength(optOut ? 2 : 1);
        expect(covered(ref.authorities)).not.toContain(`sub.${zone} NS`);
        // A signed delegation: NS, DS and the DS's RRSIG; no denial proof.
        const sec = (await srv.query(`www.secure.${zone}`, 'A', { edns: true, do: true })).msg;
        expect(sec.flag_aa).toBe(false);
        expect(types(sec.authorities)).toEqual([`secure.${zone} DS`, `secure.${zone} NS`, `secure.${zone} RRSIG`]);
        expect(covered(sec.authorities)).toEqual([`secure.${zone} DS`]);
        const sec0 = (await srv.query(`www.secure.${zone}`, 'A', { edns: true })).msg;
        expect(types(sec0.authorities)).toEqual([`secure.${zone} NS`]);
      });
    });
  }
});
