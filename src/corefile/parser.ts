// Corefile parser: groups tokens, in order, by server block and, inside a block, by directive.
// Handles the cross-cutting syntax so plugins never see it: `{$ENV}` / `{%ENV%}` substitution,
// snippets `(name) { … }` with `import name`, and `import PATTERN` of files and globs.
//
// An import cycle (a file or snippet importing itself, directly, through a glob or through
// others) is an error as soon as it is met: every token remembers which import brought it in
// (an Origin, whose parents are the chain of imports up to the Corefile), so a file or snippet
// already on that chain is refused with the chain. CoreDNS only stops after 10,000 snippet or
// 100,000 file expansions (tens of seconds); those caps stay here for import trees that are
// wide rather than cyclic.
import { readdirSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { CorefileError, lex, type Token } from './lexer.js';
import { CorefileReadError, readCorefileText } from './read.js';

export interface ServerBlock {
  /** Key tokens as written (`example.org:1053`, `dns://.`, `10.0.0.0/24`). */
  readonly keys: Token[];
  /** Each directive's tokens, every occurrence in the block concatenated, in Corefile order. */
  readonly directives: Map<string, Token[]>;
  /** Directive names in the order they first appear (for error messages and `check`). */
  readonly order: string[];
  /** The token that starts each occurrence of each directive. */
  readonly starts: Map<string, Token[]>;
  /** File and line of the block's first key. */
  readonly file: string;
  readonly line: number;
}

export interface ParseOptions {
  /** Environment for {$VAR} and {%VAR%}; defaults to process.env. */
  env?: Record<string, string | undefined>;
  /** Called for each directive name to check it exists; throw to reject. */
  isDirective?: (name: string) => boolean;
}

export interface ParseResult {
  blocks: ServerBlock[];
  /** Every file read (the Corefile and its imports), for reload's change detection. */
  files: string[];
}

const MAX_SNIPPET_EXPANSIONS = 10_000;
const MAX_FILE_EXPANSIONS = 100_000;

/** What brought a token into the stream: the Corefile itself, or an import of a file or snippet. */
interface Origin {
  /** A file's real path, or a snippet's name. */
  readonly id: string;
  readonly snippet: boolean;
  /** As the chain in an error shows it: the file as named, or `snippet NAME`. */
  readonly label: string;
  /** The origin of the `import` that brought this in; undefined for the Corefile. */
  readonly parent: Origin | undefined;
}

/** A file's identity for cycle detection: its real path (symlinks resolved) when it exists. */
function fileId(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return path.resolve(file);
  }
}

const ENV_RE = /\{\$([A-Za-z0-9_]+)\}|\{%([A-Za-z0-9_]+)%\}/g;

export function replaceEnv(text: string, env: Record<string, string | undefined>): string {
  if (text.indexOf('{') < 0) return text;
  return text.replace(ENV_RE, (_m, a: string | undefined, b: string | undefined) => env[a ?? b ?? ''] ?? '');
}

/** True when `b` is on the same line of the same file as the end of `a`. */
export function sameLine(a: Token, b: Token): boolean {
  return a.file === b.file && a.endLine === b.line;
}

export function parseCorefile(text: string, file: string, opts: ParseOptions = {}): ParseResult {
  const p = new Parser(opts, file);
  const tokens = p.lexFile(text, file);
  p.run(tokens);
  return { blocks: p.blocks, files: [...p.files] };
}

export function parseCorefileFile(file: string, opts: ParseOptions = {}): ParseResult {
  let text: string;
  try {
    text = readCorefileText(file);
  } catch (e) {
    throw new CorefileError(file, 0, `could not read file: ${e instanceof CorefileReadError ? e.reason : (e as Error).message}`);
  }
  return parseCorefile(text, file, opts);
}

class Parser {
  readonly blocks: ServerBlock[] = [];
  readonly files = new Set<string>();
  private readonly snippets = new Map<string, Token[]>();
  private snippetExpansions = 0;
  private fileExpansions = 0;
  private toks: Token[] = [];
  /** origins[k] brought toks[k] in; spliced together with toks. */
  private origins: Origin[] = [];
  private i = 0;
  private readonly env: Record<string, string | undefined>;
  private readonly root: Origin;

  constructor(
    private readonly opts: ParseOptions,
    mainFile: string,
  ) {
    this.env = opts.env ?? process.env;
    this.files.add(mainFile);
    this.root = { id: fileId(mainFile), snippet: false, label: mainFile, parent: undefined };
  }

  lexFile(text: string, file: string): Token[] {
    return lex(text, file).map((t) => {
      const r = replaceEnv(t.text, this.env);
      return r === t.text ? t : { ...t, text: r };
    });
  }

  run(tokens: Token[]): void {
    this.toks = tokens;
    this.origins = tokens.map(() => this.root);
    this.i = 0;
    while (this.i < this.toks.length) this.topLevel();
  }

  private peek(off = 0): Token | undefined {
    return this.toks[this.i + off];
  }

  private isOpen(t: Token | undefined): boolean {
    return t !== undefined && !t.quoted && t.text === '{';
  }

  private isClose(t: Token | undefined): boolean {
    return t !== undefined && !t.quoted && t.text === '}';
  }

  /** An unquoted `import` that starts a line (or follows a brace). */
  private isImport(at: number): boolean {
    const t = this.toks[at];
    if (t === undefined || t.quoted || t.text !== 'import') return false;
    const prev = this.toks[at - 1];
    return prev === undefined || !sameLine(prev, t) || this.isOpen(prev) || this.isClose(prev);
  }

  /** Replace the `import X` at the cursor by the tokens it names. */
  private expandImport(): void {
    const imp = this.toks[this.i]!;
    const arg = this.toks[this.i + 1];
    if (arg === undefined || !sameLine(imp, arg)) {
      throw new CorefileError(imp.file, imp.line, 'import: expected one argument (a snippet name or a file pattern)');
    }
    const extra = this.toks[this.i + 2];
    if (extra !== undefined && sameLine(arg, extra) && !this.isClose(extra) && !this.isOpen(extra)) {
      throw new CorefileError(imp.file, imp.line, `import: expected one argument, got another: '${extra.text}'`);
    }
    const from = this.origins[this.i]!;
    const repl: Token[] = [];
    const origins: Origin[] = [];
    const snip = this.snippets.get(arg.text);
    if (snip !== undefined) {
      const o = this.enter(imp, from, arg.text, true, `snippet ${arg.text}`);
      if (++this.snippetExpansions > MAX_SNIPPET_EXPANSIONS) {
        throw new CorefileError(imp.file, imp.line, `import: maximum snippet import depth (${MAX_SNIPPET_EXPANSIONS}) exceeded`);
      }
      for (const t of snip) {
        repl.push(t);
        origins.push(o);
      }
    } else {
      this.importFiles(imp, arg, from, repl, origins);
    }
    this.toks.splice(this.i, 2, ...repl);
    this.origins.splice(this.i, 2, ...origins);
  }

  /** The origin for importing `id` from `from`; an error when `id` is already on the chain. */
  private enter(imp: Token, from: Origin, id: string, snippet: boolean, label: string): Origin {
    const chain: Origin[] = [];
    for (let o: Origin | undefined = from; o !== undefined; o = o.parent) chain.push(o);
    chain.reverse();
    const at = chain.findIndex((o) => o.snippet === snippet && o.id === id);
    if (at >= 0) {
      const shown = [...chain.slice(at).map((o) => o.label), label].join(' → ');
      throw new CorefileError(imp.file, imp.line, `import cycle: ${shown}`);
    }
    return { id, snippet, label, parent: from };
  }

  private importFiles(imp: Token, arg: Token, from: Origin, out: Token[], origins: Origin[]): void {
    const pattern = arg.text;
    const base = path.dirname(imp.file);
    const abs = path.isAbsolute(pattern) ? pattern : path.join(base, pattern);
    const dir = path.dirname(abs);
    const leaf = path.basename(abs);
    const wild = (leaf.match(/[*?]/g) ?? []).length;
    if (/[*?[\]]/.test(dir)) {
      throw new CorefileError(imp.file, imp.line, `import: glob pattern '${pattern}' may use '*' or '?' only in the file name`);
    }
    if (leaf.includes('[') || wild > 1) {
      throw new CorefileError(imp.file, imp.line, `import: glob pattern '${pattern}' may contain only one '*' or '?' and no '[…]'`);
    }
    let matches: string[];
    if (wild === 0) {
      matches = [abs];
    } else {
      const re = new RegExp('^' + leaf.replace(/[.+^${}()|\\]/g, '\\$&').replace('*', '.*').replace('?', '.') + '$');
      let names: string[] = [];
      try {
        names = readdirSync(dir);
      } catch {
        names = []; // an empty glob is not an error
      }
      matches = names.filter((n) => re.test(n) && !n.startsWith('.')).sort().map((n) => path.join(dir, n));
    }
    for (const f of matches) {
      const o = this.enter(imp, from, fileId(f), false, f);
      if (++this.fileExpansions > MAX_FILE_EXPANSIONS) {
        throw new CorefileError(imp.file, imp.line, `import: maximum file import depth (${MAX_FILE_EXPANSIONS}) exceeded`);
      }
      let text: string;
      try {
        text = readCorefileText(f);
      } catch (e) {
        const why = e instanceof CorefileReadError ? e.reason : (e as Error).message;
        const missing = wild === 0 && (e as NodeJS.ErrnoException).code === 'ENOENT' ? ' (no such snippet or file)' : '';
        throw new CorefileError(imp.file, imp.line, `import: could not read '${wild === 0 ? pattern : f}'${missing}: ${why}`);
      }
      this.files.add(f);
      for (const t of this.lexFile(text, f)) {
        out.push(t);
        origins.push(o);
      }
    }
  }

  private topLevel(): void {
    if (this.isImport(this.i)) {
      this.expandImport();
      return;
    }
    const first = this.peek()!;
    if (this.isOpen(first) || this.isClose(first)) {
      throw new CorefileError(first.file, first.line, `unexpected '${first.text}', expected a server block key (zone[:port])`);
    }
    // Snippet definition: (name) { … }
    if (!first.quoted && first.text.length > 2 && first.text.startsWith('(') && first.text.endsWith(')')) {
      const name = first.text.slice(1, -1);
      const open = this.peek(1);
      if (!this.isOpen(open)) throw new CorefileError(first.file, first.line, `snippet '${name}': expected '{' after the name`);
      if (this.snippets.has(name)) throw new CorefileError(first.file, first.line, `redeclaration of previously declared snippet '${name}'`);
      this.i += 2;
      const body: Token[] = [];
      let depth = 1;
      for (;;) {
        const t = this.peek();
        if (t === undefined) throw new CorefileError(first.file, first.line, `snippet '${name}': unexpected end of file, expected '}'`);
        this.i++;
        if (this.isOpen(t)) depth++;
        else if (this.isClose(t) && --depth === 0) break;
        body.push(t);
      }
      this.snippets.set(name, body);
      return;
    }
    // Server block keys: tokens up to '{' (commas separate keys too).
    const keys: Token[] = [];
    while (this.i < this.toks.length) {
      const t = this.peek()!;
      if (this.isOpen(t)) break;
      if (keys.length > 0 && !sameLine(keys[keys.length - 1]!, t)) break;
      this.i++;
      for (const part of t.text.split(',')) {
        if (part !== '') keys.push({ ...t, text: part });
      }
    }
    if (keys.length === 0) throw new CorefileError(first.file, first.line, 'expected a server block key (zone[:port])');
    const open = this.peek();
    const block: ServerBlock = { keys, directives: new Map(), order: [], starts: new Map(), file: first.file, line: first.line };
    if (this.isOpen(open)) {
      this.i++;
      this.blockBody(block, open!);
    } else {
      // A single block without braces: the rest of the input is its body.
      if (this.blocks.length > 0) {
        const at = open ?? keys[keys.length - 1]!;
        throw new CorefileError(at.file, at.line, `expected '{' to open the server block for '${keys.map((k) => k.text).join(' ')}'`);
      }
      this.blockBody(block, undefined);
    }
    this.blocks.push(block);
  }

  private blockBody(block: ServerBlock, open: Token | undefined): void {
    for (;;) {
      if (this.i >= this.toks.length) {
        if (open === undefined) return;
        throw new CorefileError(open.file, open.line, "unexpected end of file, expected '}' to close the server block");
      }
      if (this.isImport(this.i)) {
        this.expandImport();
        continue;
      }
      const t = this.peek()!;
      if (this.isClose(t)) {
        if (open === undefined) throw new CorefileError(t.file, t.line, "unexpected '}'");
        this.i++;
        return;
      }
      if (this.isOpen(t)) throw new CorefileError(t.file, t.line, "unexpected '{', expected a directive");
      this.directive(block, t);
    }
  }

  private directive(block: ServerBlock, dir: Token): void {
    const name = dir.text;
    if (this.opts.isDirective && !this.opts.isDirective(name)) {
      throw new CorefileError(dir.file, dir.line, `unknown directive '${name}'`);
    }
    let list = block.directives.get(name);
    if (list === undefined) {
      list = [];
      block.directives.set(name, list);
      block.order.push(name);
    }
    list.push(dir);
    let starts = block.starts.get(name);
    if (starts === undefined) block.starts.set(name, (starts = []));
    starts.push(dir);
    this.i++;
    let last = dir;
    let depth = 0;
    while (this.i < this.toks.length) {
      const t = this.peek()!;
      if (depth === 0 && !sameLine(last, t)) break;
      if (depth > 0 && this.isImport(this.i)) {
        this.expandImport();
        continue;
      }
      if (this.isOpen(t)) depth++;
      else if (this.isClose(t)) {
        if (depth === 0) break; // closes the server block
        depth--;
      }
      list.push(t);
      last = t;
      this.i++;
    }
    if (depth > 0) throw new CorefileError(dir.file, dir.line, `unexpected end of file, expected '}' to close the block of '${name}'`);
  }
}
