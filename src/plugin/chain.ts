// The chain: one `next` per position, bound once when the block is compiled, never per query.
import type { MaybePromise, Next, Plugin, Rcode, Request, ResponseWriter } from './types.js';
import type { Logger } from '../observe/log.js';
import { DROP, RCODE } from '../dns/constants.js';
import { emptyReply } from '../dns/wire.js';
import { CoreWriter } from '../request/writer.js';
import { WrappedWriter } from './wrapped-writer.js';
import type { QueryTrace } from './trace.js';

export interface ChainLink {
  readonly name: string;
  readonly plugin: Plugin;
}

/** Build the entry point of a chain. The terminal `next` logs "no next plugin" and returns SERVFAIL without writing. */
export function compileChain(links: readonly ChainLink[], log: Logger): Next {
  const terminal: Next = (req: Request): Rcode => {
    log.debug(`no next plugin found for ${req.name}`);
    req.trace?.note('no next plugin: SERVFAIL');
    return RCODE.SERVFAIL;
  };
  let next = terminal;
  for (let i = links.length - 1; i >= 0; i--) {
    const p = links[i]!.plugin;
    const name = links[i]!.name;
    const serve = p.serve;
    if (serve === undefined) continue;
    const after = next;
    next = (req: Request, w: ResponseWriter) => {
      enter(w, name);
      // Only an explained query has a trace: one branch per hop otherwise (npm run bench:chain).
      if (req.trace !== undefined) return traced(req.trace as QueryTrace, name, p, serve, req, w, after);
      return serve.call(p, req, w, after);
    };
  }
  return next;
}

/** A hop of an explained query: the plugin's entry, exit, rcode and time go in the trace. */
function traced(t: QueryTrace, name: string, p: Plugin, serve: NonNullable<Plugin['serve']>, req: Request, w: ResponseWriter, after: Next): MaybePromise<Rcode> {
  const before = w.written;
  const f = t.enter(name);
  let r: MaybePromise<Rcode>;
  try {
    r = serve.call(p, req, w, after);
  } catch (e) {
    t.exit(f, undefined, w, before);
    throw e;
  }
  if (r instanceof Promise) {
    return r.then(
      (rc) => {
        t.exit(f, rc, w, before);
        return rc;
      },
      (e: unknown) => {
        t.exit(f, undefined, w, before);
        throw e;
      },
    );
  }
  t.exit(f, r, w, before);
  return r;
}

/**
 * Note on the query's writer which plugin is being entered, so that the writer knows who wrote
 * the reply (CoreDNS finds it from the caller of WriteMsg). Only when `w` leads to the query's
 * own writer: a plugin that asks the rest of the chain with a CaptureWriter stays the author of
 * what it writes itself.
 */
function enter(w: ResponseWriter, name: string): void {
  let x = w;
  while (x instanceof WrappedWriter) x = x.inner;
  if (x instanceof CoreWriter) x.plugin = name;
}

/** The plugin that wrote the reply through `w` ('' when none did, or not known). */
export function writtenBy(w: ResponseWriter): string {
  let x = w;
  while (x instanceof WrappedWriter) x = x.inner;
  return x instanceof CoreWriter && x.written ? x.by : '';
}

/**
 * Settle a query the chain (or the part of it below a plugin) has finished with — the one place
 * the rule "nothing written → an empty reply with the returned rcode" lives (CoreDNS's
 * plugin.ClientWrite). When nothing was written through `w` and `rc` is not DROP, write that reply
 * (SERVFAIL for a value that is no rcode); it is the server's reply, so no plugin is named as its
 * author. Idempotent: a written reply is left alone. Returns the rcode of the reply that was sent,
 * or DROP when none is (acl drop). The server calls it after the chain; prometheus, log and
 * rewrite call it first and then read the real rcode and size from `w`.
 */
export function settle(req: Request, w: ResponseWriter, rc: Rcode): Rcode {
  if (w.written) return w.rcode;
  if (rc === DROP) return DROP;
  const rcode = typeof rc === 'number' && rc >= 0 && rc < 4096 ? rc : RCODE.SERVFAIL;
  let x = w;
  while (x instanceof WrappedWriter) x = x.inner;
  if (x instanceof CoreWriter) x.plugin = '';
  w.write(emptyReply(req.wire, req.questionEnd, rcode, 0, req.edns || rcode > 15, req.do));
  return rcode;
}

/**
 * Call `next` with the plugin's own writer `w` and settle what it returns on `w` (an rcode
 * returned without a reply is written through `w`, so the plugin sees that reply too); returns
 * the rcode `next` returned.
 */
export function nextSettled(next: Next, req: Request, w: ResponseWriter): MaybePromise<Rcode> {
  const r = next(req, w);
  if (r instanceof Promise) {
    return r.then((rc: Rcode) => {
      settle(req, w, rc);
      return rc;
    });
  }
  settle(req, w, r);
  return r;
}
