// rewrite's rules: parsed from the directive's arguments (one rule per `rewrite` line; the lines
// of a `rewrite { … }` block are joined into one rule, as CoreDNS does), then applied in Corefile
// order to a per-query State. Request-side rules change the State; response-side rules (answer
// name/value, ttl, rcode, cname) add a ResponseRule that the writer applies to the reply.
import { CorefileError, fqdn, rcodeFromName, typeFromName, typeName } from '../../src/plugin/api.js';
import type { Request } from '../../src/plugin/api.js';
import { EdnsOp, type OptState } from './edns.js';

/** One argument with where it came from (the block form joins lines, errors still name the right line). */
export interface Arg {
  readonly text: string;
  readonly file: string;
  readonly line: number;
}

export const fail = (a: Arg, msg: string): CorefileError => new CorefileError(a.file, a.line, `plugin/rewrite: ${msg}`);

export type Mode = 'stop' | 'continue';
export type MatchKind = 'exact' | 'prefix' | 'suffix' | 'substring' | 'regex';
const KINDS = new Set<string>(['exact', 'prefix', 'suffix', 'substring', 'regex']);
export const MAX_REGEX = 10_000;

/** Map a (lower-case, fully qualified) name to another, or undefined when it does not apply. */
export type NameMap = (name: string) => string | undefined;

/** What a matched rule asks the writer to do to the reply. */
export interface ResponseRule {
  /** Applied to owner names (answer, authority, additional). */
  owner: NameMap[];
  /** Applied to names inside record data (CNAME, DNAME, NS, PTR, MX, SRV, SOA, NAPTR). */
  value: NameMap[];
  ttl?: readonly [number, number];
  rcode?: readonly [number, number];
  cname?: NameMatch;
}

/** The question as the rules have left it so far. */
export class State {
  name: string;
  qtype: number;
  qclass: number;
  opt: OptState | null = null;
  resp: ResponseRule[] | null = null;
  constructor(readonly req: Request) {
    this.name = req.name;
    this.qtype = req.qtype;
    this.qclass = req.qclass;
  }
  addResponse(r: ResponseRule): void {
    (this.resp ??= []).push(r);
  }
}

export interface Rule {
  readonly mode: Mode;
  /** True when the rule matched (and changed the state). */
  apply(s: State): boolean;
  readonly field: string;
}

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

const lowerFqdn = (s: string): string => fqdn(s);

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

  toJSON(): unknown {
    return { kind: this.kind, from: this.from };
  }
}
const EMPTY: string[] = [];

/** A regex + template map used by `answer name` and `answer value`. */
function regexMap(re: RegExp, to: string): NameMap {
  return (name) => {
    const m = re.exec(name);
    return m === null ? undefined : lowerFqdn(expand(to, m));
  };
}

// ---------------------------------------------------------------------------------------------

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
    let after: string;
    const from = this.match.from;
    switch (this.match.kind) {
      case 'exact':
        after = lowerFqdn(this.to);
        break;
      case 'prefix':
        after = lowerFqdn(this.to + before.slice(from.length));
        break;
      case 'suffix':
        after = lowerFqdn(before.slice(0, before.length - from.length) + this.to);
        break;
      case 'substring':
        after = lowerFqdn(before.split(from).join(this.to));
        break;
      case 'regex':
        after = lowerFqdn(expand(this.to, m));
        break;
    }
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

class CnameRule implements Rule {
  readonly field = 'cname';
  constructor(
    readonly mode: Mode,
    readonly match: NameMatch,
    readonly to: string,
  ) {}
  apply(s: State): boolean {
    s.addResponse({ owner: [], value: [], cname: this.match });
    return true;
  }
  /** The new CNAME target, or undefined when the target does not match. */
  target(t: string): string | undefined {
    const m = this.match.match(t);
    if (m === null) return undefined;
    const from = this.match.from;
    switch (this.match.kind) {
      case 'exact':
        return lowerFqdn(this.to);
      case 'prefix':
        return lowerFqdn(this.to + t.slice(from.length));
      case 'suffix':
        return lowerFqdn(t.slice(0, t.length - from.length) + this.to);
      case 'substring':
        return lowerFqdn(t.split(from).join(this.to));
      case 'regex':
        return lowerFqdn(expand(this.to, m));
    }
  }
}

class Edns0Rule implements Rule {
  readonly field = 'edns0';
  constructor(
    readonly mode: Mode,
    readonly op: EdnsOp,
  ) {}
  apply(s: State): boolean {
    return this.op.apply(s);
  }
}

export { CnameRule };

// ---------------------------------------------------------------------------------------------

/** Parse one rule from its arguments (mode already taken off). `at` names the directive for errors. */
export function parseRule(mode: Mode, args: Arg[], at: Arg): Rule {
  const field = args[0];
  if (field === undefined) throw fail(at, 'wrong argument count or unexpected line ending: a rule needs a FIELD');
  const rest = args.slice(1);
  switch (field.text) {
    case 'name':
      return parseName(mode, field, rest);
    case 'type': {
      if (rest.length !== 2) throw fail(field, `'type' takes FROM TO, got ${rest.length} arguments`);
      const from = typeFromName(rest[0]!.text);
      const to = typeFromName(rest[1]!.text);
      if (from === undefined) throw fail(rest[0]!, `invalid type '${rest[0]!.text}'`);
      if (to === undefined) throw fail(rest[1]!, `invalid type '${rest[1]!.text}'`);
      return new TypeRule(mode, from, to);
    }
    case 'class': {
      if (rest.length !== 2) throw fail(field, `'class' takes FROM TO, got ${rest.length} arguments`);
      const from = classFromName(rest[0]!);
      const to = classFromName(rest[1]!);
      return new ClassRule(mode, from, to);
    }
    case 'ttl': {
      const [match, more] = parseMatch(field, rest, 1);
      const spec = more[0]!;
      return new TtlRule(mode, match, parseTtl(spec));
    }
    case 'rcode': {
      const [match, more] = parseMatch(field, rest, 2);
      const from = rcodeArg(more[0]!);
      const to = rcodeArg(more[1]!);
      return new RcodeRule(mode, match, [from, to]);
    }
    case 'cname': {
      const [match, more] = parseMatch(field, rest, 1);
      return new CnameRule(mode, match, more[0]!.text);
    }
    case 'edns0':
      return new Edns0Rule(mode, EdnsOp.parse(field, rest));
    default:
      throw fail(field, `invalid field '${field.text}', expected name, type, class, edns0, ttl, rcode or cname`);
  }
}

/** [exact|prefix|suffix|substring|regex] STRING then exactly `n` more arguments. */
function parseMatch(field: Arg, rest: Arg[], n: number): [NameMatch, Arg[]] {
  let kind: MatchKind = 'exact';
  let i = 0;
  if (rest.length === n + 2 && KINDS.has(rest[0]!.text)) {
    kind = rest[0]!.text as MatchKind;
    i = 1;
  }
  if (rest.length - i !== n + 1) throw fail(rest[rest.length - 1] ?? field, `wrong argument count for '${field.text}' rule`);
  return [NameMatch.create(rest[i]!, kind, rest[i]!.text), rest.slice(i + 1)];
}

function parseName(mode: Mode, field: Arg, rest: Arg[]): Rule {
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

function rcodeArg(a: Arg): number {
  const r = rcodeFromName(a.text);
  if (r === undefined || !((r >= 0 && r <= 10) || (r >= 16 && r <= 23))) throw fail(a, `invalid rcode '${a.text}'`);
  return r;
}

const MAX_TTL = 2 ** 31 - 1;

/** SECONDS, MIN-MAX, -MAX or MIN-. */
export function parseTtl(a: Arg): readonly [number, number] {
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
