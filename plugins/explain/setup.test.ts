// explain's Corefile syntax: [ADDRESS] and `edns0 CODE [NET...]`, at least one of the two.
import { describe, expect, it } from 'vitest';
import { parsePlugin } from '../../src/testing/index.js';
import explain from './index.js';

describe('explain parse', () => {
  it('takes an ADDRESS, an edns0 option with networks, or both', () => {
    expect(parsePlugin(explain, 'explain 127.0.0.1:8054')).toEqual({ address: '127.0.0.1:8054' });
    expect(parsePlugin(explain, 'explain {\n edns0 65300\n}')).toEqual({ edns0: { code: 65300, nets: [] } });
    expect(parsePlugin(explain, 'explain :8054 {\n edns0 0xff14 10.0.0.0/8 ::1\n}')).toEqual({ address: ':8054', edns0: { code: 0xff14, nets: ['10.0.0.0/8', '::1'] } });
  });

  it('refuses no address and no edns0, a bad code, a bad network, an unknown property', () => {
    expect(() => parsePlugin(explain, 'explain')).toThrow(/needs the ADDRESS .*an edns0 option, or both/);
    expect(() => parsePlugin(explain, 'explain {\n edns0 70000\n}')).toThrow(/invalid EDNS0 option code '70000'/);
    expect(() => parsePlugin(explain, 'explain {\n edns0\n}')).toThrow(/argument/i);
    expect(() => parsePlugin(explain, 'explain {\n edns0 65300 10.0.0.0/33\n}')).toThrow(/invalid network '10\.0\.0\.0\/33'/);
    expect(() => parsePlugin(explain, 'explain 127.0.0.1:8054 {\n trace on\n}')).toThrow(/trace/);
  });
});
