// Corefile → compiled blocks, pure: read and parse the Corefile (with its imports), parse each
// block's keys, run every plugin's parser, check the blocks against each other. What `typedns
// check`, the golden tests and the reload's parse thread (server/parse-worker.ts) need, and
// nothing else: this module graph reaches no socket, no worker, no native loader
// (test/repo/imports.test.ts checks it). Setting the plugins up is server/generation.ts.
import { parseCorefile, parseCorefileFile, type ServerBlock } from '../corefile/parser.js';
import { CorefileError, type Token } from '../corefile/lexer.js';
import { Dispenser } from '../corefile/dispenser.js';
import { checkDuplicates, parseKeys, type ZoneKey } from '../corefile/keys.js';
import type { PluginDefinition } from '../plugin/types.js';
import type { PluginRegistry } from '../plugin/registry.js';

export interface CorefileSource {
  /** Corefile text. */
  text: string;
  /** The file name used in errors, and whose directory is the root for relative paths. */
  file: string;
}

export interface ParsedDirective {
  readonly def: PluginDefinition<unknown>;
  readonly config: unknown;
  readonly token: Token;
}

export interface ParsedBlock {
  readonly block: ServerBlock;
  readonly keys: ZoneKey[];
  readonly directives: ParsedDirective[];
  /** The block's view name (a routing plugin's), '' without one. */
  readonly view: string;
}

export interface ParsedConfig {
  readonly blocks: ParsedBlock[];
  readonly files: string[];
}

/**
 * Parse a Corefile and run every plugin's pure parse. Collects every error it can. The registry
 * must have imported the plugins the Corefile names: loadConfig does that first; a registry of
 * imported definitions (plugins/all.ts's builtinPlugins) has them all.
 */
export function parseConfig(src: CorefileSource, registry: PluginRegistry, defaultPort: number, env?: Record<string, string | undefined>): ParsedConfig {
  const res = parseCorefile(src.text, src.file, { isDirective: (n) => registry.has(n), ...(env ? { env } : {}) });
  return compileParsed(res.blocks, res.files, registry, defaultPort);
}

/** parseConfig, importing first the plugins the Corefile (with its imports) names. */
export async function loadConfig(src: CorefileSource, registry: PluginRegistry, defaultPort: number, env?: Record<string, string | undefined>): Promise<ParsedConfig> {
  const res = parseCorefile(src.text, src.file, { isDirective: (n) => registry.has(n), ...(env ? { env } : {}) });
  return compileLoading(res.blocks, res.files, registry, defaultPort);
}

/** compileParsed, importing first the plugins the blocks name (loadConfig, a reload's two parses). */
export async function compileLoading(blocks: ServerBlock[], files: string[], registry: PluginRegistry, defaultPort: number): Promise<ParsedConfig> {
  await registry.load(directivesOf(blocks));
  return compileParsed(blocks, files, registry, defaultPort);
}

/** Every directive name the blocks use. */
export function directivesOf(blocks: readonly ServerBlock[]): Set<string> {
  const names = new Set<string>();
  for (const b of blocks) for (const n of b.directives.keys()) names.add(n);
  return names;
}

export function parseConfigFile(file: string, registry: PluginRegistry, defaultPort: number): ParsedConfig {
  const res = parseCorefileFile(file, { isDirective: (n) => registry.has(n) });
  return compileParsed(res.blocks, res.files, registry, defaultPort);
}

export class ConfigErrors extends Error {
  readonly code = 'TDNS_ERR_COREFILE';
  constructor(readonly errors: CorefileError[]) {
    super(errors.map((e) => e.message).join('\n'));
    this.name = 'ConfigErrors';
  }
}

/** Keys, every plugin's parser and the duplicate check over parsed blocks (parse-worker.ts uses it too). */
export function compileParsed(blocks: ServerBlock[], files: string[], registry: PluginRegistry, defaultPort: number): ParsedConfig {
  const errors: CorefileError[] = [];
  const out: ParsedBlock[] = [];
  const keyed: Array<{ block: ServerBlock; keys: ZoneKey[]; filtered: boolean }> = [];
  for (const n of directivesOf(blocks)) {
    // a plugin the Corefile names but nobody imported would be skipped without a word
    if (registry.has(n) && !registry.isLoaded(n)) throw new Error(`plugin '${n}' is not loaded: import it first (loadConfig, or PluginRegistry.load)`);
  }
  for (const block of blocks) {
    let keys: ZoneKey[];
    try {
      keys = parseKeys(block, defaultPort);
    } catch (e) {
      if (e instanceof CorefileError) {
        errors.push(e);
        continue;
      }
      throw e;
    }
    const zones = [...new Set(keys.map((k) => k.zone))];
    const directives: ParsedDirective[] = [];
    for (const def of registry.ordered) {
      const tokens = block.directives.get(def.name);
      if (tokens === undefined) continue;
      const starts = block.starts.get(def.name)!;
      if (def.once && starts.length > 1) {
        const t = starts[1]!;
        errors.push(new CorefileError(t.file, t.line, `plugin/${def.name}: this plugin can only be used once per Server Block`));
        continue;
      }
      try {
        const config = def.parse(new Dispenser(tokens, def.name), zones);
        directives.push({ def, config, token: starts[0]! });
      } catch (e) {
        if (e instanceof CorefileError) errors.push(e);
        else {
          const t = starts[0]!;
          errors.push(new CorefileError(t.file, t.line, `plugin/${def.name}: ${e instanceof Error ? e.message : String(e)}`));
        }
      }
    }
    const views = directives.filter((d) => d.def.view !== undefined);
    if (views.length > 1) {
      const t = views[1]!.token;
      errors.push(new CorefileError(t.file, t.line, 'multiple views defined in server block'));
    }
    const view = views[0] === undefined ? '' : views[0].def.view!(views[0].config);
    keyed.push({ block, keys, filtered: view !== '' || views.length > 0 });
    out.push({ block, keys, directives, view });
  }
  try {
    checkDuplicates(keyed);
  } catch (e) {
    if (e instanceof CorefileError) errors.push(e);
    else throw e;
  }
  if (errors.length > 0) throw new ConfigErrors(errors);
  return { blocks: out, files };
}
