// Corefile lexer: splits text into whitespace-separated tokens, each with its file and line.
// Quotes group words ("a b"), a backslash escapes a quote inside quotes, `#` starts a comment
// when it begins a token, and a leading UTF-8 BOM is ignored.

export interface Token {
  readonly file: string;
  /** Line the token starts on (1-based). */
  readonly line: number;
  /** Line the token ends on: differs from `line` only for quoted tokens spanning lines. */
  readonly endLine: number;
  readonly text: string;
  readonly quoted: boolean;
}

export class CorefileError extends Error {
  readonly code = 'TDNS_ERR_COREFILE';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly detail: string,
  ) {
    super(`${file}:${line} - Error during parsing: ${detail}`);
    this.name = 'CorefileError';
  }
  /** "file:line: message", the form `typedns check` prints. */
  get short(): string {
    return `${this.file}:${this.line}: ${this.detail}`;
  }
}

export function lex(text: string, file: string): Token[] {
  const tokens: Token[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (c === '\n') {
      line++;
      i++;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') {
      i++;
      continue;
    }
    if (c === '#') {
      while (i < n && text[i] !== '\n') i++;
      continue;
    }
    if (c === '"') {
      const startLine = line;
      let out = '';
      i++;
      let closed = false;
      while (i < n) {
        const ch = text[i]!;
        if (ch === '\\' && i + 1 < n && (text[i + 1] === '"' || text[i + 1] === '\\')) {
          out += text[i + 1];
          i += 2;
          continue;
        }
        if (ch === '"') {
          closed = true;
          i++;
          break;
        }
        if (ch === '\n') line++;
        out += ch;
        i++;
      }
      if (!closed) throw new CorefileError(file, startLine, 'unterminated quoted string, expected closing \'"\'');
      tokens.push({ file, line: startLine, endLine: line, text: out, quoted: true });
      continue;
    }
    const start = i;
    while (i < n) {
      const ch = text[i]!;
      if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || ch === '\f' || ch === '\v') break;
      i++;
    }
    const word = text.slice(start, i);
    tokens.push({ file, line, endLine: line, text: word, quoted: false });
  }
  return tokens;
}
