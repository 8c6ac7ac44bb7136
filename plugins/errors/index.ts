// errors: logs what the plugins below throw, as "[ERROR] plugin/errors: 2 NAME. TYPE: message",
// with `consolidate` folding repeated errors into one line per period. The query still gets
// SERVFAIL and coredns_panics_total counts it (the core does both; this plugin only logs).
import { definePlugin, typeName as typeNameOf } from '../../src/plugin/api.js';
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

/** Marks an error as logged so the core does not log it a second time. */
export const LOGGED = Symbol.for('typedns.errors.logged');

export default definePlugin<ErrorsConfig>({
  name: 'errors',
  api: '^1',
  once: true,
  parse(d) {
    const cfg: ErrorsConfig = { stacktrace: false, consolidate: [] };
    d.next();
    if (d.countRemainingArgs() > 0) throw d.argErr();
    while (d.nextBlock()) {
      switch (d.val()) {
        case 'stacktrace':
          d.noMoreArgs();
          cfg.stacktrace = true;
          break;
        case 'consolidate': {
          const period = d.duration();
          if (period <= 0) throw d.err('consolidate period must be positive');
          const pattern = d.arg();
          if (pattern.length > 10_000) throw d.err('regex is too long (more than 10000 characters)');
          try {
            new RegExp(pattern);
          } catch (e) {
            throw d.err(`invalid regex '${pattern}': ${(e as Error).message}`);
          }
          let level: Level = 'error';
          let showFirst = false;
          for (const a of d.remainingArgs()) {
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
    const patterns = cfg.consolidate.map((c) => ({ ...c, re: new RegExp(c.pattern), count: 0 }));
    const timers: NodeJS.Timeout[] = [];
    for (const p of patterns) {
      const t = setInterval(() => {
        if (p.count > 0) {
          emit(log, p.level, `${p.count} errors like '${p.pattern}' occurred in last ${fmtDur(p.period)}`);
          p.count = 0;
        }
      }, p.period);
      t.unref();
      timers.push(t);
    }
    const report = (req: Request, e: unknown): void => {
      const msg = e instanceof Error ? (cfg.stacktrace && e.stack ? e.stack : e.message) : String(e);
      const line = `2 ${req.name} ${typeNameOf(req.qtype)}: ${msg}`;
      for (const p of patterns) {
        if (p.re.test(line)) {
          if (p.count === 0 && p.showFirst) emit(log, p.level, line);
          p.count++;
          return;
        }
      }
      log.error(line);
    };
    const fail = (req: Request, e: unknown): never => {
      report(req, e);
      if (e !== null && typeof e === 'object') (e as Record<symbol, boolean>)[LOGGED] = true;
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
        for (const t of timers) clearInterval(t);
      },
    };
  },
});

function emit(log: Logger, level: Level, msg: string): void {
  if (level === 'warning') log.warn(msg);
  else if (level === 'info') log.info(msg);
  else if (level === 'debug') log.debug(msg);
  else log.error(msg);
}

function fmtDur(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h0m0s`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m0s`;
  return `${ms / 1000}s`;
}
