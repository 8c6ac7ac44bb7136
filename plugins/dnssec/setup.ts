// dnssec [ZONES...] { key file KEY...; cache_capacity N } → DnssecConfig. The key pairs are read
// here, so a missing or bad key is a file:line error of `typedns check` as well as at start.
import path from 'node:path';
import { isSubdomain, Zones, type Dispenser } from '../../src/plugin/api.js';
import { isKsk, isZsk, readKeyPair, type SigningKey } from '../../src/dns/dnssec/index.js';

export interface DnssecConfig {
  zones: string[];
  keys: SigningKey[];
  /** At least one KSK and one ZSK: DNSKEY signed by the KSKs, everything else by the ZSKs. */
  split: boolean;
  capacity: number;
}

export const DEFAULT_CAPACITY = 10_000;

export function parseDnssec(d: Dispenser, blockZones: readonly string[], root = process.cwd()): DnssecConfig {
  const cfg: DnssecConfig = { zones: [], keys: [], split: false, capacity: DEFAULT_CAPACITY };
  d.next();
  cfg.zones = [...Zones.from(d.remainingArgs(), blockZones).list];
  while (d.nextBlock()) {
    switch (d.val()) {
      case 'key': {
        const kind = d.arg();
        if (kind !== 'file') throw d.err(`unsupported key source '${kind}', expected 'file'`);
        const files = d.remainingArgs();
        if (files.length === 0) throw d.argErr();
        for (const f of files) {
          let k: SigningKey;
          try {
            k = readKeyPair(path.resolve(root, f));
          } catch (e) {
            throw d.err((e as Error).message);
          }
          if (!cfg.zones.some((z) => isSubdomain(z, k.owner))) throw d.err(`key ${k.owner} (keyid: ${k.tag}) can not sign any of the zones`);
          cfg.keys.push(k);
        }
        break;
      }
      case 'cache_capacity': {
        const s = d.arg();
        if (!/^\d+$/.test(s)) throw d.err(`strconv.Atoi: parsing "${s}": invalid syntax`);
        cfg.capacity = Number(s);
        d.noMoreArgs();
        break;
      }
      default:
        throw d.unknownProperty();
    }
  }
  cfg.split = cfg.keys.some(isKsk) && cfg.keys.some(isZsk);
  return cfg;
}
