// Golden Corefile tests (Caddy's caddyfile adapt tests): each `*.corefiletest` is a Corefile, a
// line of dashes, then either the expected error(s) as `file:line: message` (one per line) or the
// parsed config as JSON: per block its keys (zone:port, prefixed tls:// or https:// for those
// schemes, with the filter of a classless reverse key) and its directives in chain order (with the
// config of the core-owned plugins).
// `UPDATE_GOLDEN=1 npx vitest run test/corefile` rewrites the expectations: review the diff.
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { builtinPlugins } from '../../plugins/all.js';
import { PluginRegistry } from '../../src/plugin/registry.js';
import { ConfigErrors, parseConfig, type ParsedConfig } from '../../src/config/compile.js';
import { CorefileError } from '../../src/corefile/lexer.js';

const DIR = path.dirname(fileURLToPath(import.meta.url));
const SEP = /^-{10,}\s*$/m;
/** The environment {$VAR} and {%VAR%} see. */
const ENV = { ZONE: 'example.org', PORT: '1053', LOOPBACK: '127.0.0.2', EMPTY: '' };
/** Plugins whose parsed config is part of the snapshot (stable, core-owned). */
const SHOW_CONFIG = new Set(['whoami', 'log', 'errors', 'bind', 'tls', 'https']);

const registry = new PluginRegistry(builtinPlugins);
const rel = (s: string): string => s.split(DIR + path.sep).join('');

function render(cfg: ParsedConfig): unknown {
  return cfg.blocks.map((b) => ({
    keys: b.keys.map((k) => `${k.scheme === 'dns' ? '' : `${k.scheme}://`}${k.zone}:${k.port}${k.filter ? ` filter ${cidrText(k.filter)}` : ''}`),
    directives: b.directives.map((d) => (SHOW_CONFIG.has(d.def.name) ? { [d.def.name]: d.config } : d.def.name)),
  }));
}

function cidrText(c: { family: 4 | 6; bytes: Uint8Array; prefix: number }): string {
  if (c.family === 4) return `${[...c.bytes].join('.')}/${c.prefix}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((c.bytes[i]! << 8) | c.bytes[i + 1]!).toString(16));
  return `${groups.join(':')}/${c.prefix}`;
}

/** What the file's second half must equal: error lines, or pretty JSON. */
export function run(corefile: string): string {
  try {
    const cfg = parseConfig({ text: corefile, file: path.join(DIR, 'Corefile') }, registry, 53, ENV);
    return JSON.stringify(render(cfg), null, 2);
  } catch (e) {
    const errs = e instanceof ConfigErrors ? e.errors : e instanceof CorefileError ? [e] : undefined;
    if (errs === undefined) throw e;
    return errs.map((x) => rel(x.short)).join('\n');
  }
}

const files = readdirSync(DIR).filter((f) => f.endsWith('.corefiletest')).sort();

describe('golden Corefiles', () => {
  it('has cases', () => expect(files.length).toBeGreaterThan(10));

  it.each(files)('%s', (f) => {
    const text = readFileSync(path.join(DIR, f), 'utf8');
    const m = SEP.exec(text);
    if (!m) throw new Error(`${f}: no line of dashes separating the Corefile from the expectation`);
    const corefile = text.slice(0, m.index);
    const want = text.slice(m.index + m[0].length).trim();
    const got = run(corefile);
    if (process.env['UPDATE_GOLDEN'] && got !== want) {
      writeFileSync(path.join(DIR, f), `${corefile}${m[0].trim()}\n${got}\n`);
      return;
    }
    expect(got).toBe(want);
  });
});
