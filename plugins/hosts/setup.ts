// hosts [FILE [ZONES...]] { INLINE; ttl SECONDS; no_reverse; reload DURATION; fallthrough [ZONES...] }
// → HostsConfig. Pure: reads no file (the hosts file is read at setup, relative to the root).
import { Fall, Zones, type Dispenser } from '../../src/plugin/api.js';
import { hostsAddress } from './hostsfile.js';

export interface HostsConfig {
  /** The hosts file as written (default /etc/hosts); relative paths are resolved against the root. */
  path: string;
  zones: Zones;
  /** Inline entries, one hosts-file line each. */
  inline: string[];
  ttl: number;
  /** Generate PTR records (false with no_reverse). */
  reverse: boolean;
  /** How often the file is checked for changes, in ms; 0 disables. */
  reload: number;
  fall: Fall;
}

export const DEFAULT_TTL = 3600;
export const DEFAULT_RELOAD_MS = 5000;

export function parseHostsConfig(d: Dispenser, blockZones: readonly string[]): HostsConfig {
  const cfg: HostsConfig = {
    path: '/etc/hosts',
    zones: Zones.from([], blockZones),
    inline: [],
    ttl: DEFAULT_TTL,
    reverse: true,
    reload: DEFAULT_RELOAD_MS,
    fall: Fall.none,
  };
  while (d.next()) {
    const args = d.remainingArgs();
    const file = args.shift();
    if (file !== undefined) cfg.path = file;
    cfg.zones = Zones.from(args, blockZones);
    while (d.nextBlock()) {
      const v = d.val();
      switch (v) {
        case 'fallthrough':
          cfg.fall = Fall.from(d.remainingArgs());
          break;
        case 'no_reverse':
          d.noMoreArgs();
          cfg.reverse = false;
          break;
        case 'ttl':
          cfg.ttl = d.uint(1, 65535);
          d.noMoreArgs();
          break;
        case 'reload':
          cfg.reload = d.duration();
          d.noMoreArgs();
          break;
        default: {
          if (hostsAddress(v) === undefined) throw d.unknownProperty();
          const names = d.remainingArgs();
          if (names.length === 0) throw d.argErr();
          cfg.inline.push([v, ...names].join(' '));
        }
      }
    }
  }
  return cfg;
}
