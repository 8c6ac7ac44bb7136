// rewrite: changes the question (name, type, class, EDNS0 options) before the plugins below see it,
// and maps their reply back (answer auto/name/value, ttl, rcode, cname). Rules apply in Corefile
// order; a matching `stop` rule (the default) ends the list. A query no rule matches costs the rule
// checks and nothing else: the wrapper writer is only made when a rule matched.
import { definePlugin, RCODE, encodeName, settle, typeName } from '../../src/plugin/api.js';
import type { Dispenser, MaybePromise, Rcode, Request } from '../../src/plugin/api.js';
import { CnameRule, fail, parseRule, State, type Arg, type Mode, type Rule } from './rules.js';
import { withWire, writeOpt } from './edns.js';
import { RewriteWriter } from './writer.js';

export interface RewriteConfig {
  rules: Rule[];
}

/** Each rule as written, "file:line rule…", for explained queries. */
const ruleText = new WeakMap<Rule, string>();

function ruleNote(rule: Rule, hit: boolean, name: string, qtype: number, s: State, answers: number): string {
  const what = `rule ${ruleText.get(rule) ?? rule.field}`;
  if (!hit) return `${what}: no match`;
  const changes: string[] = [];
  if (s.name !== name) changes.push(`name ${name} → ${s.name}`);
  if (s.qtype !== qtype) changes.push(`type ${typeName(qtype)} → ${typeName(s.qtype)}`);
  if ((s.resp?.length ?? 0) > answers) changes.push('the answer will be rewritten back');
  return `${what}: matched${changes.length > 0 ? `, ${changes.join(', ')}` : ''}${rule.mode === 'stop' ? ' (stop)' : ' (continue)'}`;
}

function argOf(d: Dispenser): Arg {
  const t = d.token();
  return { text: d.val(), file: t?.file ?? 'Corefile', line: t?.line ?? 0 };
}

export default definePlugin<RewriteConfig>({
  name: 'rewrite',
  api: '^1',
  parse(d) {
    const rules: Rule[] = [];
    while (d.next()) {
      const at = argOf(d);
      const args: Arg[] = [];
      while (d.nextArg()) args.push(argOf(d));
      let mode: Mode = 'stop';
      if (args[0]?.text === 'continue' || args[0]?.text === 'stop') mode = args.shift()!.text as Mode;
      if (args.length === 0) {
        // block form: the lines of the block make one rule (name … answer name … answer value …)
        let lines = 0;
        while (d.nextBlock()) {
          const first = argOf(d);
          // As in CoreDNS, a block of several lines is one `name` rule followed by `answer` lines.
          // (A block of one line may hold any rule: a typedns extension.)
          if (lines === 1 && args[0]!.text !== 'name') throw fail(args[0]!, `a rewrite block of several lines must begin with a name rule, got '${args[0]!.text}'`);
          if (lines > 0 && first.text !== 'answer') throw fail(first, `unexpected trailing arguments for the name rule: '${first.text}' (only 'answer' lines may follow)`);
          lines++;
          args.push(first);
          while (d.nextArg()) args.push(argOf(d));
        }
        if (args.length === 0) throw fail(at, 'wrong argument count or unexpected line ending: no rule given');
      } else if (d.nextBlock()) {
        throw d.err(`unexpected block after a one-line rule`);
      }
      const rule = parseRule(mode, args, at);
      ruleText.set(rule, `${at.file}:${at.line} ${mode === 'stop' ? '' : 'continue '}${args.map((a) => a.text).join(' ')}`);
      rules.push(rule);
    }
    return { rules };
  },
  setup(cfg, ctx) {
    const rules = cfg.rules;
    const cnameRules = rules.filter((r): r is CnameRule => r instanceof CnameRule);
    return {
      serve(req, w, next) {
        let s: State | null = null;
        const t = req.trace;
        for (const rule of rules) {
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
          if (s.name !== req.name || s.qtype !== req.qtype || s.qclass !== req.qclass || s.opt?.changed === true) {
            nreq = req.withQuestion(s.name === req.name ? req.qname : s.name, s.qtype, s.qclass);
          }
          if (s.opt?.changed === true) nreq = withWire(nreq, writeOpt(nreq, s.opt), s.opt);
        } catch (e) {
          ctx.log.debug(`rewrite of ${req.name} to ${s.name} failed: ${(e as Error).message}`);
          return RCODE.SERVFAIL;
        }
        const resp = s.resp === null ? [] : s.resp.slice().reverse();
        const usedCname = resp.some((r) => r.cname !== undefined) ? cnameRules : [];
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
      },
    };
  },
});
