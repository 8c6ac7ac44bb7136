// The chain: one `next` per position, bound once when the block is compiled, never per query.
import type { Next, Plugin, Rcode, Request, ResponseWriter } from './types.js';
import type { Logger } from '../observe/log.js';
import { RCODE } from '../dns/constants.js';

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
    const serve = p.serve;
    if (serve === undefined) continue;
    const after = next;
    next = (req: Request, w: ResponseWriter) => serve.call(p, req, w, after);
  }
  return next;
}
