// DNSSEC test helpers: key pairs made by ldns-keygen, a delv trust-anchor file from a key, and
// delv's verdict on one query to a test server. Tests skip (saying why) when the tools are missing.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { DecodedPacket } from 'dns-packet';
import { promisify } from 'node:util';

export const run = promisify(execFile);

/**
 * Zone-file lines (names relative to the $ORIGIN) a signed test zone holds for the cases DNSSEC
 * answers differ in: an empty non-terminal (b.deep), a wildcard, a CNAME to `www`, an insecure
 * delegation with glue (sub) and a secure one with a DS (secure).
 */
export const DNSSEC_NAMES = `a.b.deep IN TXT "below an empty non-terminal"
*.wild IN A 192.0.2.99
alias IN CNAME www
sub IN NS ns.sub
ns.sub IN A 192.0.2.1
secure IN NS ns.secure
secure IN DS 12345 13 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
ns.secure IN A 192.0.2.2
`;

/** A section's records as sorted "owner TYPE" strings. */
export const types = (rrs: DecodedPacket['answers']): string[] => (rrs ?? []).map((r) => `${r.name} ${r.type}`).sort();

/** A section's RRSIGs as sorted "owner COVERED-TYPE" strings (dns-packet decodes RRSIG records). */
export const covered = (rrs: DecodedPacket['answers']): string[] =>
  (rrs ?? []).filter((r) => r.type === 'RRSIG').map((r) => `${r.name} ${(r as unknown as { data: { typeCovered: string } }).data.typeCovered}`).sort();

/** Make a key pair for `zone` in `dir` (ldns-keygen); returns the path without `.key`/`.private`. */
export async function makeKey(dir: string, zone: string, o: { ksk?: boolean; algorithm?: string } = {}): Promise<string> {
  const args = ['-a', o.algorithm ?? 'ECDSAP256SHA256', ...(o.ksk ? ['-k'] : []), zone];
  const base = (await run('ldns-keygen', args, { cwd: dir })).stdout.trim();
  // ldns-keygen also writes the key's DS record: not needed here
  fs.rmSync(path.join(dir, `${base}.ds`), { force: true });
  return path.join(dir, base);
}

/** The DNSKEY fields of a `.key` file ("zone. IN DNSKEY 257 3 13 BASE64 ;{id = …}"): the comment dropped. */
export function dnskeyFields(keyFile: string): { flags: string; proto: string; alg: string; key: string } {
  const line = fs.readFileSync(keyFile, 'utf8').split('\n').find((l) => /\sDNSKEY\s+\d+\s/.test(l))!;
  const toks = line.split(';')[0]!.trim().split(/\s+/);
  const [, flags, proto, alg, ...b64] = toks.slice(toks.indexOf('DNSKEY'));
  return { flags: flags!, proto: proto!, alg: alg!, key: b64.join('') };
}

/** A delv trust-anchors file holding the key of `keyFile` as the static key of `zone`. */
export function anchorFile(dir: string, zone: string, keyFile: string): string {
  const k = dnskeyFields(keyFile);
  const out = path.join(dir, `anchors.${zone}`);
  fs.writeFileSync(out, `trust-anchors {\n  "${zone}." static-key ${k.flags} ${k.proto} ${k.alg} "${k.key}";\n};\n`);
  return out;
}

/** delv's verdict line and records for one query to 127.0.0.1:`port`, validated from `anchors` with `zone` as root. */
export async function delv(port: number, anchors: string, zone: string, name: string, type: string): Promise<string> {
  const r = await run('delv', ['@127.0.0.1', '-p', String(port), '-a', anchors, `+root=${zone}`, '+nomtrace', '+norrcomments', name, type]).catch((e: { stdout?: string; stderr?: string }) => ({ stdout: e.stdout ?? '', stderr: e.stderr ?? '' }));
  return `${r.stdout}\n${r.stderr}`;
}
