// The module import graph of src/ and plugins/: no cycle (a module that is half-evaluated when
// another one uses it works or not depending on which was imported first), and the pure config
// layer (src/config/) reaches no socket, worker or native-loader code, so `typedns check` and the
// Corefile tests parse without loading the server. Static imports and re-exports count;
// `import type`, `export type`, imports whose every name is `type X`, and dynamic import() do not
// (TypeScript erases the first three, the last loads on demand).
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Every non-test .ts file below `dir` (relative to ROOT). */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.posix.join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(rel));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

const FROM = /^\s*(import|export)\s+(type\s+)?([^;]*?)\s*from\s*['"]([^'"]+)['"]/gm;
const BARE = /^\s*import\s*['"]([^'"]+)['"]/gm;

/** The specifiers a module imports at run time. */
export function runtimeImports(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(FROM)) {
    if (m[2] !== undefined) continue; // import type / export type
    const clause = m[3]!.trim();
    const braces = /^\{([\s\S]*)\}$/.exec(clause);
    if (braces) {
      const names = braces[1]!.split(',').map((s) => s.trim()).filter((s) => s !== '');
      if (names.length > 0 && names.every((n) => n.startsWith('type '))) continue; // import { type A, type B }
    }
    out.push(m[4]!);
  }
  for (const m of text.matchAll(BARE)) out.push(m[1]!);
  return out;
}

/** A relative specifier → the file it names (relative to ROOT), or the bare specifier itself. */
function resolve(from: string, spec: string): string {
  if (!spec.startsWith('.')) return spec.replace(/^node:/, '');
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
  for (const c of [base.replace(/\.js$/, '.ts'), base, `${base}.ts`, `${base}/index.ts`]) {
    if (existsSync(path.join(ROOT, c)) && statSync(path.join(ROOT, c)).isFile()) return c;
  }
  return base;
}

function buildGraph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const f of [...sources('src'), ...sources('plugins')]) {
    g.set(f, runtimeImports(readFileSync(path.join(ROOT, f), 'utf8')).map((s) => resolve(f, s)));
  }
  return g;
}

/** The strongly connected components with more than one module (or a module importing itself). */
function cycles(g: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!g.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (g.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of g.keys()) if (!idx.has(v)) visit(v);
  return out;
}

/** One import path from `a` back to `a` inside its component, for the failure message. */
function loopThrough(g: Map<string, string[]>, scc: string[]): string {
  const inside = new Set(scc);
  const start = scc[0]!;
  const prev = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of g.get(v) ?? []) {
      if (!inside.has(w)) continue;
      if (w === start) {
        const p: string[] = [];
        for (let x: string | undefined = v; x !== undefined && x !== start; x = prev.get(x)) p.unshift(x);
        return [start, ...p, start].join(' → ');
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return scc.join(', ');
}

/** Every module `from` reaches through run-time imports (files and bare specifiers). */
function reach(g: Map<string, string[]>, from: string[]): Map<string, string> {
  const via = new Map<string, string>(from.map((f) => [f, '']));
  const queue = [...from];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of g.get(v) ?? []) {
      if (via.has(w)) continue;
      via.set(w, v);
      if (g.has(w)) queue.push(w);
    }
  }
  return via;
}

describe('module import graph', () => {
  const g = buildGraph();

  it('reads src/ and plugins/', () => {
    expect(g.has('src/config/compile.ts')).toBe(true);
    expect(g.get('src/server/server.ts')).toContain('src/server/generation.ts');
    // the parser of import lines
    expect(runtimeImports("import type { A } from './a.js';\nimport { type B } from './b.js';\nimport c, { type D } from './c.js';\nexport { e } from './e.js';\nimport './f.js';")).toEqual(['./c.js', './e.js', './f.js']);
  });

  it('has no import cycle', () => {
    const found = cycles(g).map((scc) => loopThrough(g, scc));
    expect(found, `import cycles:\n  ${found.join('\n  ')}`).toEqual([]);
  });

  // A plugin may build on another one only through an edge declared here, each one a dependency
  // CoreDNS's plugins have too (auto and secondary serve file's zones; file's zones feed transfer;
  // forward sends dnstap's forwarder messages; explain asks acl). A shared helper that is not such a
  // dependency belongs in src/, exported through typedns/plugin; a new edge fails until declared.
  const DECLARED: Record<string, string> = {
    'plugins/auto/auto.ts → plugins/file/file.ts': 'auto serves file zones (CoreDNS: plugin/auto uses file.Zone)',
    'plugins/auto/auto.ts → plugins/file/zonefile.ts': 'auto parses zone files with file\'s parser',
    'plugins/sign/signer.ts → plugins/file/zonefile.ts': 'sign parses zone files with file\'s parser (CoreDNS: plugin/sign uses plugin/file)',
    'plugins/secondary/secondary.ts → plugins/file/zone.ts': 'secondary serves file zones (CoreDNS: plugin/secondary wraps plugin/file)',
    'plugins/secondary/secondary.ts → plugins/file/file.ts': 'secondary answers with file\'s lookup',
    'plugins/secondary/secondary.ts → plugins/transfer/transfer.ts': 'secondary transfers on what it pulled (CoreDNS: transfer.Transferer)',
    'plugins/secondary/setup.ts → plugins/transfer/setup.ts': 'secondary reads transfer\'s `to` syntax',
    'plugins/forward/setup.ts → plugins/dnstap/tap.ts': 'forward sends FORWARDER_* messages (CoreDNS: forward uses dnstap)',
    'plugins/explain/index.ts → plugins/acl/index.ts': 'explain\'s edns0 trace asks acl who may have it',
  };
  it("a plugin imports another plugin's folder only through a declared dependency (what plugins share lives in src/)", () => {
    const folder = (f: string): string | undefined => /^plugins\/([^/]+)\//.exec(f)?.[1];
    const bad: string[] = [];
    const seen = new Set<string>();
    for (const [f, deps] of g) {
      const own = folder(f);
      if (own === undefined) continue;
      for (const d of deps) {
        if (folder(d) === undefined || folder(d) === own) continue;
        const edge = `${f} → ${d}`;
        seen.add(edge);
        if (DECLARED[edge] === undefined) bad.push(edge);
      }
    }
    expect(bad, bad.join('\n')).toEqual([]);
    // a declared edge that no longer exists is dropped from the table
    expect(Object.keys(DECLARED).filter((e) => !seen.has(e))).toEqual([]);
  });

  it('the config layer (src/config/) reaches no socket, worker, HTTP or native-loader module', () => {
    const roots = [...g.keys()].filter((f) => f.startsWith('src/config/'));
    expect(roots.length).toBeGreaterThan(0);
    const via = reach(g, roots);
    const banned = (m: string): boolean =>
      m.startsWith('src/server/') ||
      m.startsWith('plugins/') ||
      ['dgram', 'net', 'tls', 'http', 'https', 'http2', 'cluster', 'worker_threads', 'module', 'child_process'].includes(m);
    // src/corefile/keys.ts parses addresses with node:net's pure helpers (isIP, SocketAddress);
    // it opens no socket.
    const allowed = (m: string): boolean => m === 'net' && [...g.entries()].every(([f, deps]) => !deps.includes('net') || !via.has(f) || f === 'src/corefile/keys.ts');
    const bad = [...via.keys()].filter((m) => banned(m) && !allowed(m)).map((m) => {
      const chain = [m];
      for (let x = via.get(m); x !== undefined && x !== ''; x = via.get(x)) chain.unshift(x);
      return chain.join(' → ');
    });
    expect(bad, bad.join('\n')).toEqual([]);
  });
});
