// file DBFILE [ZONES...] { reload DURATION; fallthrough [ZONES...] } → FileConfig (pure: no I/O).
import { Fall, Zones, type Dispenser } from '../../src/plugin/api.js';

export interface FileStanza {
  /** The zone file as written in the Corefile (relative paths are resolved against the root at setup). */
  path: string;
  /** The zones the file is parsed for: the directive's ZONES, or the block's zones. */
  origins: string[];
  /** How often to check the file for a new SOA serial, in ms; 0 disables. */
  reload: number;
  fall: Fall;
  /** Where the stanza is, for messages. */
  file: string;
  line: number;
}

export interface FileConfig {
  stanzas: FileStanza[];
}

export const DEFAULT_RELOAD_MS = 60_000;

export function parseFile(d: Dispenser, blockZones: readonly string[]): FileConfig {
  const cfg: FileConfig = { stanzas: [] };
  while (d.next()) {
    const tok = d.token();
    const args = d.remainingArgs();
    const path = args.shift();
    if (path === undefined) throw d.argErr();
    const origins = [...Zones.from(args, blockZones).list];
    const st: FileStanza = { path, origins, reload: DEFAULT_RELOAD_MS, fall: Fall.none, file: tok?.file ?? 'Corefile', line: tok?.line ?? 0 };
    while (d.nextBlock()) {
      switch (d.val()) {
        case 'reload':
          st.reload = d.duration();
          d.noMoreArgs();
          break;
        case 'fallthrough':
          st.fall = Fall.from(d.remainingArgs());
          break;
        default:
          throw d.unknownProperty();
      }
    }
    for (const s of cfg.stanzas) {
      for (const o of origins) if (s.origins.includes(o)) throw d.err(`zone '${o}' is already served by file '${s.path}'`);
    }
    cfg.stanzas.push(st);
  }
  return cfg;
}
