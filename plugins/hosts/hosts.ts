// The hosts handler: names outside the plugin's zones go to the next plugin (PTR queries are
// answered for any reverse name the data knows); known names get authoritative A/AAAA answers or
// NODATA; unknown names fall through if configured, else get SERVFAIL (as CoreDNS: no SOA to deny with). Answers come from
// records built at (re)load time, synchronously.
import fs from 'node:fs';
import path from 'node:path';
import { everyUnlessBusy, FLAG, QTYPE, RCODE, pack, packedReply, type Gauge, type Logger, type Packed, type Plugin, type RR } from '../../src/plugin/api.js';
import { buildIndex, emptyHosts, parseHosts, type HostsData, type HostsIndex } from './hostsfile.js';
import type { HostsConfig } from './setup.js';

const { A, AAAA, PTR } = QTYPE;

export interface HostsMetrics {
  entries: Gauge;
  reloadTimestamp: Gauge;
}

/**
 * What the handler returns, unwritten, for a name that neither exists nor falls through. CoreDNS
 * would send NXDOMAIN but a hosts file has no SOA to prove it with, so it answers SERVFAIL
 * (plugin/hosts/hosts.go); the core writes the reply.
 */
export const NOT_FOUND = RCODE.SERVFAIL;

export interface HostsPlugin extends Plugin {
  /** The current index (tests, other plugins). */
  readonly index: HostsIndex;
}

export function createHosts(cfg: HostsConfig, root: string, log: Logger, metrics: HostsMetrics): HostsPlugin {
  const file = path.isAbsolute(cfg.path) ? cfg.path : path.join(root, cfg.path);
  const accept = (name: string): boolean => cfg.zones.match(name) !== undefined;
  const inline = parseHosts(cfg.inline.join('\n'), accept);
  let fileData: HostsData = emptyHosts();
  let stamp = '';

  const statStamp = (st: fs.Stats): string => `${st.mtimeMs}:${st.size}:${st.ino}`;
  try {
    const st = fs.statSync(file);
    fileData = parseHosts(fs.readFileSync(file, 'utf8'), accept);
    stamp = statStamp(st);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw new Error(`cannot read hosts file '${cfg.path}': ${code ?? (e as Error).message}`);
    log.warn(`file does not exist: ${cfg.path}`);
  }
  let index = buildIndex(inline, fileData, cfg.ttl, cfg.reverse);
  // Each record set as wire bytes, encoded on its first query; a reload builds new sets, so the
  // old encodings go with them. Every record of a set is owned by the name asked (a pointer to
  // the question: the answer keeps the client's spelling, as CoreDNS answers with the qname).
  const wire = new WeakMap<readonly RR[], Packed>();
  const packed = (recs: readonly RR[]): Packed => {
    let p = wire.get(recs);
    if (p === undefined) wire.set(recs, (p = pack(recs)));
    return p;
  };
  const published = (): void => {
    metrics.entries.set(index.entries);
    metrics.reloadTimestamp.set(Date.now() / 1000);
  };
  published();

  let timer: NodeJS.Timeout | undefined;
  if (cfg.reload > 0) {
    const reload = async (): Promise<void> => {
      let st: fs.Stats;
      try {
        st = await fs.promises.stat(file);
      } catch {
        // A deleted file keeps serving what it last held, and the inline entries.
        return;
      }
      const s = statStamp(st);
      if (s === stamp) return;
      const text = await fs.promises.readFile(file, 'utf8');
      fileData = parseHosts(text, accept);
      stamp = s;
      index = buildIndex(inline, fileData, cfg.ttl, cfg.reverse);
      published();
      log.debug(`reloaded ${cfg.path}: ${index.entries} entries`);
    };
    timer = everyUnlessBusy(cfg.reload, () => reload().catch((e: unknown) => log.error(`failed to reload ${cfg.path}: ${(e as Error).message}`)));
  }

  /** Where a name's addresses come from, for an explained query: the inline entries or file:line (the file as it reads now). */
  const source = (name: string, family: 'v4' | 'v6'): string => {
    if (inline[family].has(name)) return `the inline entries of the hosts block`;
    let line = 0;
    try {
      const lines = fs.readFileSync(file, 'utf8').split('\n');
      const want = name.slice(0, -1);
      line = 1 + lines.findIndex((l) => {
        const f = (l.includes('#') ? l.slice(0, l.indexOf('#')) : l).trim().split(/\s+/);
        return f.length > 1 && f.slice(1).some((n) => n.toLowerCase().replace(/\.$/, '') === want);
      });
    } catch {
      // unreadable now: the name only
    }
    return line > 0 ? `${cfg.path}:${line}` : cfg.path;
  };

  return {
    get index() {
      return index;
    },
    serve(req, w, next) {
      const name = req.name;
      const qtype = req.qtype;
      if (qtype === PTR) {
        // Reverse names need not be in the plugin's zones; an unknown address always goes on.
        const recs = index.ptr.get(name);
        if (recs === undefined) {
          req.trace?.note(`no entry has this address: next plugin`);
          return next(req, w);
        }
        req.trace?.note(`PTR ${recs.map((r) => String((r as { data: unknown }).data)).join(' ')}`);
        w.write(packedReply(req, FLAG.AA, RCODE.NOERROR, packed(recs)));
        return RCODE.NOERROR;
      }
      if (cfg.zones.match(name) === undefined) {
        req.trace?.note(`${name} is outside the zones of hosts: next plugin`);
        return next(req, w);
      }
      const recs = qtype === A ? index.a.get(name) : qtype === AAAA ? index.aaaa.get(name) : undefined;
      if (recs !== undefined) {
        if (req.trace !== undefined) req.trace.note(`${recs.map((r) => String((r as { data: unknown }).data)).join(' ')} from ${source(name, qtype === A ? 'v4' : 'v6')}`);
        w.write(packedReply(req, FLAG.AA, RCODE.NOERROR, packed(recs)));
        return RCODE.NOERROR;
      }
      if (index.names.has(name)) {
        // The name exists with other records: authoritative NODATA.
        req.trace?.note(`the name has entries, none of this type: NODATA`);
        w.write(packedReply(req, FLAG.AA, RCODE.NOERROR));
        return RCODE.NOERROR;
      }
      if (cfg.fall.through(name)) {
        req.trace?.note(`no entry for ${name}: fallthrough to the next plugin`);
        return next(req, w);
      }
      req.trace?.note(`no entry for ${name} and no fallthrough: SERVFAIL (a hosts file has no SOA to deny with)`);
      return NOT_FOUND;
    },
    close() {
      if (timer !== undefined) clearInterval(timer);
    },
  };
}
