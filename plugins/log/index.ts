// log: one line per query in CoreDNS's format, written after the reply through the process log
// destination (pino's buffered sonic-boom writer). The format is compiled into a list of small
// functions at setup (pino's "build invariant text once" rule), not interpreted per query.
import { definePlugin, FLAG, isSubdomain, fqdn, metadataValue, rcodeName, settle, typeName, className, WrappedWriter } from '../../src/plugin/api.js';
import type { Message, Rcode, Request, ResponseWriter } from '../../src/plugin/api.js';
import { classifyReply, type ResponseClass } from './classify.js';

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
  name: (r) => r.name,
  class: (r) => className(r.qclass),
  proto: (r) => r.transport,
  remote: (r) => (r.client.family === 6 ? `[${r.client.ip}]` : r.client.ip),
  local: (r) => (r.local.ip.includes(':') ? `[${r.local.ip}]` : r.local.ip),
  port: (r) => String(r.client.port),
  size: (r) => String(r.wire.length),
  duration: (_r, _w, d) => seconds(d),
  rcode: (_r, w) => (w.rcode < 0 ? '-' : rcodeName(w.rcode)),
  rsize: (_r, w) => String(w.length),
  '>id': (r) => String(r.id),
  '>do': (r) => String(r.do),
  '>bufsize': (r) => String(r.size),
  '>opcode': (r) => String((r.wire[2]! >> 3) & 0xf),
  '>rflags': (_r, w) => (w.written ? rflags(w.flags) : '-'),
};

/** Milliseconds as CoreDNS prints a duration: seconds, shortest decimal form, no exponent ("0.000125s", "2s"). */
function seconds(ms: number): string {
  const ns = Math.round(ms * 1e6);
  let s = String(ns / 1e9);
  if (s.includes('e')) s = (ns / 1e9).toFixed(9).replace(/0+$/, '').replace(/\.$/, '');
  return `${s}s`;
}

function rflags(f: number): string {
  const out: string[] = [];
  if (f & FLAG.QR) out.push('qr');
  if (f & FLAG.AA) out.push('aa');
  if (f & FLAG.TC) out.push('tc');
  if (f & FLAG.RD) out.push('rd');
  if (f & FLAG.RA) out.push('ra');
  if (f & FLAG.Z) out.push('z');
  if (f & FLAG.AD) out.push('ad');
  if (f & FLAG.CD) out.push('cd');
  return out.join(',');
}

/** `{common}` and `{combined}` anywhere in a format are replaced by those formats (at parse time). */
export function expandFormat(format: string): string {
  return format.replaceAll('{common}', COMMON).replaceAll('{combined}', COMBINED);
}

/**
 * Compile a format into a function. A placeholder is the text between a `}` and the last `{`
 * before it: a known name or `{/label}` (metadata, `-` when unset) is replaced; anything else,
 * and any stray brace, stays as written (CoreDNS's replacer parses the same way).
 */
export function compileFormat(format: string): (req: Request, w: ResponseWriter, dur: number) => string {
  const parts: Array<string | Part> = [];
  const lit = (t: string): void => {
    if (t === '') return;
    const n = parts.length;
    if (n > 0 && typeof parts[n - 1] === 'string') parts[n - 1] += t;
    else parts.push(t);
  };
  let s = format;
  for (;;) {
    const j = s.indexOf('}');
    if (j < 0) break;
    const i = s.lastIndexOf('{', j);
    if (i < 0) {
      lit(s.slice(0, j + 1));
      s = s.slice(j + 1);
      continue;
    }
    const tag = s.slice(i + 1, j);
    const fn = PLACEHOLDERS[tag];
    if (fn !== undefined || tag.startsWith('/')) {
      lit(s.slice(0, i));
      if (fn !== undefined) parts.push(fn);
      else {
        const label = tag.slice(1);
        parts.push((r: Request) => metadataValue(r, label) ?? '-');
      }
    } else lit(s.slice(0, j + 1));
    s = s.slice(j + 1);
  }
  lit(s);
  return (req, w, dur) => {
    let out = '';
    for (const p of parts) out += typeof p === 'string' ? p : p(req, w, dur);
    return out;
  };
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
      format = expandFormat(format);
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
    const log = ctx.log;
    const info = (line: string): void => log.raw(`[INFO] ${line}`);
    const rules: Rule[] = cfg.rules.map((r) => ({ names: r.names, fmt: compileFormat(r.format), all: r.classes.includes('all'), classes: new Set(r.classes) }));
    /** The first rule with a name the query is in: it alone decides (CoreDNS's first matching NameScope). */
    const ruleFor = (name: string): Rule | undefined => {
      for (const r of rules) for (const n of r.names) if (isSubdomain(name, n)) return r;
      return undefined;
    };
    const done = (req: Request, w: ResponseWriter, rec: ReplyRecorder | undefined, rule: Rule, rc: Rcode): void => {
      // The core's settle writes the server's reply for an unwritten rcode first, so rcode, size
      // and flags are those of the real reply; a dropped query (acl drop) has none.
      settle(req, w, rc);
      if (rec !== undefined) {
        let cls: ResponseClass;
        if (rec.res !== undefined) cls = classifyReply(req, rec.res, Math.floor(Date.now() / 1000));
        else if (w.written) cls = w.rcode === 0 ? 'success' : 'error'; // the server's empty reply: no records, no SOA
        else cls = 'error'; // nothing sent
        if (!rule.classes.has(cls)) return;
      }
      info(rule.fmt(req, w, performance.now() - req.start));
    };
    return {
      serve(req, w, next) {
        const rule = ruleFor(req.name);
        if (rule === undefined) return next(req, w);
        // The reply is kept only when its class decides whether to log (one wrapper per query then).
        const rec = rule.all ? undefined : new ReplyRecorder(w);
        const r = next(req, rec ?? w);
        if (r instanceof Promise) {
          return r.then((rc: Rcode) => {
            done(req, w, rec, rule, rc);
            return rc;
          });
        }
        done(req, w, rec, rule, r);
        return r;
      },
    };
  },
});

interface Rule {
  names: string[];
  fmt: (req: Request, w: ResponseWriter, dur: number) => string;
  all: boolean;
  classes: Set<ClassName>;
}

/** Keeps the first reply written through it, for classification after the chain returns. */
class ReplyRecorder extends WrappedWriter {
  res: Message | Uint8Array | undefined;
  override write(res: Message | Uint8Array): void {
    if (this.res === undefined && !this.inner.written) this.res = res;
    this.inner.write(res);
  }
}
