// sign DBFILE [ZONES...] { key file KEY...; directory DIR } → SignConfig. Key pairs are read here,
// so a missing or bad key is a file:line error of `typedns check` as well as at start.
import path from 'node:path';
import { Zones, type Dispenser } from '../../src/plugin/api.js';
import { readKeyPair, type SigningKey } from '../../src/dns/dnssec/index.js';

export interface SignStanza {
  /** The zone file as written (relative paths are resolved against the root at setup). */
  dbfile: string;
  origins: string[];
  keys: SigningKey[];
  directory: string;
}

export interface SignConfig {
  stanzas: SignStanza[];
}

export const DEFAULT_DIRECTORY = '/var/lib/coredns';

export function parseSign(d: Dispenser, blockZones: readonly string[], root = process.cwd()): SignConfig {
  const cfg: SignConfig = { stanzas: [] };
  while (d.next()) {
    const args = d.remainingArgs();
    const dbfile = args.shift();
    if (dbfile === undefined) throw d.argErr();
    const st: SignStanza = { dbfile, origins: [...Zones.from(args, blockZones).list], keys: [], directory: DEFAULT_DIRECTORY };
    while (d.nextBlock()) {
      switch (d.val()) {
        case 'key': {
          const kind = d.arg();
          if (kind === 'directory') throw d.err('directory: not implemented');
          if (kind !== 'file') throw d.err(`unsupported key source '${kind}', expected 'file'`);
          const files = d.remainingArgs();
          if (files.length === 0) throw d.argErr();
          for (const f of files) {
            try {
              st.keys.push(readKeyPair(path.resolve(root, f)));
            } catch (e) {
              throw d.err((e as Error).message);
            }
          }
          break;
        }
        case 'directory': {
          const dir = d.remainingArgs();
          if (dir.length !== 1) throw d.err('can only be one argument after "directory"');
          st.directory = dir[0]!;
          break;
        }
        default:
          throw d.unknownProperty();
      }
    }
    if (st.keys.length === 0) throw d.err(`no key to sign zone ${st.origins.join(', ')} with`);
    cfg.stanzas.push(st);
  }
  return cfg;
}
