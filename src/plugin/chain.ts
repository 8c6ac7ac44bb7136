// The chain: one `next` per position, bound once when the block is compiled, never per query.
import type { Next, Plugin, Rcode, Request, ResponseWriter } from './types.js';
import type { Logger } from '../observe/log.js';
import { RCODE } from '../dns/constants.js';
import { CoreWriter } from '../request/writer.js';
import { WrappedWriter } from './wrapped-writer.js';

export interface ChainLink {
  readonly name: string;
  readonly plugin: Plugin;
}

/** Build the entry point of a chain. The terminal `next` logs "no next plugin" and returns SERVFAIL without writing. */
export function compileChain(links: readonly ChainLink[], log: Logger): Next {
  const terminal: Next = (req: Request): Rcode => {
    log.debug(`no next plugin found for ${req.name}`);
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
      return serve.call(p, req, w, after);
    };
  }
  return next;
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
