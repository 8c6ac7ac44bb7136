// rewrite ttl [MATCH] NAME SECONDS|MIN-MAX: sets (or bounds) the TTLs of the reply's records.
import { NameMatch, parseMatch } from './match.js';
import { fail, type Arg, type Mode, type Rule, type State } from './rule.js';

class TtlRule implements Rule {
  readonly field = 'ttl';
  constructor(
    readonly mode: Mode,
    readonly match: NameMatch,
    readonly range: readonly [number, number],
  ) {}
  apply(s: State): boolean {
    if (this.match.match(s.name) === null) return false;
    s.addResponse({ owner: [], value: [], ttl: this.range });
    return true;
  }
}

export function parseTtlRule(mode: Mode, field: Arg, rest: Arg[]): Rule {
  const [match, more] = parseMatch(field, rest, 1);
  return new TtlRule(mode, match, ttlRange(more[0]!));
}

const MAX_TTL = 2 ** 31 - 1;

/** SECONDS, MIN-MAX, -MAX or MIN-. */
export function ttlRange(a: Arg): readonly [number, number] {
  const m = /^(\d+)?(-)?(\d+)?$/.exec(a.text);
  if (m === null || a.text === '' || a.text === '-' || (m[2] === undefined && m[3] !== undefined)) throw fail(a, `invalid TTL '${a.text}', expected SECONDS, MIN-MAX, -MAX or MIN-`);
  if (m[2] === undefined) {
    const v = Number(m[1]);
    if (v > MAX_TTL) throw fail(a, `TTL '${a.text}' is too large`);
    return [v, v];
  }
  const min = m[1] === undefined ? 0 : Number(m[1]);
  const max = m[3] === undefined ? MAX_TTL : Number(m[3]);
  if (min > MAX_TTL || max > MAX_TTL) throw fail(a, `TTL '${a.text}' is too large`);
  if (min > max) throw fail(a, `invalid TTL range '${a.text}': MIN is larger than MAX`);
  return [min, max];
}
