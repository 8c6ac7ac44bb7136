// rewrite's handler: applies the rules in Corefile order to a per-query State (a matching `stop`
// rule, the default, ends the list), hands the plugins below a request with the new question and
// OPT, and maps their reply back through a RewriteWriter. A query no rule matches costs the rule
// checks and nothing else: the writer is only made when a rule matched.
import { RCODE, encodeName, settle, typeName } from '../../src/plugin/api.js';
import type { Logger, MaybePromise, Next, Rcode, Request, ResponseWriter } from '../../src/plugin/api.js';
import { CnameRule } from './cname.js';
import { State, type Rule } from './rule.js';
import { RewriteWriter } from './writer.js';

/** Each rule as written, "file:line rule…", for explained queries (set by the parser). */
export const ruleText = new WeakMap<Rule, string>();

function ruleNote(rule: Rule, hit: boolean, name: string, qtype: number, s: State, answers: number): string {
  const what = `rule ${ruleText.get(rule) ?? rule.field}`;
  if (!hit) return `${what}: no match`;
  const changes: string[] = [];
  if (s.name !== name) changes.push(`name ${name} → ${s.name}`);
  if (s.qtype !== qtype) changes.push(`type ${typeName(qtype)} → ${typeName(s.qtype)}`);
  if ((s.resp?.length ?? 0) > answers) changes.push('the answer will be rewritten back');
  return `${what}: matched${changes.length > 0 ? `, ${changes.join(', ')}` : ''}${rule.mode === 'stop' ? ' (stop)' : ' (continue)'}`;
}

export class Rewrite {
  private readonly cnameRules: CnameRule[];

  constructor(
    private readonly rules: Rule[],
    private readonly log: Logger,
  ) {
    this.cnameRules = rules.filter((r): r is CnameRule => r instanceof CnameRule);
  }

  serve(req: Request, w: ResponseWriter, next: Next): MaybePromise<Rcode> {
    let s: State | null = null;
    const t = req.trace;
    for (const rule of this.rules) {
      s ??= new State(req);
      const name = s.name;
      const qtype = s.qtype;
      const answers = s.resp?.length ?? 0;
      const hit = rule.apply(s);
      if (t !== undefined) t.note(ruleNote(rule, hit, name, qtype, s, answers));
      if (hit && rule.mode === 'stop') break;
    }
    if (s === null || (s.name === req.name && s.qtype === req.qtype && s.qclass === req.qclass && s.opt?.changed !== true && s.resp === null)) {
      return next(req, w);
    }
    let nreq: Request = req;
    try {
      if (s.name !== req.name) {
        // an empty label (example..org.) is illegal; encodeName throws on other illegal names
        if (s.name !== '.' && (s.name.startsWith('.') || s.name.includes('..'))) throw new Error('empty label');
        encodeName(s.name);
      }
      if (s.name !== req.name || s.qtype !== req.qtype || s.qclass !== req.qclass) {
        nreq = req.withQuestion(s.name === req.name ? req.qname : s.name, s.qtype, s.qclass);
      }
      if (s.opt?.changed === true) nreq = nreq.withOpt(s.opt);
    } catch (e) {
      this.log.debug(`rewrite of ${req.name} to ${s.name} failed: ${(e as Error).message}`);
      return RCODE.SERVFAIL;
    }
    const resp = s.resp === null ? [] : s.resp.slice().reverse();
    const usedCname = resp.some((r) => r.cname !== undefined) ? this.cnameRules : [];
    const rw = new RewriteWriter(w, resp, nreq, usedCname, next);
    const hasRcode = resp.some((r) => r.rcode !== undefined);
    const after = (rc: Rcode): MaybePromise<Rcode> => {
      // the plugin below returned an rcode without writing: settle it here so rcode rules see it
      if (!rw.written && rw.pending === null && hasRcode) settle(nreq, rw, rc);
      if (rw.pending !== null) return rw.pending.then(() => rc);
      return rc;
    };
    const r = next(nreq, rw);
    return r instanceof Promise ? r.then(after) : after(r);
  }
}
