// DNSSEC key pairs in BIND's file format, as dnssec-keygen and ldns-keygen write them:
// `K<zone>.+<alg>+<tag>.key` (the DNSKEY record in zone-file text) and `.private` ("Algorithm:",
// "PrivateKey:" or the RSA fields). Signing uses node:crypto only. Algorithms: 5 and 7 (RSASHA1,
// read for old keys such as CoreDNS's test keys; not for new zones), 8 RSASHA256,
// 10 RSASHA512, 13 ECDSAP256SHA256, 14 ECDSAP384SHA384, 15 ED25519, 16 ED448.
import { createHash, createPrivateKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import { encodeName, fqdn } from '../names.js';

export const ALGORITHMS: Record<number, string> = {
  5: 'RSASHA1',
  7: 'RSASHA1-NSEC3-SHA1',
  8: 'RSASHA256',
  10: 'RSASHA512',
  13: 'ECDSAP256SHA256',
  14: 'ECDSAP384SHA384',
  15: 'ED25519',
  16: 'ED448',
};

/** A DNSKEY with its private half, ready to sign. */
export interface SigningKey {
  /** The key's owner name (lower case, fully qualified). */
  readonly owner: string;
  /** The DNSKEY's TTL in the `.key` file; 3600 when it has none. */
  readonly ttl: number;
  readonly flags: number;
  readonly protocol: number;
  readonly algorithm: number;
  /** The public key field of the DNSKEY. */
  readonly publicKey: Buffer;
  /** RFC 4034 Appendix B key tag. */
  readonly tag: number;
  /** The DNSKEY RDATA (flags, protocol, algorithm, public key). */
  readonly rdata: Buffer;
  /** The signature over `data` as it goes into an RRSIG. */
  sign(data: Buffer): Buffer;
}

/** RFC 4034 Appendix B: the key tag of a DNSKEY RDATA. */
export function keyTag(rdata: Uint8Array): number {
  let ac = 0;
  for (let i = 0; i < rdata.length; i++) ac += i & 1 ? rdata[i]! : rdata[i]! << 8;
  ac += (ac >> 16) & 0xffff;
  return ac & 0xffff;
}

/** DNSKEY RDATA from its fields. */
export function dnskeyRdata(flags: number, protocol: number, algorithm: number, publicKey: Uint8Array): Buffer {
  const b = Buffer.alloc(4 + publicKey.length);
  b.writeUInt16BE(flags, 0);
  b[2] = protocol;
  b[3] = algorithm;
  b.set(publicKey, 4);
  return b;
}

/** RFC 4034 §5.1.4 (SHA-1, 1), RFC 4509 (SHA-256, 2), RFC 6605 (SHA-384, 4): a DS digest of a DNSKEY. */
export function dsDigest(owner: string, rdata: Uint8Array, digestType: 1 | 2 | 4): Buffer {
  const alg = digestType === 1 ? 'sha1' : digestType === 2 ? 'sha256' : 'sha384';
  return createHash(alg).update(encodeName(fqdn(owner))).update(rdata).digest();
}

/** DS RDATA (key tag, algorithm, digest type, digest) for a key. */
export function dsRdata(key: Pick<SigningKey, 'owner' | 'rdata' | 'tag' | 'algorithm'>, digestType: 1 | 2 | 4 = 2): Buffer {
  const d = dsDigest(key.owner, key.rdata, digestType);
  const b = Buffer.alloc(4 + d.length);
  b.writeUInt16BE(key.tag, 0);
  b[2] = key.algorithm;
  b[3] = digestType;
  d.copy(b, 4);
  return b;
}

const b64u = (b: Uint8Array): string => Buffer.from(b).toString('base64url');

/** The public DNSKEY record of a `.key` file: owner and fields; comments (`;`) and a TTL or class allowed. */
export function parsePublicKey(text: string): { owner: string; ttl: number; flags: number; protocol: number; algorithm: number; publicKey: Buffer } {
  for (const raw of text.split('\n')) {
    const line = raw.split(';')[0]!.trim();
    if (line === '' || line.startsWith('$')) continue;
    const toks = line.split(/\s+/);
    const at = toks.findIndex((t) => t.toUpperCase() === 'DNSKEY');
    if (at < 1 || toks.length < at + 5) continue;
    const [flags, protocol, algorithm] = toks.slice(at + 1, at + 4).map(Number) as [number, number, number];
    if (![flags, protocol, algorithm].every((n) => Number.isInteger(n))) throw new Error('malformed DNSKEY record');
    const ttl = toks.slice(1, at).find((t) => /^\d+$/.test(t));
    return { owner: fqdn(toks[0]!), ttl: ttl === undefined ? 3600 : Number(ttl), flags, protocol, algorithm, publicKey: Buffer.from(toks.slice(at + 4).join(''), 'base64') };
  }
  throw new Error('no public key found');
}

/** The fields of a `.private` file ("Name: value" lines). */
function privateFields(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) m.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  return m;
}

/** node:crypto's private key for a DNSKEY's algorithm from the `.private` fields and the public key. */
function privateKeyObject(algorithm: number, pub: Buffer, f: Map<string, string>): KeyObject {
  const field = (name: string): Buffer => {
    const v = f.get(name.toLowerCase());
    if (v === undefined) throw new Error(`no ${name} in the private key`);
    return Buffer.from(v.split(/\s+/)[0]!, 'base64');
  };
  switch (algorithm) {
    case 5:
    case 7:
    case 8:
    case 10:
      return createPrivateKey({
        format: 'jwk',
        key: {
          kty: 'RSA',
          n: b64u(field('Modulus')),
          e: b64u(field('PublicExponent')),
          d: b64u(field('PrivateExponent')),
          p: b64u(field('Prime1')),
          q: b64u(field('Prime2')),
          dp: b64u(field('Exponent1')),
          dq: b64u(field('Exponent2')),
          qi: b64u(field('Coefficient')),
        },
      });
    case 13:
    case 14: {
      const n = algorithm === 13 ? 32 : 48;
      if (pub.length !== 2 * n) throw new Error(`public key of algorithm ${algorithm} is ${pub.length} bytes, not ${2 * n}`);
      return createPrivateKey({ format: 'jwk', key: { kty: 'EC', crv: algorithm === 13 ? 'P-256' : 'P-384', x: b64u(pub.subarray(0, n)), y: b64u(pub.subarray(n)), d: b64u(field('PrivateKey')) } });
    }
    case 15:
    case 16:
      return createPrivateKey({ format: 'jwk', key: { kty: 'OKP', crv: algorithm === 15 ? 'Ed25519' : 'Ed448', x: b64u(pub), d: b64u(field('PrivateKey')) } });
    default:
      throw new Error(`unsupported algorithm ${algorithm}`);
  }
}

const DIGESTS: Record<number, string> = { 5: 'sha1', 7: 'sha1', 8: 'sha256', 10: 'sha512', 13: 'sha256', 14: 'sha384' };

/** A signing key from the texts of its `.key` and `.private` files. */
export function signingKey(pubText: string, privText: string): SigningKey {
  const pub = parsePublicKey(pubText);
  const f = privateFields(privText);
  const alg = Number((f.get('algorithm') ?? '').split(/\s+/)[0]);
  if (f.get('algorithm') !== undefined && alg !== pub.algorithm) throw new Error(`private key algorithm ${alg} is not the DNSKEY's ${pub.algorithm}`);
  if (ALGORITHMS[pub.algorithm] === undefined) throw new Error(`unsupported algorithm ${pub.algorithm}`);
  const key = privateKeyObject(pub.algorithm, pub.publicKey, f);
  const rdata = dnskeyRdata(pub.flags, pub.protocol, pub.algorithm, pub.publicKey);
  const digest = DIGESTS[pub.algorithm] ?? null;
  const ecdsa = pub.algorithm === 13 || pub.algorithm === 14;
  return {
    ...pub,
    tag: keyTag(rdata),
    rdata,
    sign: (data) => cryptoSign(digest, data, ecdsa ? { key, dsaEncoding: 'ieee-p1363' } : key),
  };
}

/** `K…+013+12345`, `K….key` or `K….private` → the base path without the extension. */
export function keyBase(file: string): string {
  if (file.endsWith('.key')) return file.slice(0, -4);
  if (file.endsWith('.private')) return file.slice(0, -8);
  return file;
}

/** Read the key pair `<base>.key` and `<base>.private`. Errors name the file. */
export function readKeyPair(file: string): SigningKey {
  const base = keyBase(file);
  let pub: string;
  let priv: string;
  try {
    pub = fs.readFileSync(`${base}.key`, 'utf8');
    priv = fs.readFileSync(`${base}.private`, 'utf8');
  } catch (e) {
    throw new Error(`${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such key file' : 'cannot read key file'}: ${(e as { path?: string }).path ?? base}`);
  }
  try {
    return signingKey(pub, priv);
  } catch (e) {
    throw new Error(`${base}: ${(e as Error).message}`);
  }
}

/** A zone key (bit 7 of the flags) with the SEP bit: a KSK. */
export const isKsk = (k: SigningKey): boolean => (k.flags & 0x0100) !== 0 && (k.flags & 1) === 1;
/** A zone key without the SEP bit: a ZSK. */
export const isZsk = (k: SigningKey): boolean => (k.flags & 0x0100) !== 0 && (k.flags & 1) === 0;
