// errors: logs what the plugins below throw, as "[ERROR] plugin/errors: 2 NAME. TYPE: message",
// with `consolidate` folding repeated errors into one line per period. The query still gets
// SERVFAIL and coredns_panics_total counts it (the core does both; this plugin only logs).
import { definePlugin, markLogged, parseDuration, typeName as typeNameOf } from '../../src/plugin/api.js';
import type { Logger, Rcode, Request } from '../../src/plugin/api.js';

type Level = 'warning' | 'error' | 'info' | 'debug';

export interface Consolidate {
  period: number;
  pattern: string;
  level: Level;
  showFirst: boolean;
}

export interface ErrorsConfig {
  stacktrace: boolean;
  consolidate: Consolidate[];
}

export default definePlugin<ErrorsConfig>({
  name: 'errors',
  api: '^1',
  once: true,
  parse(d) {
    const cfg: ErrorsConfig = { stacktrace: false, consolidate: [] };
    d.next();
    const args = d.remainingArgs();
    // CoreDNS takes `stdout` (where errors go anyway) and no other destination.
    if (args.length > 1) throw d.argErr();
    if (args.length === 1 && args[0] !== 'stdout') throw d.err(`invalid log file: ${args[0]}`);
    while (d.nextBlock()) {
      switch (d.val()) {
        case 'stacktrace':
          d.noMoreArgs();
          cfg.stacktrace = true;
          break;
        case 'consolidate': {
          const args = d.remainingArgs();
          if (args.length < 2) throw d.argErr();
          const [raw, pattern, ...rest] = args as [string, string, ...string[]];
          // a Go duration: a bare number other than 0 has no unit (CoreDNS: time.ParseDuration)
          const period = /^\d+(\.\d+)?$/.test(raw) && Number(raw) !== 0 ? undefined : parseDuration(raw);
          if (period === undefined) throw d.err(`invalid duration '${raw}', expected e.g. 5s, 500ms, 1m30s`);
          if (pattern.length > 10_000) throw d.err('regex is too long (more than 10000 characters)');
          try {
            new RegExp(pattern);
          } catch (e) {
            throw d.err(`invalid regex '${pattern}': ${(e as Error).message}`);
          }
          let level: Level = 'error';
          let showFirst = false;
          for (const a of rest) {
            if (a === 'show_first') showFirst = true;
            else if (a === 'warning' || a === 'error' || a === 'info' || a === 'debug') level = a;
            else throw d.err(`unknown log level or option '${a}', expected warning, error, info, debug or show_first`);
          }
          cfg.consolidate.push({ period, pattern, level, showFirst });
          break;
        }
        default:
          throw d.unknownProperty();
      }
    }
    return cfg;
  },
  setup(cfg, ctx) {
    const log = ctx.log;
    const patterns: Pattern[] = cfg.consolidate.map((c) => ({ ...c, re: new RegExp(c.pattern), count: 0, timer: undefined }));
    let stopped = false;
    /** Log a pattern's count and start over (CoreDNS's logPattern). */
    const flush = (p: Pattern): void => {
      p.timer = undefined;
      const n = p.count;
      p.count = 0;
      if (n > 0) emit(log, p.level, `${n} errors like '${p.pattern}' occurred in last ${goDuration(p.period)}`);
    };
    const report = (req: Request, e: unknown): void => {
      const text = e instanceof Error ? e.message : String(e);
      // the pattern sees the error's own text, as CoreDNS matches err.Error()
      if (!stopped) {
        for (const p of patterns) {
          if (!p.re.test(text)) continue;
          if (p.count++ === 0) {
            // the period starts with the first error of a batch (time.AfterFunc in CoreDNS)
            p.timer = setTimeout(() => flush(p), p.period);
            p.timer.unref();
            if (p.showFirst) log.error(line(req, e, text));
          }
          return;
        }
      }
      log.error(line(req, e, text));
    };
    const line = (req: Request, e: unknown, text: string): string => `2 ${req.name} ${typeNameOf(req.qtype)}: ${cfg.stacktrace && e instanceof Error && e.stack ? e.stack : text}`;
    const fail = (req: Request, e: unknown): never => {
      report(req, e);
      markLogged(e);
      throw e;
    };
    return {
      serve(req, w, next) {
        let r;
        try {
          r = next(req, w);
        } catch (e) {
          return fail(req, e);
        }
        if (r instanceof Promise) return r.catch((e: unknown): Rcode => fail(req, e));
        return r;
      },
      close() {
        // pending counts are logged now, not lost (CoreDNS's stop on shutdown)
        stopped = true;
        for (const p of patterns) {
          if (p.timer !== undefined) clearTimeout(p.timer);
          flush(p);
        }
      },
    };
  },
});

interface Pattern extends Consolidate {
  re: RegExp;
  count: number;
  timer: NodeJS.Timeout | undefined;
}

function emit(log: Logger, level: Level, msg: string): void {
  if (level === 'warning') log.warn(msg);
  else if (level === 'info') log.info(msg);
  else if (level === 'debug') log.debug(msg);
  else log.error(msg);
}

/** A period as Go prints a time.Duration: "2s", "1m0s", "1h30m0s", "300ms", "1.5s". */
export function goDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) {
    if (ms >= 1) return `${+ms.toFixed(6)}ms`;
    if (ms >= 1e-3) return `${+(ms * 1e3).toFixed(3)}µs`;
    return `${Math.round(ms * 1e6)}ns`;
  }
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const sec = +((ms % 60_000) / 1000).toFixed(9);
  if (h > 0) return `${h}h${m}m${sec}s`;
  if (m > 0) return `${m}m${sec}s`;
  return `${sec}s`;
}
