// The trace of one explained query (`typedns explain`, the explain plugin): which plugins the query
// entered, in order, what each noted, what each returned and how long it took. A request carries
// one only when it is being explained; everywhere else `req.trace` is undefined and the chain's
// traced path is never taken (one branch per hop).
import { performance } from 'node:perf_hooks';
import type { ResponseWriter, Trace } from './types.js';
import { DROP, rcodeName } from '../dns/constants.js';

/** One line of a trace. */
export interface TraceStep {
  /** Milliseconds since the trace began. */
  readonly t: number;
  /** The plugin the step belongs to ('' for routing, before any plugin). */
  readonly plugin: string;
  /** Nesting: 0 for routing and the first plugin, one more for each plugin entered from another. */
  readonly depth: number;
  readonly kind: 'enter' | 'note' | 'exit';
  readonly text: string;
  /** exit: milliseconds spent in the plugin (the plugins it passed to included). */
  readonly ms?: number;
  /** exit: the rcode the plugin returned (its name), or 'threw'. */
  readonly rcode?: string;
  /** exit: the plugin called the next one. */
  readonly passed?: boolean;
  /** exit: the plugin (not one below it) wrote the reply. */
  readonly wrote?: boolean;
}

interface Frame {
  readonly plugin: string;
  readonly start: number;
  readonly index: number;
  passed: boolean;
}

/** The tracer the core puts on an explained request. */
export class QueryTrace implements Trace {
  readonly steps: TraceStep[] = [];
  private readonly t0 = performance.now();
  private readonly stack: Frame[] = [];
  /** Who notes made outside any plugin belong to ('' = routing). */
  phase = '';

  private now(): number {
    return round(performance.now() - this.t0);
  }

  note(text: string, plugin?: string): void {
    let depth = this.stack.length;
    let who = this.stack[depth - 1]?.plugin ?? this.phase;
    if (plugin !== undefined && plugin !== who) {
      // a wrapper noting while a plugin below it runs: shown at its own depth, as it sees the reply go back
      let at = this.stack.length - 1;
      while (at >= 0 && this.stack[at]!.plugin !== plugin) at--;
      who = plugin;
      if (at >= 0) depth = at + 1;
    }
    this.steps.push({ t: this.now(), plugin: who, depth, kind: 'note', text });
  }

  /** The chain enters `plugin`'s serve (called by chain.ts). */
  enter(plugin: string): Frame {
    const top = this.stack[this.stack.length - 1];
    if (top !== undefined) top.passed = true;
    const f: Frame = { plugin, start: performance.now(), index: this.steps.length, passed: false };
    this.steps.push({ t: this.now(), plugin, depth: this.stack.length, kind: 'enter', text: 'entered' });
    this.stack.push(f);
    return f;
  }

  /** `plugin`'s serve returned `rc` (or threw, rc undefined); `w` is the writer it was given. */
  exit(f: Frame, rc: unknown, w: ResponseWriter, before: boolean): void {
    const i = this.stack.lastIndexOf(f);
    if (i >= 0) this.stack.length = i;
    const ms = round(performance.now() - f.start);
    const rcode = rc === undefined ? 'threw' : rc === DROP ? 'DROP (no reply)' : typeof rc === 'number' ? rcodeName(rc) : String(rc);
    // The plugin wrote the reply when the writer was written during its call and not by a plugin it passed to.
    const wrote = !before && w.written && !f.passed;
    let text: string;
    if (wrote) text = `wrote the reply (${rcodeName(w.rcode)})`;
    else if (f.passed && !before && w.written) text = `passed to next; the reply came back (${rcodeName(w.rcode)})`;
    else if (f.passed) text = `passed to next; returned ${rcode}`;
    else if (rc === undefined) text = 'threw';
    else text = `returned ${rcode} without writing`;
    this.steps.push({ t: this.now(), plugin: f.plugin, depth: this.stack.length, kind: 'exit', text, ms, rcode, passed: f.passed, wrote });
  }
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;
