// view: parse `view NAME { expr EXPRESSION … }` into a name and compiled expressions.
import type { Dispenser, Request } from '../../src/plugin/api.js';
import { compileExpr, ExprError, type Value } from './expr.js';

export interface ViewConfig {
  name: string;
  /** Every `expr` line, compiled; all must be true for the block to serve a query. */
  exprs: Array<{ text: string; fn: (req: Request) => Value }>;
}

export function parseView(d: Dispenser): ViewConfig {
  d.next();
  const args = d.remainingArgs();
  if (args.length !== 1) throw d.argErr();
  const cfg: ViewConfig = { name: args[0]!, exprs: [] };
  while (d.nextBlock()) {
    if (d.val() !== 'expr') throw d.unknownProperty();
    const words = d.remainingArgs();
    if (words.length === 0) throw d.argErr();
    const text = words.join(' ');
    try {
      cfg.exprs.push({ text, fn: compileExpr(text) });
    } catch (e) {
      if (e instanceof ExprError) throw d.err(`invalid expression '${text}': ${e.message}`);
      throw e;
    }
  }
  return cfg;
}
