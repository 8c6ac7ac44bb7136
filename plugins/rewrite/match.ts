// Name matching shared by the name, ttl, rcode and cname rules: exact, prefix, suffix, substring
// or regex (Go RE2 syntax), the replacement of what matched, and the `[MATCH] NAME …` argument form.
import { fqdn } from '../../src/plugin/api.js';
import { fail, type Arg, type NameMap } from './rule.js';

export type MatchKind = 'exact' | 'prefix' | 'suffix' | 'substring' | 'regex';
export const KINDS = new Set<string>(['exact', 'prefix', 'suffix', 'substring', 'regex']);
export const MAX_REGEX = 10_000;

/** Compile a regex written in Go (RE2) syntax: (?P<name>…) becomes (?<name>…). */
export function compileRegex(a: Arg, src: string): RegExp {
  if (src.length > MAX_REGEX) throw fail(a, `regex is too long (${src.length} characters, at most ${MAX_REGEX})`);
  try {
    return new RegExp(src.replace(/\(\?P</g, '(?<'));
  } catch (e) {
    throw fail(a, `invalid regex '${src}': ${(e as Error).message}`);
  }
}

/** CoreDNS's check: a template may use no more distinct {N} placeholders than the regex has groups. */
export function checkTemplate(a: Arg, re: RegExp, template: string): void {
  const groups = new RegExp(`${re.source}|`).exec('')!.length - 1;
  const used = new Set(template.match(/\{\d+\}/g) ?? []).size;
  if (used > groups) throw fail(a, `the template '${template}' uses more groups than the regex '${re.source}' has (${groups})`);
}

/** Replace {0}, {1}, … in a template with regex groups. */
export function expand(template: string, groups: ArrayLike<string | undefined>): string {
  return template.replace(/\{(\d+)\}/g, (all, n: string) => {
    const i = Number(n);
    return i < groups.length ? (groups[i] ?? '') : all;
  });
}

export const lowerFqdn = (s: string): string => fqdn(s);

/** exact | prefix | suffix | substring | regex match of a name. */
export class NameMatch {
  private constructor(
    readonly kind: MatchKind,
    readonly from: string,
    readonly re: RegExp | null,
  ) {}

  static create(a: Arg, kind: MatchKind, from: string): NameMatch {
    switch (kind) {
      case 'exact':
        return new NameMatch(kind, lowerFqdn(from), null);
      case 'suffix':
        return new NameMatch(kind, from.toLowerCase().endsWith('.') ? from.toLowerCase() : from.toLowerCase() + '.', null);
      case 'regex':
        return new NameMatch(kind, from, compileRegex(a, from));
      default:
        return new NameMatch(kind, from.toLowerCase(), null);
    }
  }

  /** The regex groups (regex), [] (other kinds), or null when the name does not match. */
  match(name: string): RegExpExecArray | string[] | null {
    switch (this.kind) {
      case 'exact':
        return name === this.from ? EMPTY : null;
      case 'prefix':
        return name.startsWith(this.from) ? EMPTY : null;
      case 'suffix':
        return name.endsWith(this.from) ? EMPTY : null;
      case 'substring':
        return name.includes(this.from) ? EMPTY : null;
      case 'regex':
        return this.re!.exec(name);
    }
  }

  /** `name`, which matched (giving `m`), with what matched replaced by `to` (a regex: `to` with {N} expanded). */
  replace(name: string, m: RegExpExecArray | string[], to: string): string {
    const from = this.from;
    switch (this.kind) {
      case 'exact':
        return lowerFqdn(to);
      case 'prefix':
        return lowerFqdn(to + name.slice(from.length));
      case 'suffix':
        return lowerFqdn(name.slice(0, name.length - from.length) + to);
      case 'substring':
        return lowerFqdn(name.split(from).join(to));
      case 'regex':
        return lowerFqdn(expand(to, m));
    }
  }

  toJSON(): unknown {
    return { kind: this.kind, from: this.from };
  }
}
const EMPTY: string[] = [];

/** A regex + template map used by `answer name` and `answer value`. */
export function regexMap(re: RegExp, to: string): NameMap {
  return (name) => {
    const m = re.exec(name);
    return m === null ? undefined : lowerFqdn(expand(to, m));
  };
}

/** [exact|prefix|suffix|substring|regex] STRING then exactly `n` more arguments. */
export function parseMatch(field: Arg, rest: Arg[], n: number): [NameMatch, Arg[]] {
  let kind: MatchKind = 'exact';
  let i = 0;
  if (rest.length === n + 2 && KINDS.has(rest[0]!.text)) {
    kind = rest[0]!.text as MatchKind;
    i = 1;
  }
  if (rest.length - i !== n + 1) throw fail(rest[rest.length - 1] ?? field, `wrong argument count for '${field.text}' rule`);
  return [NameMatch.create(rest[i]!, kind, rest[i]!.text), rest.slice(i + 1)];
}

