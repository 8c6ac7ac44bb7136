// The auto handler: zones from the files of a folder. Each walk (at start and every `reload`)
// lists the folder and its subfolders in name order; a file whose name REGEXP matches gives an
// origin (TEMPLATE); a new origin's file is parsed and served, a known one's file is re-read when
// it changed on disk and swapped in when its SOA serial differs, and the zones whose files are
// gone are dropped. A file that does not parse is logged and skipped (the zone keeps its last good
// copy, or is not served). Answers are the file plugin's.
import fs from 'node:fs';
import path from 'node:path';
import { CorefileError, everyUnlessBusy, FLAG, isSubdomain, QTYPE, RCODE, type Logger, type Message, type Plugin, type SetupContext } from '../../src/plugin/api.js';
import { buildZone, withExternal } from '../file/file.js';
import type { LookupResult, Zone } from '../file/zone.js';
import { readSerial } from '../file/zonefile.js';
import { originOf, type AutoConfig } from './setup.js';
import type { Transferer } from '../transfer/source.js';

interface Loaded {
  readonly origin: string;
  zone: Zone;
  /** The file it was read from, and how it looked then (mtime:size:inode). */
  file: string;
  stamp: string;
}

const stampOf = (st: fs.Stats): string => `${st.mtimeMs}:${st.size}:${st.ino}`;
const why = (e: unknown): string => (e instanceof CorefileError ? e.short : (e as NodeJS.ErrnoException).code ?? (e as Error).message);

/** Every regular file under `dir` (symbolic links followed), in name order at each level, as Go's filepath.Walk lists them. */
async function listFiles(dir: string, log: Logger, depth = 0): Promise<string[]> {
  let names: string[];
  try {
    names = (await fs.promises.readdir(dir)).sort();
  } catch (e) {
    log.warn(`error reading ${dir}: ${why(e)}`);
    return [];
  }
  const out: string[] = [];
  for (const n of names) {
    const p = path.join(dir, n);
    let st: fs.Stats;
    try {
      st = await fs.promises.stat(p);
    } catch {
      continue; // a dangling link or a file removed meanwhile
    }
    if (st.isDirectory()) {
      if (depth < 16) out.push(...(await listFiles(p, log, depth + 1)));
    } else if (st.isFile()) out.push(p);
  }
  return out;
}

export async function createAuto(cfg: AutoConfig, root: string, log: Logger, opts: { lookup?: SetupContext['lookup']; last: boolean }): Promise<Plugin & Transferer> {
  const dir = path.isAbsolute(cfg.directory) ? cfg.directory : path.join(root, cfg.directory);
  if (!fs.existsSync(dir)) log.warn(`Directory does not exist: ${dir}`);
  const loaded = new Map<string, Loaded>();
  /** Loaded zones, longest origin first (the first containing a name is the most specific). */
  let order: Loaded[] = [];
  let closed = false;
  const stop = (): boolean => closed;
  /** transfer's NOTIFY: told when a zone of ours appears or takes a new serial. */
  const changed: Array<(zone: string) => void> = [];
  const announce = (origin: string): void => {
    if (cfg.zones.match(origin) !== undefined) for (const fn of changed) fn(origin);
  };

  const walk = async (): Promise<void> => {
    let base = dir;
    try {
      base = await fs.promises.realpath(dir);
    } catch {
      // not there (yet): listFiles logs it
    }
    const seen = new Map<string, string>();
    for (const file of await listFiles(base, log)) {
      if (closed) return;
      const origin = originOf(cfg, path.basename(file));
      if (origin === undefined) continue;
      const prev = seen.get(origin);
      if (prev !== undefined) {
        log.warn(`Multiple zone files match origin '${origin}': using '${prev}' instead of '${file}'`);
        continue;
      }
      seen.set(origin, file);
      let st: fs.Stats;
      let bytes: Buffer;
      const have = loaded.get(origin);
      try {
        st = await fs.promises.stat(file);
        if (have !== undefined && have.file === file && have.stamp === stampOf(st)) continue;
        bytes = await fs.promises.readFile(file);
      } catch (e) {
        log.warn(`Opening ${file} failed: ${why(e)}`);
        continue;
      }
      try {
        if (have !== undefined) {
          have.file = file;
          have.stamp = stampOf(st);
          if (readSerial(bytes, origin, file, { path: file }) === have.zone.serial) continue;
        }
        const zone = await buildZone(bytes, origin, file, stop, file);
        if (closed) return;
        if (have !== undefined) {
          have.zone = zone;
          log.info(`Successfully reloaded zone '${origin}' from ${file} with serial ${zone.serial}`);
        } else {
          loaded.set(origin, { origin, zone, file, stamp: stampOf(st) });
          log.info(`Inserting zone '${origin}' from: ${file}`);
        }
        announce(origin);
      } catch (e) {
        if (closed) return;
        log.warn(`Parse zone '${origin}': ${why(e)}`);
      }
    }
    for (const origin of [...loaded.keys()]) {
      if (seen.has(origin)) continue;
      loaded.delete(origin);
      log.info(`Deleting zone '${origin}'`);
    }
    order = [...loaded.values()].sort((a, b) => b.origin.length - a.origin.length);
  };

  await walk();
  let timer: NodeJS.Timeout | undefined;
  if (cfg.reload > 0) timer = everyUnlessBusy(cfg.reload, () => walk().catch((e: unknown) => log.error(`walking ${dir}: ${why(e)}`)));

  return {
    serve(req, w, next) {
      const name = req.name;
      if (cfg.zones.match(name) === undefined) return next(req, w);
      let z: Loaded | undefined;
      for (const x of order) {
        if (isSubdomain(name, x.origin)) {
          z = x;
          break;
        }
      }
      if (z === undefined) {
        req.trace?.note(`no zone file in ${cfg.directory} holds ${name}${opts.last ? ': REFUSED (auto is the last plugin)' : ': next plugin'}`);
        // As CoreDNS: REFUSED when nothing follows auto in the chain, else the next plugin.
        return opts.last ? RCODE.REFUSED : next(req, w);
      }
      // Without the transfer plugin in front, zone transfers are refused.
      if (req.qtype === QTYPE.AXFR || req.qtype === QTYPE.IXFR) return RCODE.REFUSED;
      const zone = z.zone;
      const r: LookupResult = zone.lookup(name, req.qtype);
      req.trace?.note(`zone ${z.origin} from ${z.file} (serial ${zone.serial}): ${r.answers.length} answer(s)`);
      if (r.external !== undefined && opts.lookup !== undefined) return withExternal(zone, r as LookupResult & { external: string }, req, w, opts.lookup);
      const m: Message = { type: 'response', flags: (r.aa ? FLAG.AA : 0) | r.rcode, answers: r.answers, authorities: r.authorities, additionals: r.additionals };
      w.write(m);
      return r.rcode;
    },
    // transfer (CoreDNS's auto Transfer): the current copy of a loaded zone of ours
    xfrZone(zone) {
      if (cfg.zones.match(zone) === undefined) return undefined;
      return loaded.get(zone)?.zone;
    },
    xfrZones() {
      return [...loaded.keys()].filter((z) => cfg.zones.match(z) !== undefined);
    },
    onXfrChange(fn) {
      changed.push(fn);
    },
    close() {
      closed = true;
      if (timer !== undefined) clearInterval(timer);
    },
  };
}
