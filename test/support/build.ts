// Build the repository's package (dist/) for the tests that run the real CLI or load
// typedns through its package exports. Several test files may ask at the same time: a lock
// directory serialises them, and a build is skipped when dist/ is newer than every source file
// (vitest's globalSetup, test/support/global-setup.ts, normally built it already).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const STAMP = path.join(ROOT, 'dist', '.build-stamp');
const LOCK = path.join(ROOT, 'dist', '.build-lock');

function newestSource(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules') newest = Math.max(newest, newestSource(p));
    } else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

function fresh(): boolean {
  // tsc rewrites every output, so the CLI's mtime is the last build's (or the stamp, if later)
  const cli = path.join(ROOT, 'dist/src/cli.js');
  if (!existsSync(cli)) return false;
  const built = Math.max(statSync(cli).mtimeMs, existsSync(STAMP) ? statSync(STAMP).mtimeMs : 0);
  return newestSource(path.join(ROOT, 'src')) < built && newestSource(path.join(ROOT, 'plugins')) < built;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * `tsc -p tsconfig.build.json`, incremental (its build info in dist/, so removing dist/ starts
 * afresh; an unchanged tree rebuilds in half the time), then the stamp `fresh()` reads: an
 * incremental build leaves unchanged outputs, the CLI among them, as old as they were. Throws
 * what tsc printed when it exits non-zero (type errors: it has emitted all the same).
 */
export function buildDist(): void {
  const started = Date.now();
  mkdirSync(path.join(ROOT, 'dist'), { recursive: true });
  try {
    execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.build.json'), '--incremental', '--tsBuildInfoFile', path.join(ROOT, 'dist/.tsbuildinfo')], { cwd: ROOT, stdio: 'pipe', encoding: 'utf8' });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`build failed: ${err.stdout ?? ''}${err.stderr ?? ''}` || err.message);
  } finally {
    writeFileSync(STAMP, String(started));
    // the stamp must not be newer than a source edited during the build
    const t = new Date(started);
    utimesSync(STAMP, t, t);
  }
}

/** Run `tsc -p tsconfig.build.json` unless dist/ is up to date. */
export async function ensureBuilt(): Promise<void> {
  if (fresh()) return;
  mkdirSync(path.join(ROOT, 'dist'), { recursive: true });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      // a stale lock (a killed run) is broken after 30 s
      try {
        if (Date.now() - statSync(LOCK).mtimeMs > 30_000) rmSync(LOCK, { recursive: true, force: true });
      } catch {
        // gone meanwhile
      }
      if (Date.now() > deadline) throw new Error('ensureBuilt: timed out waiting for another build');
      await sleep(100);
    }
  }
  try {
    if (fresh()) return;
    try {
      buildDist();
    } catch (e) {
      // tsc still emits when some file has a type error (another plugin being written); only a
      // missing output is fatal.
      if (!existsSync(path.join(ROOT, 'dist/src/cli.js'))) throw e;
    }
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

/**
 * Make `import 'typedns/…'` resolve from `dir` as it does in a project that installed typedns:
 * `dir/node_modules/typedns` → the repository root (what `npm install` does for a file: dependency).
 */
export function linkTypedns(dir: string): void {
  const link = path.join(dir, 'node_modules', 'typedns');
  if (existsSync(path.join(link, 'package.json'))) return;
  mkdirSync(path.dirname(link), { recursive: true });
  try {
    symlinkSync(ROOT, link, 'dir');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
}
