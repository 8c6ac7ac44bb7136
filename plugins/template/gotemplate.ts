// A small subset of Go's text/template, enough for CoreDNS template records. Compiled once at parse
// time into a list of parts; executing it is string concatenation.
//
// Supported actions ({{ … }}, with optional {{- and -}} whitespace trimming):
//   .Name .Zone .Class .Type .Remote              strings
//   .Match / index .Match N                       regex groups (0 = whole match)
//   .Group.NAME / index .Group "NAME"             named groups (also "0", "1", … by index)
//   .Question.Name .Question.Qtype .Question.Qclass, .Message.Id, .Message.Question
//   parseInt ARG BASE BITS                        strconv.ParseUint, e.g. parseInt .Group.b 16 8
//   "literal" and numbers as arguments
// Anything else is rejected when the Corefile is parsed.

export interface TemplateData {
  Name: string;
  Zone: string;
  Class: string;
  Type: string;
  Remote: string;
  Match: string[];
  Group: Record<string, string>;
  Question: { Name: string; Qtype: number; Qclass: number };
  Message: { Id: number; Question: Array<{ Name: string; Qtype: number; Qclass: number }> };
}

type Value = string | number | string[] | Record<string, unknown> | unknown[] | undefined;
type Expr = (d: TemplateData) => Value;
type Part = string | Expr;

export class TemplateError extends Error {}

const ROOT_FIELDS = new Set(['Name', 'Zone', 'Class', 'Type', 'Remote', 'Match', 'Group', 'Question', 'Message']);

/** Go's fmt rendering of a value, for the simple shapes we have. */
function show(v: Value): string {
  if (v === undefined) return '<no value>';
  if (Array.isArray(v)) return `[${v.map((x) => show(x as Value)).join(' ')}]`;
  if (typeof v === 'object') {
    const q = v as { Name?: string; Qtype?: number; Qclass?: number };
    if (q.Name !== undefined && q.Qtype !== undefined) return `{${q.Name} ${q.Qtype} ${q.Qclass}}`;
    return `map[${Object.entries(v)
      .map(([k, x]) => `${k}:${show(x as Value)}`)
      .join(' ')}]`;
  }
  return String(v);
}

function tokenize(src: string): string[] {
  const out: string[] = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|`[^`]*`|[^\s()]+|\(|\))/gy;
  let m: RegExpExecArray | null;
  let pos = 0;
  while ((m = re.exec(src)) !== null) {
    out.push(m[1]!);
    pos = re.lastIndex;
  }
  if (src.slice(pos).trim() !== '') throw new TemplateError(`cannot parse '${src.slice(pos).trim()}'`);
  return out;
}

function fieldPath(tok: string): Expr {
  const parts = tok.split('.').slice(1);
  if (parts.length === 0 || parts[0] === '') return (d) => d as unknown as Value;
  if (!ROOT_FIELDS.has(parts[0]!)) throw new TemplateError(`unknown field '${tok}'`);
  return (d) => {
    let cur: unknown = d;
    for (const p of parts) {
      if (cur === null || typeof cur !== 'object') return undefined;
      cur = (cur as Record<string, unknown>)[p];
    }
    return cur as Value;
  };
}

function argument(tok: string): Expr {
  if (tok.startsWith('.')) return fieldPath(tok);
  if (tok.startsWith('"')) {
    const s = JSON.parse(tok) as string;
    return () => s;
  }
  if (tok.startsWith('`')) {
    const s = tok.slice(1, -1);
    return () => s;
  }
  if (/^-?\d+$/.test(tok)) {
    const n = Number(tok);
    return () => n;
  }
  throw new TemplateError(`unexpected '${tok}'`);
}

function compileAction(src: string): Expr {
  const toks = tokenize(src);
  if (toks.length === 0) throw new TemplateError('empty action');
  const [head, ...args] = toks as [string, ...string[]];
  if (head.startsWith('$') || toks.includes('|') || toks.includes(':=') || toks.includes('(')) throw new TemplateError(`unsupported template syntax '${src.trim()}'`);
  switch (head) {
    case 'index': {
      if (args.length < 2) throw new TemplateError(`'index' needs a collection and at least one key`);
      const coll = argument(args[0]!);
      const keys = args.slice(1).map(argument);
      return (d) => {
        let cur: unknown = coll(d);
        for (const k of keys) {
          const key = k(d);
          if (Array.isArray(cur)) {
            if (typeof key !== 'number' || key < 0 || key >= cur.length) throw new TemplateError(`index out of range: ${String(key)}`);
            cur = cur[key];
          } else if (cur !== null && typeof cur === 'object') cur = (cur as Record<string, unknown>)[String(key)];
          else throw new TemplateError(`cannot index ${show(cur as Value)}`);
        }
        return cur as Value;
      };
    }
    case 'parseInt': {
      if (args.length !== 3) throw new TemplateError(`'parseInt' takes VALUE BASE BITS`);
      const [v, b, s] = args.map(argument) as [Expr, Expr, Expr];
      return (d) => {
        const text = String(v(d) ?? '');
        const base = Number(b(d));
        const bits = Number(s(d));
        const digits = '0123456789abcdefghijklmnopqrstuvwxyz'.slice(0, base);
        if (text === '' || !new RegExp(`^[${digits}]+$`, 'i').test(text)) throw new TemplateError(`parseInt: invalid syntax '${text}'`);
        const n = parseInt(text, base);
        if (bits > 0 && bits < 53 && n >= 2 ** bits) throw new TemplateError(`parseInt: value out of range '${text}'`);
        return n;
      };
    }
    default:
      if (args.length > 0) throw new TemplateError(`unsupported function or arguments in '${src.trim()}'`);
      return argument(head);
  }
}

export interface CompiledTemplate {
  readonly source: string;
  execute(d: TemplateData): string;
}

/** Compile a template string; throws TemplateError on syntax it does not support. */
export function compileTemplate(source: string): CompiledTemplate {
  const parts: Part[] = [];
  let pos = 0;
  let trimNext = false;
  while (pos < source.length) {
    const open = source.indexOf('{{', pos);
    let text = open < 0 ? source.slice(pos) : source.slice(pos, open);
    if (trimNext) text = text.replace(/^\s+/, '');
    trimNext = false;
    if (open < 0) {
      if (text) parts.push(text);
      break;
    }
    const close = source.indexOf('}}', open + 2);
    if (close < 0) throw new TemplateError(`unclosed action in '${source}'`);
    let inner = source.slice(open + 2, close);
    if (inner.startsWith('-') && /\s/.test(inner[1] ?? '')) {
      text = text.replace(/\s+$/, '');
      inner = inner.slice(1);
    }
    if (inner.endsWith('-') && /\s/.test(inner[inner.length - 2] ?? '')) {
      trimNext = true;
      inner = inner.slice(0, -1);
    }
    if (text) parts.push(text);
    if (!inner.trim().startsWith('/*')) parts.push(compileAction(inner));
    pos = close + 2;
  }
  return {
    source,
    execute(d) {
      let s = '';
      for (const p of parts) s += typeof p === 'string' ? p : show(p(d));
      return s;
    },
  };
}
