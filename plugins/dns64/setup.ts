// dns64: parse `dns64 [PREFIX]` or `dns64 [PREFIX] { prefix PREFIX; translate_all; allow_ipv4 }`.
import net from 'node:net';
import { ipBytes, type Dispenser } from '../../src/plugin/api.js';

export interface Dns64Config {
  /** The prefix's first bytes (its length / 8 of them), 16 bytes long. */
  prefix: Uint8Array;
  prefixLen: number;
  /** As written, for messages and the README's examples. */
  prefixText: string;
  translateAll: boolean;
  allowIpv4: boolean;
}

/** "64:ff9b::/96" → bytes and length; an error message when it is no usable RFC 6052 prefix. */
export function parsePrefix(s: string): { bytes: Uint8Array; len: number } | string {
  const [ip, bits, extra] = s.split('/');
  if (ip === undefined || bits === undefined || extra !== undefined || !/^\d+$/.test(bits)) return `invalid CIDR address: ${s}`;
  const fam = net.isIP(ip);
  const len = Number(bits);
  if (fam === 0 || len > (fam === 4 ? 32 : 128)) return `invalid CIDR address: ${s}`;
  if (fam === 4) return `invalid netmask 32 IPv6 address: "${s}"`;
  if (len % 8 !== 0 || len < 32 || len > 96) return `invalid prefix length "${s}"`;
  const bytes = ipBytes(ip)!;
  // keep only the prefix's own bits (net.ParseCIDR masks the address)
  for (let i = len / 8; i < 16; i++) bytes[i] = 0;
  return { bytes, len };
}

export function parseDns64(d: Dispenser): Dns64Config {
  const dflt = parsePrefix('64:ff9b::/96') as { bytes: Uint8Array; len: number };
  const cfg: Dns64Config = { prefix: dflt.bytes, prefixLen: dflt.len, prefixText: '64:ff9b::/96', translateAll: false, allowIpv4: false };
  const setPrefix = (s: string): void => {
    const p = parsePrefix(s);
    if (typeof p === 'string') throw d.err(p);
    cfg.prefix = p.bytes;
    cfg.prefixLen = p.len;
    cfg.prefixText = s;
  };
  while (d.next()) {
    const args = d.remainingArgs();
    if (args.length === 1) {
      setPrefix(args[0]!);
      continue;
    }
    if (args.length > 0) throw d.argErr();
    while (d.nextBlock()) {
      switch (d.val()) {
        case 'prefix':
          setPrefix(d.arg());
          break;
        case 'translate_all':
          cfg.translateAll = true;
          break;
        case 'allow_ipv4':
          cfg.allowIpv4 = true;
          break;
        default:
          throw d.unknownProperty();
      }
    }
  }
  return cfg;
}
