import { describe, expect, it } from 'vitest';
import net from 'node:net';
import { ipBytes } from './ip.js';

const hex = (ip: string): string | undefined => {
  const b = ipBytes(ip);
  return b === undefined ? undefined : Buffer.from(b).toString('hex');
};

describe('ipBytes', () => {
  it('reads IPv4 and every IPv6 spelling', () => {
    expect(hex('1.2.3.4')).toBe('01020304');
    expect(hex('::')).toBe('0'.repeat(32));
    expect(hex('::1')).toBe('0'.repeat(31) + '1');
    expect(hex('1::')).toBe('0001' + '0'.repeat(28));
    expect(hex('FD00::AbC')).toBe('fd00' + '0'.repeat(24) + '0abc');
    expect(hex('2001:db8:1:2::1')).toBe('20010db8000100020000000000000001');
    expect(hex('1:2:3:4:5:6:7:8')).toBe('00010002000300040005000600070008');
    expect(hex('1:2:3:4:5:6:7::')).toBe('00010002000300040005000600070000');
    expect(hex('::2:3:4:5:6:7:8')).toBe('00000002000300040005000600070008');
    expect(hex('fe80::1%eth0')).toBe('fe80' + '0'.repeat(27) + '1');
  });

  it('reads an embedded IPv4 tail as the last four bytes', () => {
    // (the old corefile/keys.ts copy read ::ffff:1.2.3.4 as ::ffff:1)
    expect(hex('::ffff:1.2.3.4')).toBe('00000000000000000000ffff01020304');
    expect(hex('::1.2.3.4')).toBe('00000000000000000000000001020304');
    expect(hex('64:ff9b::192.0.2.33')).toBe('0064ff9b0000000000000000c0000221');
    expect(hex('1:2:3:4:5:6:1.2.3.4')).toBe('00010002000300040005000601020304');
  });

  it('rejects what is not an address', () => {
    for (const bad of ['', ':::', '1::2::3', '256.1.1.1', '1.2.3', 'x::1', '12345::', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7:8::', '::1.2.3.400']) {
      expect(net.isIP(bad), bad).toBe(0);
      expect(hex(bad), bad).toBeUndefined();
    }
  });
});
