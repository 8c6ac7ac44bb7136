// autopath: parse `autopath [ZONE...] RESOLV-CONF|@PLUGIN`.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { resolvConfSearch, Zones, type Dispenser } from '../../src/plugin/api.js';

export interface AutopathConfig {
  zones: string[];
  /** The plugin whose autoPath() gives each query's search path (`@kubernetes` → 'kubernetes'). */
  plugin: string | undefined;
  /** A fixed search path read from RESOLV-CONF (ending with '' — the name as asked). */
  search: string[];
}

export function parseAutopath(d: Dispenser, blockZones: readonly string[], root = process.cwd()): AutopathConfig {
  d.next();
  const args = d.remainingArgs();
  if (args.length < 1) throw d.err('no resolv-conf specified');
  const last = args[args.length - 1]!;
  const cfg: AutopathConfig = { zones: [...Zones.from(args.slice(0, -1), blockZones).list], plugin: undefined, search: [] };
  if (last.startsWith('@')) cfg.plugin = last.slice(1);
  else {
    let text: string;
    try {
      text = readFileSync(path.resolve(root, last), 'utf8');
    } catch (e) {
      throw d.err(`failed to parse "${last}": ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    cfg.search = [...resolvConfSearch(text), ''];
  }
  if (d.nextBlock()) throw d.unknownProperty();
  return cfg;
}
