// rewrite name [exact|prefix|suffix|substring|regex] FROM TO [answer auto | answer name FROM TO |
// answer value FROM TO …]: changes the query name; the answer options map the reply's names back.
import { checkTemplate, compileRegex, KINDS, lowerFqdn, NameMatch, regexMap, type MatchKind } from './match.js';
import { fail, type Arg, type Mode, type NameMap, type Rule, type State } from './rule.js';

class NameRule implements Rule {
  readonly field = 'name';
  constructor(
    readonly mode: Mode,
    readonly match: NameMatch,
    readonly to: string,
    readonly auto: boolean,
    readonly answerName: NameMap[],
    readonly answerValue: NameMap[],
  ) {}

  apply(s: State): boolean {
    const before = s.name;
    const m = this.match.match(before);
    if (m === null) return false;
    const after = this.match.replace(before, m, this.to);
    s.name = after;
    const owner: NameMap[] = [];
    if (this.match.kind === 'exact' || this.auto) owner.push(this.reverse(before, after));
    owner.push(...this.answerName);
    if (owner.length > 0 || this.answerValue.length > 0) s.addResponse({ owner, value: this.answerValue });
    return true;
  }

  /** The `answer auto` map: back from the rewritten name to the one asked. */
  private reverse(before: string, after: string): NameMap {
    const to = this.match.kind === 'suffix' ? (this.to.endsWith('.') ? this.to : this.to + '.').toLowerCase() : this.to.toLowerCase();
    const from = this.match.from;
    switch (this.match.kind) {
      case 'prefix':
        return (n) => (n.startsWith(to) ? lowerFqdn(from + n.slice(to.length)) : undefined);
      case 'suffix':
        return (n) => (n.endsWith(to) ? lowerFqdn(n.slice(0, n.length - to.length) + from) : undefined);
      case 'substring':
        return (n) => (to !== '' && n.includes(to) ? lowerFqdn(n.split(to).join(from)) : undefined);
      default:
        return (n) => (n === after ? before : undefined);
    }
  }
}

/** The name rule's arguments after `name`. */
export function parseNameRule(mode: Mode, field: Arg, rest: Arg[]): Rule {
  let kind: MatchKind = 'exact';
  let i = 0;
  if (rest.length > 0 && KINDS.has(rest[0]!.text)) {
    kind = rest[0]!.text as MatchKind;
    i = 1;
  }
  const from = rest[i];
  const to = rest[i + 1];
  if (from === undefined || to === undefined) throw fail(rest[rest.length - 1] ?? field, `wrong argument count: 'name' takes [MATCH] FROM TO`);
  const match = NameMatch.create(from, kind, from.text);
  if (match.re !== null) checkTemplate(to, match.re, to.text);
  let auto = false;
  const names: NameMap[] = [];
  const values: NameMap[] = [];
  let j = i + 2;
  let first = true;
  while (j < rest.length) {
    let a = rest[j]!;
    if (a.text === 'answer') {
      j++;
      a = rest[j] ?? a;
      if (rest[j] === undefined) throw fail(a, `'answer' needs auto, name FROM TO or value FROM TO`);
    } else if (first) {
      throw fail(a, `unknown option '${a.text}', expected 'answer auto', 'answer name FROM TO' or 'answer value FROM TO'`);
    }
    first = false;
    switch (a.text) {
      case 'auto':
        auto = true;
        j++;
        break;
      case 'name':
      case 'value': {
        const f = rest[j + 1];
        const t = rest[j + 2];
        if (f === undefined || t === undefined) throw fail(a, `'answer ${a.text}' takes FROM TO`);
        const re = compileRegex(f, f.text);
        checkTemplate(t, re, t.text);
        const map = regexMap(re, t.text);
        (a.text === 'name' ? names : values).push(map);
        j += 3;
        break;
      }
      default:
        throw fail(a, `unknown answer option '${a.text}', expected auto, name or value`);
    }
  }
  if (auto && names.length > 0) throw fail(field, `'answer auto' cannot be combined with 'answer name' rules`);
  return new NameRule(mode, match, to.text, auto, names, values);
}

