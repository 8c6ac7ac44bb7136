// prefetch and serve_stale: re-run the chain below in the background for a popular entry close to
// expiry or an expired one (immediate), or first, with the stale entry as the fallback (verify).
import { CaptureWriter, RCODE } from '../../src/plugin/api.js';
import type { Logger, Message, Next, Rcode, Request, ResponseWriter } from '../../src/plugin/api.js';
import type { CacheConfig } from './setup.js';
import type { Entry } from './store.js';

/** What stale.ts needs of the cache (handler.ts's Cache). */
export interface Refreshable {
  readonly cfg: CacheConfig;
  readonly stale: boolean;
  readonly log: Logger;
  readonly metrics: { readonly stale: { inc(): void } };
  admit(req: Request, key: string, res: Message | Uint8Array, prev: Entry | undefined, send: boolean): Message | Uint8Array;
  serveEntry(e: Entry, req: Request, w: ResponseWriter, ttl: number, stale?: boolean): Rcode;
}

/** A refresh that may replace a stale entry: NOERROR or NXDOMAIN. */
const usable = (cw: CaptureWriter): boolean => cw.written && (cw.rcode === RCODE.NOERROR || cw.rcode === RCODE.NXDOMAIN);

/** Re-run the chain below in the background for `req` and store the result (one per entry). */
export function refresh(c: Refreshable, e: Entry, req: Request, key: string, next: Next): void {
  if (e.refreshing) return;
  e.refreshing = true;
  const cw = new CaptureWriter((res) => {
    // With serve_stale a failed refresh (SERVFAIL, REFUSED, …) keeps the entry to serve stale.
    if (c.stale && !usable(cw)) return;
    try {
      c.admit(req, key, res, e, false);
    } catch {
      // not cacheable
    }
  });
  const done = (): void => {
    e.refreshing = false;
    if (c.stale && !usable(cw)) e.recheckUntil = Date.now() + c.cfg.serveStale.recheck;
  };
  try {
    const r = next(req, cw);
    if (r instanceof Promise)
      r.then(done, (err: unknown) => {
        done();
        c.log.debug(`refresh of ${req.name} failed: ${err instanceof Error ? err.message : String(err)}`);
      });
    else done();
  } catch {
    done();
  }
}

/**
 * verify: ask the plugins below first; a NOERROR or NXDOMAIN reply is stored and answered,
 * anything else (SERVFAIL, REFUSED, no reply) gets the stale entry. With a TIMEOUT the stale
 * entry goes out when the plugins below take longer, and their late reply still refreshes it.
 */
export function verifyStale(c: Refreshable, e: Entry, req: Request, w: ResponseWriter, key: string, next: Next): Promise<Rcode> {
  const ss = c.cfg.serveStale;
  return new Promise<Rcode>((resolve) => {
    let answered = false;
    let timer: NodeJS.Timeout | undefined;
    const answerStale = (): void => {
      if (answered) return;
      answered = true;
      if (timer !== undefined) clearTimeout(timer);
      c.metrics.stale.inc();
      resolve(c.serveEntry(e, req, w, ss.respTtl, true));
    };
    const cw = new CaptureWriter(() => {});
    e.refreshing = true;
    const finish = (): void => {
      e.refreshing = false;
      const res = cw.res;
      if (res === undefined || !usable(cw)) {
        e.recheckUntil = Date.now() + ss.recheck;
        answerStale();
        return;
      }
      let out = res;
      try {
        out = c.admit(req, key, res, e, !answered);
      } catch {
        // not cacheable: still the fresh answer
      }
      if (answered) return;
      answered = true;
      if (timer !== undefined) clearTimeout(timer);
      if (!w.written) w.write(out);
      resolve(cw.rcode as Rcode);
    };
    if (ss.timeout > 0) timer = setTimeout(answerStale, ss.timeout);
    try {
      const r = next(req, cw);
      if (r instanceof Promise) r.then(finish, finish);
      else finish();
    } catch {
      finish();
    }
  });
}
