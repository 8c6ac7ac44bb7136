// The file handler: the longest of its zones containing the query name answers from memory
// (synchronously); names outside every zone go to the next plugin. Each zone file is re-read at
// its reload interval and swapped in when the SOA serial changed.
import fs from 'node:fs';
import path from 'node:path';
import { CorefileError, FLAG, isSubdomain, rcodeOf, RCODE, type Logger, type Message, type Plugin, type Rcode, type Request, type ResponseWriter, type SetupContext, type Trace } from '../../src/plugin/api.js';
import type { FileConfig, FileStanza } from './setup.js';
import { Zone, type LookupResult } from './zone.js';
import { parseZone } from './zonefile.js';

interface Served {
  readonly origin: string;
  zone: Zone;
  readonly stanza: FileStanza;
}

/** Read and parse `file` for each origin. Throws an Error whose message is "file:line: reason". */
export function loadZones(file: string, shown: string, origins: readonly string[]): Zone[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read zone file '${shown}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return origins.map((o) => {
    try {
      return new Zone(o, parseZone(text, o, shown));
    } catch (e) {
      if (e instanceof CorefileError) throw new Error(e.short);
      throw e;
    }
  });
}

/**
 * A CNAME chain that left the zone: ask the server for the target and append its answer, as
 * CoreDNS's file plugin does. NXDOMAIN and NODATA of the target carry our SOA; a failed lookup
 * answers SERVFAIL with the chain so far.
 */
async function withExternal(zone: Zone, r: LookupResult & { external: string }, req: Request, w: ResponseWriter, lookup: SetupContext['lookup']): Promise<Rcode> {
  let m: Message | undefined;
  try {
    m = await lookup(req, r.external, req.qtype);
  } catch {
    m = undefined; // nested too deep: a CNAME loop across zones
  }
  const rc = m === undefined ? RCODE.SERVFAIL : rcodeOf(m);
  const more = m?.answers ?? [];
  const answers = more.length > 0 ? [...r.answers, ...more] : r.answers;
  let rcode: number = RCODE.NOERROR;
  let authorities = zone.apexNs;
  if (rc === RCODE.NXDOMAIN) {
    rcode = RCODE.NXDOMAIN;
    authorities = [zone.negSoa];
  } else if (rc === RCODE.SERVFAIL) {
    rcode = RCODE.SERVFAIL;
  } else if (rc === RCODE.NOERROR && more.length === 0) {
    authorities = [zone.negSoa]; // NODATA at the target
  }
  w.write({ type: 'response', flags: FLAG.AA | rcode, answers, authorities, additionals: [] });
  return rcode;
}

/** What the zone answered, for an explained query: zone, CNAME chain, wildcard, delegation, NXDOMAIN vs NODATA. */
function explainLookup(t: Trace, s: Served, name: string, r: LookupResult): void {
  const z = s.zone;
  t.note(`zone ${s.origin} from ${s.stanza.path} (serial ${z.serial})`);
  const cnames = r.answers.filter((a) => a.type === 'CNAME' || a.type === 'DNAME');
  if (cnames.length > 0) t.note(`CNAME chain: ${[name.slice(0, -1), ...cnames.filter((a) => a.type === 'CNAME').map((a) => String((a as { data: unknown }).data))].join(' → ')}`);
  if (r.external !== undefined) t.note(`the chain leaves the zone at ${r.external}: the server is asked for it`);
  if (!r.aa && r.answers.length === 0) {
    const ns = r.authorities.filter((a) => a.type === 'NS');
    t.note(`delegation: ${ns[0]?.name ?? '?'} is delegated to ${ns.map((a) => String((a as { data: unknown }).data)).join(' ')} (referral, not authoritative)`);
    return;
  }
  const first = r.answers[0];
  if (first !== undefined && !z.nodes.has(name) && first.type !== 'DNAME') t.note(`no node ${name}: synthesised from the wildcard of its closest encloser`);
  if (r.rcode === RCODE.NXDOMAIN) t.note(`no name ${name} in the zone${s.stanza.fall.through(name) && r.answers.length === 0 ? ': fallthrough, next plugin' : ': NXDOMAIN with the SOA'}`);
  else if (r.answers.length === cnames.length && r.external === undefined) t.note(`${cnames.length > 0 ? 'the chain ends at a name' : 'the name exists'} with no record of this type: NODATA with the SOA`);
  else t.note(`${r.answers.length} record(s)`);
}

export function createFile(cfg: FileConfig, root: string, log: Logger, lookup?: SetupContext['lookup']): Plugin {
  const served: Served[] = [];
  const timers: NodeJS.Timeout[] = [];
  for (const st of cfg.stanzas) {
    const file = path.isAbsolute(st.path) ? st.path : path.join(root, st.path);
    const zones = loadZones(file, st.path, st.origins);
    const mine = zones.map((zone, i) => ({ origin: st.origins[i]!, zone, stanza: st }));
    served.push(...mine);
    if (st.reload > 0) {
      let busy = false;
      const t = setInterval(() => {
        if (busy) return;
        busy = true;
        fs.promises
          .readFile(file, 'utf8')
          .then((text) => {
            for (const s of mine) {
              let z: Zone;
              try {
                z = new Zone(s.origin, parseZone(text, s.origin, st.path));
              } catch (e) {
                log.error(`failed to reload zone '${s.origin}' from '${st.path}': ${e instanceof CorefileError ? e.short : (e as Error).message}`);
                continue;
              }
              if (z.serial !== s.zone.serial) {
                s.zone = z;
                log.info(`successfully reloaded zone '${s.origin}' from '${st.path}' with serial ${z.serial}`);
              }
            }
          })
          .catch((e: unknown) => log.error(`failed to read zone file '${st.path}': ${(e as Error).message}`))
          .finally(() => (busy = false));
      }, st.reload);
      t.unref();
      timers.push(t);
    }
  }
  // Longest origin first, so the first match is the most specific zone.
  served.sort((a, b) => b.origin.length - a.origin.length);

  return {
    serve(req, w, next) {
      const name = req.name;
      let s: Served | undefined;
      for (const x of served) {
        if (isSubdomain(name, x.origin)) {
          s = x;
          break;
        }
      }
      if (s === undefined) {
        req.trace?.note(`${name} is in no zone of file: next plugin`);
        return next(req, w);
      }
      const r = s.zone.lookup(name, req.qtype);
      if (req.trace !== undefined) explainLookup(req.trace, s, name, r);
      if (r.rcode === 3 && r.answers.length === 0 && s.stanza.fall.through(name)) return next(req, w);
      if (r.external !== undefined && lookup !== undefined) return withExternal(s.zone, r as LookupResult & { external: string }, req, w, lookup);
      const m: Message = { type: 'response', flags: (r.aa ? FLAG.AA : 0) | r.rcode, answers: r.answers, authorities: r.authorities, additionals: r.additionals };
      w.write(m);
      return r.rcode;
    },
    close() {
      for (const t of timers) clearInterval(t);
    },
  };
}
