// rewrite's setup: the Corefile's `rewrite` lines (one rule per line; the lines of a `rewrite { … }`
// block are joined into one rule, as CoreDNS does), each parsed by its rule kind's file (name.ts,
// type.ts, class.ts, ttl.ts, rcode.ts, cname.ts, edns0.ts), and the handler (rewrite.ts) made from them.
import { definePlugin, type Dispenser } from '../../src/plugin/api.js';
import { parseClassRule } from './class.js';
import { parseCnameRule } from './cname.js';
import { parseEdns0Rule } from './edns0.js';
import { parseNameRule } from './name.js';
import { parseRcodeRule } from './rcode.js';
import { Rewrite, ruleText } from './rewrite.js';
import { fail, type Arg, type Mode, type Rule } from './rule.js';
import { parseTtlRule } from './ttl.js';
import { parseTypeRule } from './type.js';

export interface RewriteConfig {
  rules: Rule[];
}

function argOf(d: Dispenser): Arg {
  const t = d.token();
  return { text: d.val(), file: t?.file ?? 'Corefile', line: t?.line ?? 0 };
}

/** Parse one rule from its arguments (mode already taken off). `at` names the directive for errors. */
export function parseRule(mode: Mode, args: Arg[], at: Arg): Rule {
  const field = args[0];
  if (field === undefined) throw fail(at, 'wrong argument count or unexpected line ending: a rule needs a FIELD');
  const rest = args.slice(1);
  switch (field.text) {
    case 'name':
      return parseNameRule(mode, field, rest);
    case 'type':
      return parseTypeRule(mode, field, rest);
    case 'class':
      return parseClassRule(mode, field, rest);
    case 'ttl':
      return parseTtlRule(mode, field, rest);
    case 'rcode':
      return parseRcodeRule(mode, field, rest);
    case 'cname':
      return parseCnameRule(mode, field, rest);
    case 'edns0':
      return parseEdns0Rule(mode, field, rest);
    default:
      throw fail(field, `invalid field '${field.text}', expected name, type, class, edns0, ttl, rcode or cname`);
  }
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
    const h = new Rewrite(cfg.rules, ctx.log);
    return { serve: (req, w, next) => h.serve(req, w, next) };
  },
});
