import dnsPacket from 'dns-packet';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readName } from './wire.js';

const at12 = (nameWire: number[]): Uint8Array => Uint8Array.from([...new Array<number>(12).fill(0), ...nameWire]);
const read = (bytes: Uint8Array, off = 12): [number, string, string] => {
  const out: [string, string] = ['', ''];
  const end = readName(bytes, off, out);
  return [end, out[0], out[1]];
};
const labels = (...ls: string[]): number[] => [...ls.flatMap((l) => [l.length, ...Buffer.from(l, 'latin1')]), 0];

describe('readName', () => {
  it('reads host names as written and in lower case', () => {
    expect(read(at12(labels('www', 'Example', 'ORG')))).toEqual([12 + 17, 'www.Example.ORG.', 'www.example.org.']);
    expect(read(at12(labels('_http', '_tcp', 'web-1', '*')))).toEqual([12 + 20, '_http._tcp.web-1.*.', '_http._tcp.web-1.*.']);
    expect(read(at12([0]))).toEqual([13, '.', '.']);
  });

  it('escapes bytes that are not host-name characters, in both spellings', () => {
    expect(read(at12(labels('a.b', 'X')))).toEqual([12 + 7, 'a\\.b.X.', 'a\\.b.x.']);
    expect(read(at12([2, 0x41, 0xff, 0]))).toEqual([16, 'A\\255.', 'a\\255.']);
    expect(read(at12([1, 0x20, 0]))).toEqual([15, '\\032.', '\\032.']);
  });

  it('follows pointers backwards and returns the end of the name where it started', () => {
    const buf = Uint8Array.from([...new Array<number>(12).fill(0), ...labels('example', 'org'), 3, 0x57, 0x57, 0x57, 0xc0, 12]);
    expect(read(buf, 25)).toEqual([31, 'WWW.example.org.', 'www.example.org.']);
  });

  it('refuses loops, forward pointers, pointers into the header, truncation and names over 255 bytes', () => {
    expect(read(at12([0xc0, 12]))[0]).toBe(-1);
    expect(read(at12([0xc0, 20, 0, 0, 0, 0, 0, 0, 0]))[0]).toBe(-1);
    expect(read(at12([0xc0, 2]))[0]).toBe(-1);
    expect(read(at12([5, 0x61, 0x62]))[0]).toBe(-1);
    expect(read(at12([0x40, 0]))[0]).toBe(-1);
    const long = labels(...new Array<string>(5).fill('a'.repeat(63)));
    expect(read(at12(long))[0]).toBe(-1);
    const max = labels(...new Array<string>(3).fill('a'.repeat(63)), 'a'.repeat(61));
    expect(read(at12(max))[1]).toHaveLength(254); // 253 characters and the root's dot: a 255-byte wire name
  });

  it('agrees with dns-packet on every name it encodes (property)', () => {
    const label = fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/);
    fc.assert(
      fc.property(fc.array(label, { minLength: 0, maxLength: 6 }), (ls) => {
        const name = ls.join('.');
        const wire = dnsPacket.name.encode(name === '' ? '.' : name) as Buffer;
        const [end, text, lower] = read(at12([...wire]));
        expect(end).toBe(12 + wire.length);
        expect(text).toBe(name === '' ? '.' : `${name}.`);
        expect(lower).toBe(text.toLowerCase());
      }),
      { numRuns: 500 },
    );
  });
});
