// rewrite rcode [MATCH] NAME FROM TO: changes the reply's rcode.
import { rcodeFromName } from '../../src/plugin/api.js';
import { NameMatch, parseMatch } from './match.js';
import { fail, type Arg, type Mode, type Rule, type State } from './rule.js';

class RcodeRule implements Rule {
  readonly field = 'rcode';
  constructor(
    readonly mode: Mode,
    readonly match: NameMatch,
    readonly codes: readonly [number, number],
  ) {}
  apply(s: State): boolean {
    if (this.match.match(s.name) === null) return false;
    s.addResponse({ owner: [], value: [], rcode: this.codes });
    return true;
  }
}

export function parseRcodeRule(mode: Mode, field: Arg, rest: Arg[]): Rule {
  const [match, more] = parseMatch(field, rest, 2);
  return new RcodeRule(mode, match, [rcodeArg(more[0]!), rcodeArg(more[1]!)]);
}

function rcodeArg(a: Arg): number {
  const r = rcodeFromName(a.text);
  if (r === undefined || !((r >= 0 && r <= 10) || (r >= 16 && r <= 23))) throw fail(a, `invalid rcode '${a.text}'`);
  return r;
}
