// Kubernetes label selectors ("environment in (staging, qa),application=nginx,!canary"), as the
// `labels` and `namespace_labels` options take them. Parsed once at config time; matching is a
// loop over a few requirements.

export type Op = 'exists' | '!exists' | '=' | '!=' | 'in' | 'notin' | 'gt' | 'lt';

export interface Requirement {
  readonly key: string;
  readonly op: Op;
  readonly values: readonly string[];
}

export type Selector = readonly Requirement[];

const KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function checkKey(k: string): string {
  if (!KEY.test(k)) throw new Error(`invalid label key '${k}'`);
  return k;
}

function checkValue(v: string): string {
  if (v.length > 63 || !VALUE.test(v)) throw new Error(`invalid label value '${v}'`);
  return v;
}

/** Split at top-level commas (commas inside parentheses belong to a value set). */
function splitTop(expr: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const c of expr) {
    if (c === '(') depth++;
    if (c === ')') depth--;
    if (depth < 0) throw new Error(`unbalanced ')' in '${expr}'`);
    if (c === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (depth !== 0) throw new Error(`unbalanced '(' in '${expr}'`);
  out.push(cur);
  return out;
}

/** Parse a selector; throws an Error with a message on bad syntax. An empty string selects everything. */
export function parseSelector(expr: string): Selector {
  const reqs: Requirement[] = [];
  if (expr.trim() === '') return reqs;
  for (const raw of splitTop(expr)) {
    const part = raw.trim();
    if (part === '') throw new Error(`empty requirement in '${expr}'`);
    let m: RegExpMatchArray | null;
    if ((m = part.match(/^(\S+?)\s+(in|notin)\s*\((.*)\)$/)) !== null) {
      const values = m[3]!.split(',').map((v) => checkValue(v.trim()));
      if (m[3]!.trim() === '') throw new Error(`empty value set for '${m[1]}'`);
      reqs.push({ key: checkKey(m[1]!), op: m[2] as Op, values });
    } else if ((m = part.match(/^([^=!<>\s]+)\s*(==|=|!=|<|>)\s*(\S*)$/)) !== null) {
      const op = m[2] === '==' || m[2] === '=' ? '=' : m[2] === '!=' ? '!=' : m[2] === '>' ? 'gt' : 'lt';
      if ((op === 'gt' || op === 'lt') && !/^-?\d+$/.test(m[3]!)) throw new Error(`'${m[1]}${m[2]}' needs an integer, got '${m[3]}'`);
      reqs.push({ key: checkKey(m[1]!), op, values: [op === 'gt' || op === 'lt' ? m[3]! : checkValue(m[3]!)] });
    } else if ((m = part.match(/^!\s*(\S+)$/)) !== null) {
      reqs.push({ key: checkKey(m[1]!), op: '!exists', values: [] });
    } else if (/^\S+$/.test(part)) {
      reqs.push({ key: checkKey(part), op: 'exists', values: [] });
    } else {
      throw new Error(`cannot parse requirement '${part}'`);
    }
  }
  return reqs;
}

/** True when the labels satisfy every requirement. */
export function selectorMatches(sel: Selector, labels: Readonly<Record<string, string>> | undefined): boolean {
  for (const r of sel) {
    const v = labels?.[r.key];
    switch (r.op) {
      case 'exists':
        if (v === undefined) return false;
        break;
      case '!exists':
        if (v !== undefined) return false;
        break;
      case '=':
        if (v !== r.values[0]) return false;
        break;
      case '!=':
        if (v === r.values[0]) return false;
        break;
      case 'in':
        if (v === undefined || !r.values.includes(v)) return false;
        break;
      case 'notin':
        if (v !== undefined && r.values.includes(v)) return false;
        break;
      case 'gt':
      case 'lt': {
        if (v === undefined || !/^-?\d+$/.test(v)) return false;
        const a = Number(v);
        const b = Number(r.values[0]);
        if (r.op === 'gt' ? !(a > b) : !(a < b)) return false;
        break;
      }
    }
  }
  return true;
}
