// log: one line per query in CoreDNS's format, written after the reply through the process log
// destination (pino's buffered sonic-boom writer). The format is compiled into a list of small
// functions at setup (pino's "build invariant text once" rule), not interpreted per query.
import { definePlugin, FLAG, isSubdomain, fqdn, metadataValue, rcodeName, settle, typeName, className } from '../../src/plugin/api.js';
import type { Rcode, Request, ResponseWriter } from '../../src/plugin/api.js';

export const COMMON = '{remote}:{port} - {>id} "{type} {class} {name} {proto} {size} {>do} {>bufsize}" {rcode} {>rflags} {rsize} {duration}';
export const COMBINED = `${COMMON} "{>opcode}"`;

type ClassName = 'all' | 'success' | 'denial' | 'error';

export interface LogRule {
  names: string[];
  format: string;
  classes: ClassName[];
}

export interface LogConfig {
  rules: LogRule[];
}

type Part = (req: Request, w: ResponseWriter, dur: number) => string;

const PLACEHOLDERS: Record<string, Part> = {
  type: (r) => typeName(r.qtype),
  name: (r) => r.qname,
  class: (r) => className(r.qclass),
  proto: (r) => r.transport,
  remote: (r) => (r.client.family === 6 ? `[${r.client.ip}]` : r.client.ip),
  local: (r) => (r.local.ip.includes(':') ? `[${r.local.ip}]` : r.local.ip),
  port: (r) => String(r.client.port),
  size: (r) => String(r.wire.length),
  duration: (_r, _w, d) => `${(d / 1000).toFixed(9).replace(/0+$/, '').replace(/\.$/, '.0')}s`,
  rcode: (_r, w) => (w.rcode < 0 ? '-' : rcodeName(w.rcode)),
  rsize: (_r, w) => String(w.length),
  '>id': (r) => String(r.id),
  '>do': (r) => String(r.do),
  '>bufsize': (r) => String(r.size),
  '>opcode': () => 'QUERY',
  '>rflags': (_r, w) => rflags(w.flags),
};

function rflags(f: number): string {
  const out: string[] = [];
  if (f & FLAG.QR) out.push('qr');
  if (f & FLAG.AA) out.push('aa');
  if (f & FLAG.TC) out.push('tc');
  if (f & FLAG.RD) out.push('rd');
  if (f & FLAG.RA) out.push('ra');
  if (f & FLAG.AD) out.push('ad');
  if (f & FLAG.CD) out.push('cd');
  return out.join(',');
}

/** Compile a format string into a function; unknown placeholders are kept verbatim (as CoreDNS's replacer does). */
export function compileFormat(format: string): (req: Request, w: ResponseWriter, dur: number) => string {
  const f = format === '{common}' ? COMMON : format === '{combined}' ? COMBINED : format;
  const parts: Array<string | Part> = [];
  const re = /\{(>?[a-z]+|\/[^}]+)\}/g;
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(f)) !== null) {
    if (m.index > last) parts.push(f.slice(last, m.index));
    const fn = PLACEHOLDERS[m[1]!];
    const label = m[1]!.startsWith('/') ? m[1]!.slice(1) : undefined;
    parts.push(fn ?? (label !== undefined ? (r: Request) => metadataValue(r, label) ?? '-' : m[0]));
    last = re.lastIndex;
  }
  if (last < f.length) parts.push(f.slice(last));
  return (req, w, dur) => {
    let s = '';
    for (const p of parts) s += typeof p === 'string' ? p : p(req, w, dur);
    return s;
  };
}

function classify(w: ResponseWriter): ClassName {
  const rc = w.rcode;
  if (rc === 3 || (rc === 0 && w.answers === 0)) return 'denial';
  if (rc === 0) return 'success';
  return 'error';
}

export default definePlugin<LogConfig>({
  name: 'log',
  api: '^1',
  parse(d) {
    const cfg: LogConfig = { rules: [] };
    while (d.next()) {
      const args = d.remainingArgs();
      let names: string[];
      let format = COMMON;
      if (args.length === 0) names = ['.'];
      else if (args.length === 1) names = [args[0]!];
      else {
        const last = args[args.length - 1]!;
        if (last.includes('{')) {
          format = last;
          names = args.slice(0, -1);
        } else names = args;
      }
      if (format === '{common}') format = COMMON;
      if (format === '{combined}') format = COMBINED;
      const classes: ClassName[] = [];
      while (d.nextBlock()) {
        if (d.val() !== 'class') throw d.unknownProperty();
        const cs = d.remainingArgs();
        if (cs.length === 0) throw d.argErr();
        for (const c of cs) {
          if (c !== 'all' && c !== 'success' && c !== 'denial' && c !== 'error') throw d.err(`invalid class '${c}', expected all, success, denial or error`);
          classes.push(c);
        }
      }
      cfg.rules.push({ names: names.map(fqdn), format, classes: classes.length ? classes : ['all'] });
    }
    return cfg;
  },
  setup(cfg, ctx) {
    const sink = (ctx.log as unknown as { raw?: (l: string) => void }).raw;
    const info = sink ? (line: string) => sink(`[INFO] ${line}`) : (line: string) => ctx.log.info(line);
    const rules = cfg.rules.map((r) => ({ names: r.names, fmt: compileFormat(r.format), all: r.classes.includes('all'), classes: new Set(r.classes) }));
    const emit = (req: Request, w: ResponseWriter): void => {
      for (const r of rules) {
        let match = false;
        for (const n of r.names) if (isSubdomain(req.name, n)) match = true;
        if (!match) continue;
        if (!r.all && !r.classes.has(classify(w))) return;
        info(r.fmt(req, w, performance.now() - req.start));
        return;
      }
    };
    return {
      serve(req, w, next) {
        const r = next(req, w);
        if (r instanceof Promise) {
          return r.then((rc: Rcode) => {
            logAfter(req, w, rc, emit);
            return rc;
          });
        }
        logAfter(req, w, r, emit);
        return r;
      },
    };
  },
});

/**
 * Log the reply the client got: the core's settle writes the server's reply for an unwritten rcode
 * first, so rcode, size and flags are the real ones. A dropped query (acl drop) is logged with
 * rcode `-` and size 0: nothing was sent.
 */
function logAfter(req: Request, w: ResponseWriter, rc: Rcode, emit: (req: Request, w: ResponseWriter) => void): void {
  settle(req, w, rc);
  emit(req, w);
}
