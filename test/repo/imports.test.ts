// No runtime import cycle among the plugins' files: a file's imports of its own folder (and of
// other plugins) go one way. Type-only imports are erased, so they do not count. A cycle "works"
// only as long as no module-level code uses what it imports (rewrite's rules.ts <-> edns.ts did).
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT } from '../support/build.js';

function sources(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = path.join(dir, e);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (p.endsWith('.ts') && !p.endsWith('.test.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The files `file` imports at run time (relative specifiers, `import type` and all-`type` lists left out). */
function runtimeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s+(type\s+)?([^;]*?)\s+from\s+'(\.[^']+)'/gms)) {
    if (m[1] !== undefined) continue;
    const list = /^\{([^}]*)\}$/.exec(m[2]!.trim());
    if (list !== null && list[1]!.split(',').every((x) => x.trim() === '' || x.trim().startsWith('type '))) continue;
    out.push(path.resolve(path.dirname(file), m[3]!.replace(/\.js$/, '.ts')));
  }
  for (const m of text.matchAll(/^import\s+'(\.[^']+)'/gm)) out.push(path.resolve(path.dirname(file), m[1]!.replace(/\.js$/, '.ts')));
  return out;
}

/** Every cycle found by a depth-first walk, each as the files on it. */
function cycles(files: string[]): string[][] {
  const graph = new Map(files.map((f) => [f, runtimeImports(f).filter((t) => files.includes(t))]));
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (f: string): void => {
    state.set(f, 1);
    stack.push(f);
    for (const t of graph.get(f) ?? []) {
      if (state.get(t) === 1) found.push(stack.slice(stack.indexOf(t)).map((x) => path.relative(ROOT, x)));
      else if (state.get(t) === undefined) visit(t);
    }
    stack.pop();
    state.set(f, 2);
  };
  for (const f of files) if (state.get(f) === undefined) visit(f);
  return found;
}

describe('imports', () => {
  it('the plugins have no runtime import cycle', () => {
    const files = sources(path.join(ROOT, 'plugins'));
    expect(files.length).toBeGreaterThan(50);
    expect(cycles(files)).toEqual([]);
  });

  it('finds a runtime cycle and passes over type-only imports (the check itself)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'typedns-imports-'));
    const write = (name: string, text: string): string => {
      writeFileSync(path.join(dir, name), text);
      return path.join(dir, name);
    };
    const a = write('a.ts', "import { b } from './b.js';\nexport const a = 1;\n");
    const b = write('b.ts', "import { a } from './a.js';\nexport const b = a;\n");
    const c = write('c.ts', "import type { D } from './d.js';\nimport { type D2 } from './d.js';\nexport const c = 1;\n");
    const d = write('d.ts', "import { c } from './c.js';\nexport type D = number;\nexport type D2 = string;\n");
    expect(cycles([a, b, c, d]).map((cy) => cy.map((f) => path.basename(f)))).toEqual([['a.ts', 'b.ts']]);
    rmSync(dir, { recursive: true });
  });
});
