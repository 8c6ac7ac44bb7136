// rewrite class FROM TO: changes the query class (IN, CH, HS).
import { fail, type Arg, type Mode, type Rule, type State } from './rule.js';

class ClassRule implements Rule {
  readonly field = 'class';
  constructor(
    readonly mode: Mode,
    readonly from: number,
    readonly to: number,
  ) {}
  apply(s: State): boolean {
    if (s.qclass !== this.from) return false;
    s.qclass = this.to;
    return true;
  }
}

export function parseClassRule(mode: Mode, field: Arg, rest: Arg[]): Rule {
  if (rest.length !== 2) throw fail(field, `'class' takes FROM TO, got ${rest.length} arguments`);
  return new ClassRule(mode, classFromName(rest[0]!), classFromName(rest[1]!));
}

function classFromName(a: Arg): number {
  switch (a.text.toUpperCase()) {
    case 'IN':
      return 1;
    case 'CH':
      return 3;
    case 'HS':
      return 4;
    default:
      throw fail(a, `invalid class '${a.text}', expected IN, CH or HS`);
  }
}
