// auto [ZONES...] { directory DIR [REGEXP TEMPLATE]; reload DURATION } → AutoConfig (pure: no I/O).
import { Zones, type Dispenser } from '../../src/plugin/api.js';

export interface AutoConfig {
  /** The zones it answers for: the directive's ZONES, or the block's. */
  zones: Zones;
  /** The folder as written (relative paths are resolved against the Corefile's directory at setup). */
  directory: string;
  /** Matched against each file's name (unanchored); the origin is TEMPLATE with {N} replaced by group N. */
  re: RegExp;
  template: string;
  /** How often the folder is walked and each zone's file checked for a new serial, in ms; 0 disables. */
  reload: number;
}

export const DEFAULT_RELOAD_MS = 60_000;
/** Longest REGEXP accepted (CoreDNS's limit). */
const MAX_REGEXP_LEN = 10_000;

export function parseAuto(d: Dispenser, blockZones: readonly string[]): AutoConfig {
  const cfg: AutoConfig = { zones: Zones.from([], blockZones), directory: '', re: /db\.(.*)/, template: '{1}', reload: DEFAULT_RELOAD_MS };
  while (d.next()) {
    cfg.zones = Zones.from(d.remainingArgs(), blockZones);
    while (d.nextBlock()) {
      switch (d.val()) {
        case 'directory': {
          const args = d.remainingArgs();
          if (args.length !== 1 && args.length !== 3) throw d.argErr();
          cfg.directory = args[0]!;
          if (args.length === 3) {
            const src = args[1]!;
            if (src.length > MAX_REGEXP_LEN) throw d.err('regexp too large');
            let re: RegExp;
            try {
              re = new RegExp(src);
            } catch (e) {
              throw d.err(`bad regexp '${src}': ${(e as Error).message}`);
            }
            // A match has at least the whole-match group; the origin needs a sub expression.
            if (new RegExp(`${src}|`).exec('')!.length < 2) throw d.err('Need at least one sub expression');
            cfg.re = re;
            cfg.template = args[2]!;
          }
          break;
        }
        case 'reload': {
          if (d.countRemainingArgs() === 0) throw d.err('reload duration value is expected');
          cfg.reload = d.duration();
          d.remainingArgs(); // CoreDNS reads the first value only
          break;
        }
        case 'upstream':
          d.remainingArgs(); // accepted and ignored, as CoreDNS does
          break;
        default:
          throw d.unknownProperty();
      }
    }
  }
  if (cfg.directory === '') throw d.err('directory is required');
  return cfg;
}

/** The origin a file name gives (lower-case FQDN), or undefined when REGEXP does not match it. */
export function originOf(cfg: Pick<AutoConfig, 're' | 'template'>, fileName: string): string | undefined {
  const m = cfg.re.exec(fileName);
  if (m === null) return undefined;
  const o = cfg.template.replace(/\{(\d+)\}/g, (_, n: string) => m[Number(n)] ?? '').toLowerCase();
  if (o === '') return undefined;
  return o.endsWith('.') ? o : `${o}.`;
}
