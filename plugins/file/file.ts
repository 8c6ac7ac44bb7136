// The file handler: the longest of its zones containing the query name answers from memory
// (synchronously); names outside every zone go to the next plugin. Each zone file is checked at
// its reload interval: unchanged on disk (same mtime, size and inode) → nothing read; changed but
// with the same SOA serial → only read as far as the SOA (CoreDNS reloads only on a new serial);
// new serial → parsed and swapped in. Parsing yields to the event loop every few milliseconds, so
// queries keep being answered from the old zone while a large file loads (at start-up too: a
// Corefile reload keeps the old server answering meanwhile). Zones live in the process's
// ZoneStore (store.ts): a Corefile reload takes the zones whose files did not change.
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { CorefileError, everyUnlessBusy, FLAG, isSubdomain, QTYPE, rcodeOf, RCODE, type Logger, type Message, type Plugin, type Rcode, type Request, type ResponseWriter, type SetupContext, type Trace } from '../../src/plugin/api.js';
import type { FileConfig, FileStanza } from './setup.js';
import { Zone, type LookupResult } from './zone.js';
import { withDnssec } from './signed.js';
import { readSerial, zoneRecords } from './zonefile.js';
import { digestFile, digestOf, ZoneStore, type ZoneEntry } from './store.js';
import type { Transferer } from '../transfer/source.js';

interface Served {
  readonly origin: string;
  zone: Zone;
  readonly stanza: FileStanza;
  /** The shared zone behind `zone`, held until close. */
  entry: ZoneEntry;
}

/**
 * How long a zone load may hold the event loop before it lets queries through (ms). Chunked
 * parsing on the main thread was chosen over a worker thread when a parsed zone was a million
 * small objects: handing them over from a worker (structured clone) blocked the main thread about
 * as long as parsing them did (bench/README.md, "Zone files"). A sealed zone is now a few
 * ArrayBuffers (zone.ts) a worker could hand over without a copy, but handing the file's bytes to
 * the worker held this thread longer than the slices do (bench/README.md, "Session 8").
 */
const SLICE_MS = 8;
const yieldLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** What a file looked like on disk when it was last read. */
type Stamp = string;
const stampOf = (st: fs.Stats): Stamp => `${st.mtimeMs}:${st.size}:${st.ino}`;

/** How much of a zone file a reload tick reads to find the SOA serial (bytes). */
const HEAD_BYTES = 64 * 1024;

/** The first HEAD_BYTES of a file, cut after its last full line (`whole`: that is the entire file). */
async function readHead(file: string): Promise<{ bytes: Buffer; whole: boolean }> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(HEAD_BYTES + 1);
    let n = 0;
    while (n < buf.length) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    if (n <= HEAD_BYTES) return { bytes: buf.subarray(0, n), whole: true };
    const nl = buf.lastIndexOf(10, HEAD_BYTES - 1);
    return { bytes: buf.subarray(0, nl + 1), whole: false };
  } finally {
    await fh.close();
  }
}

/** The SOA serial if the head holds the whole SOA record; undefined when it does not (or does not parse). */
function serialIn(head: Buffer, origin: string, shown: string, disk: string): number | undefined {
  try {
    return readSerial(head, origin, shown, { path: disk });
  } catch {
    return undefined;
  }
}

/** Message of a read or parse error ("file:line: reason" for a parse error). */
const why = (e: unknown): string => (e instanceof CorefileError ? e.short : (e as NodeJS.ErrnoException).code ?? (e as Error).message);

/**
 * Parse `bytes` into a zone for `origin`, pausing every SLICE_MS for the event loop. `stop()`
 * true abandons the load (the plugin was closed). `disk` is the file's path ($INCLUDE names are
 * relative to it). Throws "file:line: reason" errors.
 */
export async function buildZone(bytes: Uint8Array, origin: string, shown: string, stop: () => boolean = () => false, disk?: string): Promise<Zone> {
  const zone = new Zone(origin);
  let since = performance.now();
  let n = 0;
  for (const r of zoneRecords(bytes, origin, shown, { path: disk })) {
    zone.add(r);
    if ((++n & 255) === 0 && performance.now() - since > SLICE_MS) {
      await yieldLoop();
      if (stop()) throw new Error('plugin closed');
      since = performance.now();
    }
  }
  // Laying the records out (zone.ts) pauses the same way.
  const sealing = zone.sealing();
  while (!sealing.next().done) {
    if (performance.now() - since > SLICE_MS) {
      await yieldLoop();
      if (stop()) throw new Error('plugin closed');
      since = performance.now();
    }
  }
  return zone;
}

/**
 * A CNAME chain that left the zone: ask the server for the target and append its answer, as
 * CoreDNS's file plugin does. NXDOMAIN and NODATA of the target carry our SOA; a failed lookup
 * answers SERVFAIL with the chain so far.
 */
export async function withExternal(zone: Zone, r: LookupResult & { external: string }, req: Request, w: ResponseWriter, lookup: SetupContext['lookup']): Promise<Rcode> {
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
  if (first !== undefined && !z.has(name) && first.type !== 'DNAME') t.note(`no node ${name}: synthesised from the wildcard of its closest encloser`);
  if (r.rcode === RCODE.NXDOMAIN) t.note(`no name ${name} in the zone${s.stanza.fall.through(name) && r.answers.length === 0 ? ': fallthrough, next plugin' : ': NXDOMAIN with the SOA'}`);
  else if (r.answers.length === cnames.length && r.external === undefined) t.note(`${cnames.length > 0 ? 'the chain ends at a name' : 'the name exists'} with no record of this type: NODATA with the SOA`);
  else t.note(`${r.answers.length} record(s)`);
}

export async function createFile(cfg: FileConfig, root: string, log: Logger, lookup?: SetupContext['lookup'], store: ZoneStore = new ZoneStore(buildZone)): Promise<Plugin & Transferer> {
  const served: Served[] = [];
  /** Told of each new serial swapped in (the transfer plugin sends NOTIFY). */
  const changed: Array<(zone: string) => void> = [];
  const timers: NodeJS.Timeout[] = [];
  let closed = false;
  const release = (): void => {
    for (const s of served) store.release(s.entry);
    served.length = 0;
  };
  try {
    for (const st of cfg.stanzas) {
      const file = path.isAbsolute(st.path) ? st.path : path.join(root, st.path);
      let stamp: Stamp;
      try {
        stamp = stampOf(await fs.promises.stat(file));
      } catch (e) {
        throw new Error(`cannot read zone file '${st.path}': ${why(e)}`);
      }
      // The zones the running configuration holds for this file as it is now on disk: taken as they are.
      const held = new Map<string, ZoneEntry>();
      for (const origin of st.origins) {
        const e = store.byStamp(file, origin, stamp);
        if (e === undefined) continue;
        held.set(origin, e);
        log.debug(`zone '${origin}' from '${st.path}' is unchanged on disk: the zone already loaded is used`);
      }
      let bytes: Buffer | undefined;
      let digest = '';
      if (held.size < st.origins.length) {
        try {
          // Touched but the same bytes: hashed as it streams in, not held whole in memory (only
          // when some configuration holds a zone of this file: not at start).
          const sum = store.holds(file) ? await digestFile(file) : '';
          for (const origin of sum === '' ? [] : st.origins) {
            if (held.has(origin)) continue;
            const e = store.byDigest(file, origin, sum, stamp);
            if (e === undefined) continue;
            held.set(origin, e);
            log.debug(`zone '${origin}' from '${st.path}' is unchanged: the zone already loaded is used`);
          }
          if (held.size < st.origins.length) {
            bytes = await fs.promises.readFile(file);
            digest = await digestOf(bytes);
          }
        } catch (e) {
          for (const h of held.values()) store.release(h);
          throw new Error(`cannot read zone file '${st.path}': ${why(e)}`);
        }
      }
      const mine: Served[] = [];
      for (const origin of st.origins) {
        const entry = held.get(origin) ?? store.acquire(file, origin, st.path, bytes!, digest, stamp, log);
        // Held from here on: released by close(), or below if the setup fails.
        served.push({ origin, zone: undefined as unknown as Zone, stanza: st, entry });
        mine.push(served[served.length - 1]!);
      }
      for (const s of mine) {
        try {
          s.zone = await s.entry.zone;
        } catch (e) {
          throw new Error(why(e));
        }
      }
      bytes = undefined;
      if (st.reload > 0) {
        const check = async (): Promise<void> => {
          let now: Stamp;
          try {
            now = stampOf(await fs.promises.stat(file));
          } catch (e) {
            log.error(`failed to read zone file '${st.path}': ${why(e)}`);
            return;
          }
          if (now === stamp) {
            log.debug(`zone file '${st.path}' unchanged on disk: not read`);
            return;
          }
          // The SOA is usually at the top: the serial is looked for in the file's head first, so
          // a touched big file costs a small read, not a copy of the whole file.
          const head = await readHead(file).catch((e: unknown) => {
            log.error(`failed to read zone file '${st.path}': ${why(e)}`);
            return undefined;
          });
          if (head === undefined || closed) return;
          // Whatever the outcome, this version of the file has been seen: a broken file is tried
          // again when it changes, not at every tick.
          stamp = now;
          let text: Buffer | undefined = head.whole ? head.bytes : undefined;
          let sum: string | undefined;
          for (const s of mine) {
            let e: ZoneEntry | undefined;
            try {
              let serial = head.whole ? undefined : serialIn(head.bytes, s.origin, st.path, file);
              if (serial === undefined) {
                text ??= await fs.promises.readFile(file);
                if (closed) return;
                serial = readSerial(text, s.origin, st.path, { path: file });
              }
              if (serial === s.zone.serial) {
                log.debug(`zone '${s.origin}' from '${st.path}' changed on disk with the same serial ${serial}: not reloaded`);
                continue;
              }
              text ??= await fs.promises.readFile(file);
              sum ??= await digestOf(text);
              if (closed) return;
              e = store.acquire(file, s.origin, st.path, text, sum, now, log);
              const z = await e.zone;
              if (closed) {
                store.release(e);
                return;
              }
              const old = s.entry;
              s.entry = e;
              s.zone = z;
              store.release(old);
              log.info(`successfully reloaded zone '${s.origin}' from '${st.path}' with serial ${z.serial}`);
              for (const fn of changed) fn(s.origin);
            } catch (err) {
              if (e !== undefined) store.release(e);
              if (closed) return;
              log.error(`failed to reload zone '${s.origin}' from '${st.path}': ${why(err)}`);
            }
          }
        };
        timers.push(everyUnlessBusy(st.reload, check));
      }
    }
  } catch (e) {
    closed = true;
    for (const t of timers) clearInterval(t);
    release();
    throw e;
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
      // zone transfers are the transfer plugin's (before this one in the chain); without it: REFUSED, as CoreDNS
      if (req.qtype === QTYPE.AXFR || req.qtype === QTYPE.IXFR) return RCODE.REFUSED;
      let r = s.zone.lookup(name, req.qtype);
      if (req.do) r = withDnssec(s.zone, name, r);
      if (req.trace !== undefined) explainLookup(req.trace, s, name, r);
      if (r.rcode === 3 && r.answers.length === 0 && s.stanza.fall.through(name)) return next(req, w);
      if (r.external !== undefined && lookup !== undefined) return withExternal(s.zone, r as LookupResult & { external: string }, req, w, lookup);
      const m: Message = { type: 'response', flags: (r.aa ? FLAG.AA : 0) | r.rcode, answers: r.answers, authorities: r.authorities, additionals: r.additionals };
      w.write(m);
      return r.rcode;
    },
    xfrZone(zone) {
      return served.find((x) => x.origin === zone)?.zone;
    },
    xfrZones() {
      return served.map((x) => x.origin);
    },
    onXfrChange(fn) {
      changed.push(fn);
    },
    close() {
      if (closed) return;
      closed = true;
      for (const t of timers) clearInterval(t);
      release();
    },
  };
}
