// rewrite cname [MATCH] FROM TO: a CNAME target in the reply that matches is pointed at the new
// target, which is resolved by the plugins below (the writer does that part).
import { NameMatch, parseMatch } from './match.js';
import type { Arg, Mode, Rule, State } from './rule.js';

export class CnameRule implements Rule {
  readonly field = 'cname';
  constructor(
    readonly mode: Mode,
    readonly match: NameMatch,
    readonly to: string,
  ) {}
  apply(s: State): boolean {
    s.addResponse({ owner: [], value: [], cname: true });
    return true;
  }
  /** The new CNAME target, or undefined when the target does not match. */
  target(t: string): string | undefined {
    const m = this.match.match(t);
    if (m === null) return undefined;
    return this.match.replace(t, m, this.to);
  }
}

export function parseCnameRule(mode: Mode, field: Arg, rest: Arg[]): CnameRule {
  const [match, more] = parseMatch(field, rest, 1);
  return new CnameRule(mode, match, more[0]!.text);
}
