// secondary [ZONES...] { transfer from ADDRESS... } → SecondaryConfig (pure).
import { Zones, type Dispenser } from '../../src/plugin/api.js';
import { hostPort, joinHostPort } from '../transfer/setup.js';
import type { Primary } from './client.js';

export interface SecondaryConfig {
  /** Each zone with the primaries it is transferred from, in the order they are tried. */
  zones: Array<{ origin: string; from: Primary[] }>;
}

export function parseSecondary(d: Dispenser, blockZones: readonly string[]): SecondaryConfig {
  const cfg: SecondaryConfig = { zones: [] };
  while (d.next()) {
    const origins = Zones.from(d.remainingArgs(), blockZones).list;
    const from: Primary[] = [];
    while (d.nextBlock()) {
      switch (d.val()) {
        case 'transfer': {
          const dir = d.arg();
          if (dir !== 'from') throw d.err(`unknown property ${dir}${dir === 'to' ? " (outgoing transfers are the transfer plugin's: transfer { to ADDRESS... })" : ''}`);
          const args = d.remainingArgs();
          if (args.length === 0) throw d.argErr();
          for (const a of args) {
            if (a === '*') throw d.err("can't use '*' in transfer from");
            const hp = hostPort(a);
            if (hp === undefined) throw d.err(`must specify an IP address: '${a}'`);
            from.push(hp);
          }
          break;
        }
        default:
          throw d.unknownProperty();
      }
    }
    for (const origin of origins) {
      if (cfg.zones.some((z) => z.origin === origin)) throw d.err(`zone '${origin}' is already a secondary zone of this block`);
      cfg.zones.push({ origin, from: [...from] });
    }
  }
  return cfg;
}

export const primaryText = (p: Primary): string => joinHostPort(p.host, p.port);
