// k8s_external: parse `k8s_external [ZONE...] { apex APEX; ttl TTL; headless; fallthrough [ZONES...] }`.
import { Fall, Zones, type Dispenser } from '../../src/plugin/api.js';

export interface K8sExternalConfig {
  /** The zones answered, normalised (the block's when none is given). */
  zones: string[];
  /** The label under which the zone's name server lives (`ns1.<apex>.<zone>`); default `dns`. */
  apex: string;
  /** TTL of every record and the SOA minimum; 0..3600, default 5. */
  ttl: number;
  /** Answer headless Services (and endpoint names) with their endpoints' addresses. */
  headless: boolean;
  fall: Fall;
}

export function parseK8sExternal(d: Dispenser, blockZones: readonly string[]): K8sExternalConfig {
  const cfg: K8sExternalConfig = { zones: [...blockZones], apex: 'dns', ttl: 5, headless: false, fall: Fall.none };
  // every stanza of the block, in order: a later one replaces what an earlier one set (as CoreDNS)
  while (d.next()) {
    cfg.zones = [...Zones.from(d.remainingArgs(), blockZones).list];
    while (d.nextBlock()) {
      switch (d.val()) {
        case 'ttl': {
          const a = d.remainingArgs();
          if (a.length === 0) throw d.argErr();
          if (!/^[-+]?\d+$/.test(a[0]!)) throw d.err(`invalid ttl '${a[0]}': not an integer`);
          const t = Number(a[0]);
          if (t < 0 || t > 3600) throw d.err(`ttl must be in range [0, 3600]: ${t}`);
          cfg.ttl = t;
          break;
        }
        case 'apex': {
          const a = d.remainingArgs();
          if (a.length === 0) throw d.argErr();
          const apex = a[0]!.toLowerCase().replace(/\.$/, '');
          if (!/^[a-z0-9_]([-a-z0-9_]{0,62})(\.[a-z0-9_][-a-z0-9_]{0,62})*$/.test(apex)) throw d.err(`invalid apex '${a[0]}': not a DNS name`);
          cfg.apex = apex;
          break;
        }
        case 'headless':
          if (d.remainingArgs().length > 0) throw d.argErr();
          cfg.headless = true;
          break;
        case 'fallthrough':
          cfg.fall = Fall.from(d.remainingArgs());
          break;
        default:
          throw d.err(`unknown property '${d.val()}'`);
      }
    }
  }
  return cfg;
}
