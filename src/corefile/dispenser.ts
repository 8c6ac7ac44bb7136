// The dispenser: a cursor over one directive's tokens, with the verbs of Caddy's dispenser in
// camelCase. Every error it makes carries the file and line of the token at the cursor.
//
//   while (d.next()) {                 // once per occurrence of the directive in the block
//     const args = d.remainingArgs();  // the rest of the directive's line
//     while (d.nextBlock()) {          // each line of its { … } block (nesting-aware)
//       switch (d.val()) { case 'ttl': cfg.ttl = d.uint(0, 3600); break; default: throw d.unknownProperty(); }
//     }
//   }
import { CorefileError, lex, type Token } from './lexer.js';
import { sameLine } from './parser.js';

export class Dispenser {
  private cursor = -1;
  private nesting = 0;
  /** Index of the first token of the line the cursor is on inside a block (for skipping). */
  private lineStart = -1;

  constructor(
    private readonly tokens: readonly Token[],
    /** The directive name, for messages. */
    readonly directive: string = tokens[0]?.text ?? '',
  ) {}

  /** A dispenser over Corefile text, for tests: `Dispenser.from('hosts { ttl 5 }')`. */
  static from(text: string, file = 'Testfile'): Dispenser {
    return new Dispenser(lex(text, file));
  }

  /** Move to the next token (any line). False at the end. */
  next(): boolean {
    if (this.cursor + 1 >= this.tokens.length) return false;
    this.cursor++;
    if (this.nesting === 0) this.lineStart = this.cursor;
    return true;
  }

  /** Move to the next token if it is on the same line and not a '{' opening a block. */
  nextArg(): boolean {
    const cur = this.tokens[this.cursor];
    const nxt = this.tokens[this.cursor + 1];
    if (cur === undefined || nxt === undefined) return false;
    if (!sameLine(cur, nxt)) return false;
    if (!nxt.quoted && (nxt.text === '{' || nxt.text === '}')) return false;
    this.cursor++;
    return true;
  }

  /** The current token's text. */
  val(): string {
    return this.tokens[this.cursor]?.text ?? '';
  }

  /** The current token (or the last one, at the end). */
  token(): Token | undefined {
    return this.tokens[this.cursor] ?? this.tokens[this.tokens.length - 1];
  }

  /** The rest of the current line's arguments (stops before a '{'). */
  remainingArgs(): string[] {
    const out: string[] = [];
    while (this.nextArg()) out.push(this.val());
    return out;
  }

  /** How many arguments remain on the current line, without moving. */
  countRemainingArgs(): number {
    let n = 0;
    let at = this.cursor;
    for (;;) {
      const cur = this.tokens[at];
      const nxt = this.tokens[at + 1];
      if (cur === undefined || nxt === undefined || !sameLine(cur, nxt)) return n;
      if (!nxt.quoted && (nxt.text === '{' || nxt.text === '}')) return n;
      n++;
      at++;
    }
  }

  /** The next argument on the line, or throw an argument-count error. */
  arg(): string {
    if (!this.nextArg()) throw this.argErr();
    return this.val();
  }

  /** Throw if arguments remain on the current line. */
  noMoreArgs(): void {
    if (this.countRemainingArgs() > 0) {
      this.nextArg();
      throw this.err(`unexpected argument '${this.val()}'`);
    }
  }

  /**
   * Iterate the lines of the block that follows the current line: true with the cursor on the
   * first token of each line, false after the closing '}' (or when there is no block). Lines or
   * nested blocks left unread are skipped. Pass the nesting level to read a block inside a block.
   */
  nextBlock(level = 0): boolean {
    if (this.nesting > level) {
      this.skipRestOfLine();
      return this.nextInBlock();
    }
    this.skipArgs();
    const cur = this.tokens[this.cursor];
    const nxt = this.tokens[this.cursor + 1];
    if (cur === undefined || nxt === undefined || !sameLine(cur, nxt) || nxt.quoted || nxt.text !== '{') return false;
    this.cursor++;
    this.nesting++;
    return this.nextInBlock();
  }

  /** Step to the next line of the open block: false (and the block closed) on its '}'. */
  private nextInBlock(): boolean {
    if (this.cursor + 1 >= this.tokens.length) throw this.err("unexpected end of block, expected '}'");
    this.cursor++;
    const t = this.tokens[this.cursor]!;
    if (!t.quoted && t.text === '}') {
      this.nesting--;
      return false;
    }
    this.lineStart = this.cursor;
    return true;
  }

  /** The nesting level of the block the cursor is in (0 on the directive's line). */
  get level(): number {
    return this.nesting;
  }

  private skipArgs(): void {
    while (this.nextArg());
  }

  /** Skip what is left of the current block line, including a nested block nobody read. */
  private skipRestOfLine(): void {
    for (;;) {
      const cur = this.tokens[this.cursor];
      const nxt = this.tokens[this.cursor + 1];
      if (cur === undefined || nxt === undefined || !sameLine(cur, nxt)) break;
      if (!nxt.quoted && nxt.text === '}') break;
      this.cursor++;
      if (!nxt.quoted && nxt.text === '{') {
        let depth = 1;
        while (depth > 0 && this.cursor + 1 < this.tokens.length) {
          this.cursor++;
          const t = this.tokens[this.cursor]!;
          if (!t.quoted && t.text === '{') depth++;
          else if (!t.quoted && t.text === '}') depth--;
        }
        break;
      }
    }
  }

  // ---- errors ----

  /** An error at the current token: "file:line - Error during parsing: plugin/<directive>: msg". */
  err(msg: string): CorefileError {
    const t = this.token();
    return new CorefileError(t?.file ?? 'Corefile', t?.line ?? 0, this.directive ? `plugin/${this.directive}: ${msg}` : msg);
  }

  argErr(): CorefileError {
    return this.err(`wrong argument count or unexpected line ending after '${this.val()}'`);
  }

  syntaxErr(expected: string): CorefileError {
    return this.err(`syntax error: unexpected token '${this.val()}', expecting '${expected}'`);
  }

  unknownProperty(): CorefileError {
    return this.err(`unknown property '${this.val()}'`);
  }

  // ---- typed arguments ----

  /** The next argument as an integer in [min, max]. */
  uint(min = 0, max = Number.MAX_SAFE_INTEGER): number {
    const s = this.arg();
    if (!/^\d+$/.test(s)) throw this.err(`expected a number, got '${s}'`);
    const n = Number(s);
    if (n < min || n > max) throw this.err(`'${s}' is out of range, expected ${min}..${max}`);
    return n;
  }

  /** The next argument as a duration ("5s", "1m30s", "500ms"; a bare number is seconds), in milliseconds. */
  duration(): number {
    const s = this.arg();
    const ms = parseDuration(s);
    if (ms === undefined) throw this.err(`invalid duration '${s}', expected e.g. 5s, 500ms, 1m30s`);
    return ms;
  }
}

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go-style duration ("1h2m3.5s", "300ms") or a bare integer of seconds → milliseconds; undefined if invalid. */
export function parseDuration(s: string): number | undefined {
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    pos = re.lastIndex;
  }
  if (pos !== s.length || pos === 0) return undefined;
  return total;
}
