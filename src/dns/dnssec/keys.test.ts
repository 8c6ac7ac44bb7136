// Key pairs made by ldns-keygen for each algorithm: the key tag in the file name, the DS record
// ldns-keygen writes beside them, and a signature node:crypto can verify with the public key.
import { execFile, spawnSync } from 'node:child_process';
import { createPublicKey, verify } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { dsRdata, readKeyPair, typeBitmap } from './index.js';

const run = promisify(execFile);
const haveKeygen = spawnSync('which', ['ldns-keygen']).status === 0;
if (!haveKeygen) console.warn('skipping the key file tests: ldns-keygen (ldnsutils) not installed');

describe.skipIf(!haveKeygen)('BIND-format key pairs', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-keys-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['RSASHA256', 8],
    ['ECDSAP256SHA256', 13],
    ['ECDSAP384SHA384', 14],
    ['ED25519', 15],
  ])('%s: key tag, DS digest and a signature that verifies', async (alg, num) => {
    const base = path.join(dir, (await run('ldns-keygen', ['-a', alg, '-k', ...(num === 8 ? ['-b', '1024'] : []), 'example.org'], { cwd: dir })).stdout.trim());
    const k = readKeyPair(`${base}.private`);
    expect(k.algorithm).toBe(num);
    expect(k.owner).toBe('example.org.');
    expect(k.tag).toBe(Number(/\+(\d+)$/.exec(base)![1]));
    // ldns-keygen's DS: "example.org. IN DS <tag> <alg> <digest type> <hex>" (SHA-384 for P-384)
    const ds = fs.readFileSync(`${base}.ds`, 'utf8').trim().split(/\s+/);
    const digestType = Number(ds[ds.length - 2]) as 1 | 2 | 4;
    expect(dsRdata(k, digestType).toString('hex')).toBe(Buffer.from([k.tag >> 8, k.tag & 0xff, num, digestType]).toString('hex') + ds[ds.length - 1]!.toLowerCase());
    const data = Buffer.from('signed data');
    const sig = k.sign(data);
    const spki = (() => {
      const pub = k.publicKey;
      if (num === 13 || num === 14) {
        const n = pub.length / 2;
        return createPublicKey({ format: 'jwk', key: { kty: 'EC', crv: num === 13 ? 'P-256' : 'P-384', x: pub.subarray(0, n).toString('base64url'), y: pub.subarray(n).toString('base64url') } });
      }
      if (num === 15) return createPublicKey({ format: 'jwk', key: { kty: 'OKP', crv: 'Ed25519', x: pub.toString('base64url') } });
      const elen = pub[0]!;
      return createPublicKey({ format: 'jwk', key: { kty: 'RSA', e: pub.subarray(1, 1 + elen).toString('base64url'), n: pub.subarray(1 + elen).toString('base64url') } });
    })();
    const hash = num === 14 ? 'sha384' : num === 15 ? null : 'sha256';
    expect(verify(hash, data, num === 13 || num === 14 ? { key: spki, dsaEncoding: 'ieee-p1363' } : spki, sig)).toBe(true);
  });

  it('a missing key file names the file', () => {
    expect(() => readKeyPair(path.join(dir, 'Knope.+013+00001'))).toThrow(/no such key file: .*Knope\.\+013\+00001\.key/);
  });
});

describe('NSEC type bitmaps (RFC 4034 §4.1.2)', () => {
  it('A MX RRSIG NSEC TYPE1234 as in the RFC example', () => {
    expect(typeBitmap([1, 15, 46, 47, 1234]).toString('hex')).toBe('0006400100000003' + '041b' + '00'.repeat(26) + '20');
  });
});
