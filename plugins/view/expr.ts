// The expression language of view's `expr` lines: the part of expr-lang (the library CoreDNS
// uses) that routing needs, compiled once to closures over the request. Literals (numbers,
// 'strings', "strings", true, false, nil, [arrays]), the query functions (name(), type(),
// client_ip(), …) and incidr()/metadata(), unary ! not - +, arithmetic + - * / %, comparisons
// == != < > <= >=, in / not in, matches, contains, startsWith, endsWith, && and, || or, and
// c ? a : b. Precedence follows expr-lang: ?: < or < and < comparisons < + - < * / % < unary.
// A name or function that does not exist, a wrong argument count or a bad regex is an error
// at parse time; an error while evaluating (incidr of something that is no address) makes the
// expression false, as CoreDNS's view does.
import net from 'node:net';
import { className, parseCidr, cidrContains, metadataValue, typeName, type Request } from '../../src/plugin/api.js';

export type Value = string | number | boolean | null | Value[];
type Eval = (req: Request) => Value;

export class ExprError extends Error {}

interface Tok {
  kind: 'num' | 'str' | 'ident' | 'op' | 'eof';
  text: string;
  value?: Value;
  pos: number;
}

const OPS = ['&&', '||', '==', '!=', '<=', '>=', '**', '!', '<', '>', '+', '-', '*', '/', '%', '(', ')', '[', ']', ',', '?', ':'];

function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(src[i + 1] ?? ''))) {
      const m = /^(?:0[xX][0-9a-fA-F_]+|[0-9][0-9_]*(?:\.[0-9_]+)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+)/.exec(src.slice(i))!;
      out.push({ kind: 'num', text: m[0], value: Number(m[0].replace(/_/g, '')), pos: i });
      i += m[0].length;
      continue;
    }
    if (c === "'" || c === '"') {
      let j = i + 1;
      let s = '';
      for (;;) {
        if (j >= src.length) throw new ExprError(`unterminated string at ${i + 1}`);
        const d = src[j]!;
        if (d === c) break;
        if (d === '\\') {
          const e = src[j + 1];
          const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"' };
          if (e === undefined || map[e] === undefined) throw new ExprError(`bad escape '\\${e ?? ''}' at ${j + 1}`);
          s += map[e];
          j += 2;
          continue;
        }
        s += d;
        j++;
      }
      out.push({ kind: 'str', text: src.slice(i, j + 1), value: s, pos: i });
      i = j + 1;
      continue;
    }
    if (/[A-Za-z_$]/.test(c)) {
      const m = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(src.slice(i))!;
      out.push({ kind: 'ident', text: m[0], pos: i });
      i += m[0].length;
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (op === undefined) throw new ExprError(`unexpected '${c}' at ${i + 1}`);
    out.push({ kind: 'op', text: op, pos: i });
    i += op.length;
  }
  out.push({ kind: 'eof', text: '', pos: src.length });
  return out;
}

/** The query functions and helpers an expression may call: name → [arity, implementation]. */
const FUNCS: Record<string, [number, (req: Request, args: Value[]) => Value]> = {
  name: [0, (r) => r.name],
  type: [0, (r) => typeName(r.qtype)],
  class: [0, (r) => className(r.qclass)],
  proto: [0, (r) => r.transport],
  size: [0, (r) => r.wire.length],
  client_ip: [0, (r) => r.client.ip],
  port: [0, (r) => String(r.client.port)],
  id: [0, (r) => r.id],
  opcode: [0, (r) => (r.wire[2]! >> 3) & 0xf],
  do: [0, (r) => r.do],
  bufsize: [0, (r) => r.size],
  server_ip: [0, (r) => r.local.ip],
  server_port: [0, (r) => String(r.local.port)],
  incidr: [
    2,
    (_r, [ip, cidr]) => {
      if (typeof ip !== 'string' || net.isIP(ip) === 0) throw new ExprError('first argument is not an IP address');
      const c = typeof cidr === 'string' ? parseCidr(cidr) : undefined;
      if (c === undefined) throw new ExprError(`invalid CIDR address: ${String(cidr)}`);
      return cidrContains(c, ip);
    },
  ],
  // '' for a label nobody published (or without the metadata plugin in the block), as CoreDNS
  metadata: [1, (r, [label]) => metadataValue(r, String(label)) ?? ''],
};

function prec(t: Tok, next: Tok): [string, number] | undefined {
  if (t.kind === 'op') {
    switch (t.text) {
      case '||':
        return ['||', 10];
      case '&&':
        return ['&&', 15];
      case '==':
      case '!=':
      case '<':
      case '>':
      case '<=':
      case '>=':
        return [t.text, 20];
      case '+':
      case '-':
        return [t.text, 30];
      case '*':
      case '/':
      case '%':
        return [t.text, 60];
      case '**':
        return ['**', 100];
    }
    return undefined;
  }
  if (t.kind === 'ident') {
    switch (t.text) {
      case 'or':
        return ['||', 10];
      case 'and':
        return ['&&', 15];
      case 'in':
      case 'matches':
      case 'contains':
      case 'startsWith':
      case 'endsWith':
        return [t.text, 20];
      case 'not':
        return next.kind === 'ident' && next.text === 'in' ? ['not in', 20] : undefined;
    }
  }
  return undefined;
}

const truthy = (v: Value): boolean => v === true;
const eq = (a: Value, b: Value): boolean => {
  if (Array.isArray(a) || Array.isArray(b)) return JSON.stringify(a) === JSON.stringify(b);
  return a === b;
};
function num(v: Value, op: string): number {
  if (typeof v !== 'number') throw new ExprError(`invalid operation: ${op} on ${v === null ? 'nil' : typeof v}`);
  return v;
}
function str(v: Value, op: string): string {
  if (typeof v !== 'string') throw new ExprError(`invalid operation: ${op} on ${v === null ? 'nil' : typeof v}`);
  return v;
}

class Parser {
  private i = 0;
  constructor(private readonly toks: Tok[]) {}

  private peek(k = 0): Tok {
    return this.toks[Math.min(this.i + k, this.toks.length - 1)]!;
  }
  private take(): Tok {
    return this.toks[this.i++]!;
  }
  private expect(text: string): void {
    const t = this.take();
    if (t.text !== text || (t.kind !== 'op' && t.kind !== 'ident')) throw new ExprError(`expected '${text}' at ${t.pos + 1}, found '${t.text || 'end of expression'}'`);
  }

  parse(): Eval {
    const e = this.ternary();
    const t = this.peek();
    if (t.kind !== 'eof') throw new ExprError(`unexpected '${t.text}' at ${t.pos + 1}`);
    return e;
  }

  private ternary(): Eval {
    const cond = this.binary(0);
    if (this.peek().kind === 'op' && this.peek().text === '?') {
      this.take();
      const a = this.ternary();
      this.expect(':');
      const b = this.ternary();
      return (r) => (truthy(cond(r)) ? a(r) : b(r));
    }
    return cond;
  }

  private binary(min: number): Eval {
    let left = this.unary();
    for (;;) {
      const p = prec(this.peek(), this.peek(1));
      if (p === undefined || p[1] < min) return left;
      const [op, level] = p;
      this.take();
      if (op === 'not in') this.take();
      const rightTok = this.peek();
      // ** is right-associative, the rest left
      const right = this.binary(op === '**' ? level : level + 1);
      if (op === 'matches' && rightTok.kind === 'str' && this.toks[this.i - 1] === rightTok) {
        left = this.matches(left, rightTok.value as string);
        continue;
      }
      left = binop(op, left, right);
    }
  }

  private matches(left: Eval, pattern: string): Eval {
    let re: RegExp;
    try {
      re = new RegExp(pattern);
    } catch (e) {
      throw new ExprError(`invalid regular expression '${pattern}': ${(e as Error).message}`);
    }
    return (r) => re.test(str(left(r), 'matches'));
  }

  private unary(): Eval {
    const t = this.peek();
    if ((t.kind === 'op' && (t.text === '!' || t.text === '-' || t.text === '+')) || (t.kind === 'ident' && t.text === 'not')) {
      this.take();
      const e = this.unary();
      if (t.text === '-') return (r) => -num(e(r), '-');
      if (t.text === '+') return (r) => num(e(r), '+');
      return (r) => {
        const v = e(r);
        if (typeof v !== 'boolean') throw new ExprError(`invalid operation: ! on ${typeof v}`);
        return !v;
      };
    }
    return this.primary();
  }

  private primary(): Eval {
    const t = this.take();
    switch (t.kind) {
      case 'num':
      case 'str': {
        const v = t.value!;
        return () => v;
      }
      case 'op':
        if (t.text === '(') {
          const e = this.ternary();
          this.expect(')');
          return e;
        }
        if (t.text === '[') {
          const items: Eval[] = [];
          if (!(this.peek().kind === 'op' && this.peek().text === ']')) {
            for (;;) {
              items.push(this.ternary());
              if (this.peek().kind === 'op' && this.peek().text === ',') {
                this.take();
                continue;
              }
              break;
            }
          }
          this.expect(']');
          return (r) => items.map((f) => f(r));
        }
        break;
      case 'ident': {
        if (t.text === 'true') return () => true;
        if (t.text === 'false') return () => false;
        if (t.text === 'nil') return () => null;
        const fn = FUNCS[t.text];
        if (fn === undefined) throw new ExprError(`unknown name ${t.text} (at ${t.pos + 1})`);
        if (!(this.peek().kind === 'op' && this.peek().text === '(')) throw new ExprError(`${t.text} is a function: call it as ${t.text}() (at ${t.pos + 1})`);
        this.take();
        const args: Eval[] = [];
        if (!(this.peek().kind === 'op' && this.peek().text === ')')) {
          for (;;) {
            args.push(this.ternary());
            if (this.peek().kind === 'op' && this.peek().text === ',') {
              this.take();
              continue;
            }
            break;
          }
        }
        this.expect(')');
        const [arity, impl] = fn;
        if (args.length !== arity) throw new ExprError(`not enough arguments to call ${t.text}: ${t.text}() takes ${arity}, got ${args.length}`);
        return (r) => impl(r, args.map((a) => a(r)));
      }
      case 'eof':
        throw new ExprError('unexpected end of expression');
    }
    throw new ExprError(`unexpected '${t.text}' at ${t.pos + 1}`);
  }
}

function binop(op: string, a: Eval, b: Eval): Eval {
  switch (op) {
    case '||':
      return (r) => truthy(a(r)) || truthy(b(r));
    case '&&':
      return (r) => truthy(a(r)) && truthy(b(r));
    case '==':
      return (r) => eq(a(r), b(r));
    case '!=':
      return (r) => !eq(a(r), b(r));
    case '<':
    case '>':
    case '<=':
    case '>=':
      return (r) => {
        const x = a(r);
        const y = b(r);
        if (!((typeof x === 'number' && typeof y === 'number') || (typeof x === 'string' && typeof y === 'string'))) {
          throw new ExprError(`invalid operation: ${op} on mismatched types`);
        }
        return op === '<' ? x < y : op === '>' ? x > y : op === '<=' ? x <= y : x >= y;
      };
    case 'in':
    case 'not in':
      return (r) => {
        const x = a(r);
        const list = b(r);
        if (!Array.isArray(list)) throw new ExprError(`invalid operation: in on ${typeof list}`);
        const found = list.some((v) => eq(v, x));
        return op === 'in' ? found : !found;
      };
    case 'matches':
      return (r) => {
        const p = str(b(r), 'matches');
        return new RegExp(p).test(str(a(r), 'matches'));
      };
    case 'contains':
      return (r) => str(a(r), op).includes(str(b(r), op));
    case 'startsWith':
      return (r) => str(a(r), op).startsWith(str(b(r), op));
    case 'endsWith':
      return (r) => str(a(r), op).endsWith(str(b(r), op));
    case '+':
      return (r) => {
        const x = a(r);
        const y = b(r);
        if (typeof x === 'string' && typeof y === 'string') return x + y;
        return num(x, '+') + num(y, '+');
      };
    case '-':
      return (r) => num(a(r), '-') - num(b(r), '-');
    case '*':
      return (r) => num(a(r), '*') * num(b(r), '*');
    case '/':
      return (r) => num(a(r), '/') / num(b(r), '/');
    case '%':
      return (r) => num(a(r), '%') % num(b(r), '%');
    case '**':
      return (r) => num(a(r), '**') ** num(b(r), '**');
  }
  throw new ExprError(`unknown operator ${op}`);
}

/** Compile an expression; throws ExprError naming what is wrong. */
export function compileExpr(src: string): (req: Request) => Value {
  if (src.trim() === '') throw new ExprError('empty expression');
  return new Parser(tokenize(src)).parse();
}

/** True only when the expression evaluates to the boolean true; an evaluation error is false. */
export function passes(e: (req: Request) => Value, req: Request): boolean {
  try {
    return e(req) === true;
  } catch {
    return false;
  }
}
