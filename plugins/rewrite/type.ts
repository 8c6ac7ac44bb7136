// rewrite type FROM TO: changes the query type.
import { typeFromName, typeName } from '../../src/plugin/api.js';
import { fail, type Arg, type Mode, type Rule, type State } from './rule.js';

class TypeRule implements Rule {
  readonly field = 'type';
  constructor(
    readonly mode: Mode,
    readonly from: number,
    readonly to: number,
  ) {}
  apply(s: State): boolean {
    if (s.qtype !== this.from) return false;
    s.qtype = this.to;
    return true;
  }
  toJSON(): unknown {
    return { field: this.field, mode: this.mode, from: typeName(this.from), to: typeName(this.to) };
  }
}

export function parseTypeRule(mode: Mode, field: Arg, rest: Arg[]): Rule {
  if (rest.length !== 2) throw fail(field, `'type' takes FROM TO, got ${rest.length} arguments`);
  const from = typeFromName(rest[0]!.text);
  const to = typeFromName(rest[1]!.text);
  if (from === undefined) throw fail(rest[0]!, `invalid type '${rest[0]!.text}'`);
  if (to === undefined) throw fail(rest[1]!, `invalid type '${rest[1]!.text}'`);
  return new TypeRule(mode, from, to);
}
