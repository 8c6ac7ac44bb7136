// Every plugin's README (CoreDNS's readme_test): the sections a user looks for, and every
// `~~~ corefile` example parses as `typedns check` would parse it. Iterates whatever plugin
// folders exist, so new plugins are covered as they land.
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { builtinPlugins } from '../../plugins/all.js';
import { PluginRegistry } from '../../src/plugin/registry.js';
import { ConfigErrors, parseConfig } from '../../src/config/compile.js';
import { CorefileError } from '../../src/corefile/lexer.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PLUGINS = path.join(ROOT, 'plugins');
const folders = readdirSync(PLUGINS, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort();
const withReadme = folders.filter((f) => existsSync(path.join(PLUGINS, f, 'README.md')));
const SECTIONS = ['Name', 'Description', 'Syntax', 'Examples'];

/** The ```` ~~~ corefile ```` blocks of a README, with the line each starts on. */
export function corefileBlocks(md: string): Array<{ line: number; text: string }> {
  const out: Array<{ line: number; text: string }> = [];
  const lines = md.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*(~~~|```)\s*corefile\s*$/.test(lines[i]!)) continue;
    const fence = lines[i]!.trim().slice(0, 3);
    const start = i + 1;
    let j = start;
    while (j < lines.length && lines[j]!.trim() !== fence) j++;
    if (j >= lines.length) throw new Error(`line ${i + 1}: unterminated ${fence} corefile block`);
    out.push({ line: start + 1, text: lines.slice(start, j).join('\n') });
    i = j;
  }
  return out;
}

describe('plugin READMEs', () => {
  it('finds the plugin folders', () => {
    expect(folders).toContain('whoami');
    expect(withReadme.length).toBeGreaterThan(0);
  });

  it('every built-in plugin in plugins/order.ts has a README.md in its folder', () => {
    const missing = builtinPlugins.map((d) => d.name).filter((n) => folders.includes(n) && !withReadme.includes(n));
    expect(missing).toEqual([]);
  });

  const registry = new PluginRegistry(builtinPlugins);
  // Relative paths in examples (file db.example.org, import *.conf) resolve in an empty folder.
  const root = mkdtempSync(path.join(tmpdir(), 'typedns-readme-'));

  describe.each(withReadme)('plugins/%s/README.md', (name) => {
    const file = path.join(PLUGINS, name, 'README.md');
    const md = readFileSync(file, 'utf8');

    it('has the sections ' + SECTIONS.join(', '), () => {
      expect(md).toMatch(new RegExp(`^# ${name}\\s*$`, 'm'));
      const headings = [...md.matchAll(/^## (.+?)\s*$/gm)].map((m) => m[1]!);
      for (const s of SECTIONS) expect(headings, `plugins/${name}/README.md: missing "## ${s}"`).toContain(s);
      // in that order, as CoreDNS's READMEs
      const at = SECTIONS.map((s) => headings.indexOf(s));
      expect([...at].sort((a, b) => a - b)).toEqual(at);
    });

    it('every ~~~ corefile example parses (typedns check)', () => {
      const blocks = corefileBlocks(md);
      for (const b of blocks) {
        try {
          parseConfig({ text: b.text, file: path.join(root, 'Corefile') }, registry, 53, {});
        } catch (e) {
          const errs = e instanceof ConfigErrors ? e.errors : e instanceof CorefileError ? [e] : undefined;
          if (errs === undefined) throw e;
          // Files an example names (zone files, hosts files) are not in the empty folder.
          const real = errs.filter((x) => !/ENOENT|no such file|could not read|not found/i.test(x.detail));
          if (real.length > 0) {
            throw new Error(`${file}:${b.line}: example does not parse:\n  ${real.map((x) => x.short).join('\n  ')}\n${b.text}`);
          }
        }
      }
    });

    it('its examples use its own directive', () => {
      const blocks = corefileBlocks(md);
      if (blocks.length === 0) return; // plugins with no Corefile form (none today) would skip
      expect(blocks.some((b) => new RegExp(`(^|\\s)${name}(\\s|$)`, 'm').test(b.text))).toBe(true);
    });
  });
});

/** The relative links of a Markdown text (`[text](path)`, `[text](path#anchor)`), with their line; web links, anchors and mail left out. */
export function relativeLinks(md: string): Array<{ line: number; target: string }> {
  const out: Array<{ line: number; target: string }> = [];
  const lines = md.split('\n');
  let fence = '';
  for (let i = 0; i < lines.length; i++) {
    const t = lines[i]!.trim();
    if (fence === '' && /^(```|~~~)/.test(t)) fence = t.slice(0, 3);
    else if (fence !== '' && t.startsWith(fence)) fence = '';
    if (fence !== '') continue;
    for (const m of lines[i]!.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!.split('#')[0]!;
      if (target === '' || /^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
      out.push({ line: i + 1, target });
    }
  }
  return out;
}

describe('links in the READMEs and docs/', () => {
  const docs = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

  it('docs/ARCHITECTURE.md exists and the README links to it', () => {
    expect(docs).toContain('docs/ARCHITECTURE.md');
    expect(relativeLinks(readFileSync(path.join(ROOT, 'README.md'), 'utf8')).map((l) => l.target)).toContain('docs/ARCHITECTURE.md');
  });

  it.each(docs)('every relative link of %s names a file or folder of the repository', (doc) => {
    const md = readFileSync(path.join(ROOT, doc), 'utf8');
    const links = relativeLinks(md);
    expect(links.length).toBeGreaterThan(0);
    const broken = links.filter((l) => {
      const p = path.resolve(path.dirname(path.join(ROOT, doc)), decodeURIComponent(l.target));
      return !p.startsWith(ROOT + path.sep) || !existsSync(p);
    });
    expect(broken.map((l) => `${doc}:${l.line}: ${l.target}`)).toEqual([]);
  });

  it('relativeLinks finds paths, not web links, anchors or fenced code', () => {
    const md = 'see [a](src/a.ts) and [b](../b.md#x), [w](https://x.org), [h](#top)\n```\n[c](c.ts)\n```\n[d](d/)';
    expect(relativeLinks(md)).toEqual([
      { line: 1, target: 'src/a.ts' },
      { line: 1, target: '../b.md' },
      { line: 5, target: 'd/' },
    ]);
  });
});

describe('corefileBlocks', () => {
  it('extracts ~~~ corefile and ```corefile blocks with their line, not other fences', () => {
    const md = '# x\n\n~~~ corefile\n. {\n  whoami\n}\n~~~\n\n~~~ txt\nnope\n~~~\n\n```corefile\nexample.org {\n}\n```\n';
    expect(corefileBlocks(md)).toEqual([
      { line: 4, text: '. {\n  whoami\n}' },
      { line: 14, text: 'example.org {\n}' },
    ]);
    expect(() => corefileBlocks('~~~ corefile\n. {\n')).toThrow(/unterminated/);
  });
});
