// Issue #17: a small Corefile pays only for what it uses. The real CLI is started with a hosts-only
// and a cache+forward Corefile; a preloaded hook reports, on SIGUSR2, which heavy modules the
// process has loaded. Those modules cost megabytes of RSS each (bench/README.md, "Footprint").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, query, waitFor } from '../../src/testing/index.js';
import { cliRun, startCli, type CliProcess } from '../support/cli.js';
import { ROOT } from '../support/build.js';
import { nativeUdpError } from '../../src/server/udp-native.js';
import { procFileKb } from '../../bench/proc.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'typedns-footprint-'));
  // Packages show in require.cache (ESM importing CommonJS goes through it); built-ins in moduleLoadList.
  writeFileSync(
    path.join(dir, 'hook.cjs'),
    `process.on('SIGUSR2', () => {
  const pkgs = Object.keys(require.cache).filter((k) => k.includes('/node_modules/')).map((k) => k.split('/node_modules/').pop());
  const builtins = process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13));
  process.stderr.write('MODULES ' + JSON.stringify({ pkgs, builtins }) + '\\n');
});\n`,
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Start the CLI on `corefile` with node flags `nodeArgs` (and `env`), and check it answers `name` A. */
async function serving(corefile: string, port: number, name: string, nodeArgs: string[], env: Record<string, string> = {}, args: string[] = []): Promise<{ cli: CliProcess; file: string }> {
  const file = path.join(dir, `Corefile.${port}`);
  writeFileSync(file, corefile);
  const cli = await startCli(['-conf', file, ...args], ROOT, env, nodeArgs);
  const r = await query(port, name, 'A');
  expect(r.rcode).toBe(0);
  expect(r.msg.answers?.some((a) => a.type === 'A')).toBe(true);
  return { cli, file };
}

/** Start the CLI on `corefile`, check it answers `name`, and return what it has loaded. */
async function loaded(corefile: string, port: number, name: string): Promise<{ pkgs: string[]; builtins: string[] }> {
  const { cli } = await serving(corefile, port, name, ['-r', path.join(dir, 'hook.cjs')]);
  try {
    cli.child.kill('SIGUSR2');
    const line = await waitFor(() => /MODULES (.*)\n/.exec(cli.out())?.[1], { timeout: 5_000 });
    return JSON.parse(line) as { pkgs: string[]; builtins: string[] };
  } finally {
    await cli.stop();
  }
}

/**
 * Start the CLI on `corefile` with a module hook that logs every module it imports (ESM does not
 * show in require.cache), check it answers `name`, and return the plugin folders it imported
 * (plugins/<name>/…), the running CLI and its Corefile.
 */
async function pluginsImported(corefile: string, port: number, name: string): Promise<{ plugins: () => Set<string>; cli: CliProcess; file: string }> {
  const log = path.join(dir, `modules.${port}.log`);
  writeFileSync(
    path.join(dir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';
export async function resolve(spec, ctx, next) {
  const r = await next(spec, ctx);
  if (process.env.MODULE_LOG) appendFileSync(process.env.MODULE_LOG, r.url + '\\n');
  return r;
}\n`,
  );
  writeFileSync(path.join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n`);
  const { cli, file } = await serving(corefile, port, name, ['--import', path.join(dir, 'register.mjs')], { MODULE_LOG: log });
  const plugins = (): Set<string> => new Set([...readFileSync(log, 'utf8').matchAll(/\/dist\/plugins\/([\w_]+)\//g)].map((m) => m[1]!));
  return { plugins, cli, file };
}

const heavyPkgs = ['yaml/', '@kubernetes/client-node/', 'pino/', 'thread-stream/'];
const heavyBuiltins = ['http2'];

describe('footprint (#17)', () => {
  it('a hosts-only Corefile loads neither yaml, @kubernetes/client-node, pino (its main module) nor node:http2', async () => {
    const port = await freePort();
    const m = await loaded(`.:${port} {\n  bind 127.0.0.1\n  hosts {\n    10.0.0.1 a.example.\n  }\n}\n`, port, 'a.example');
    expect(m.pkgs.length).toBeGreaterThan(0); // the hook sees packages at all
    for (const p of heavyPkgs) expect(m.pkgs.filter((k) => k.startsWith(p))).toEqual([]);
    for (const b of heavyBuiltins) expect(m.builtins).not.toContain(b);
  });

  it("a hosts-only Corefile loads prom-client's metric classes, not its index (push gateway, default metrics, @opentelemetry/api: ~70 ms of every start)", async () => {
    const port = await freePort();
    const m = await loaded(`.:${port} {\n  bind 127.0.0.1\n  hosts {\n    10.0.0.3 c.example.\n  }\n}\n`, port, 'c.example');
    expect(m.pkgs).toContain('prom-client/lib/registry.js');
    expect(m.pkgs).toContain('prom-client/lib/counter.js');
    expect(m.pkgs).not.toContain('prom-client/index.js');
    expect(m.pkgs.filter((k) => k.startsWith('@opentelemetry/') || k.startsWith('prom-client/lib/pushgateway') || k.startsWith('prom-client/lib/defaultMetrics'))).toEqual([]);
  });

  it('a cache + forward Corefile loads neither yaml, @kubernetes/client-node, pino (its main module) nor node:http2', async () => {
    const port = await freePort();
    const up = await freePort();
    // The upstream is a second block of the same server (hosts), on 127.0.0.1 only.
    const cf = `.:${port} {\n  bind 127.0.0.1\n  cache\n  forward . 127.0.0.1:${up}\n}\n.:${up} {\n  bind 127.0.0.1\n  hosts {\n    10.0.0.2 b.example.\n  }\n}\n`;
    const m = await loaded(cf, port, 'b.example');
    for (const p of heavyPkgs) expect(m.pkgs.filter((k) => k.startsWith(p))).toEqual([]);
    for (const b of heavyBuiltins) expect(m.builtins).not.toContain(b);
  });
});

describe('built-in plugins are imported when a Corefile names them (#17)', () => {
  it('a hosts-only Corefile imports hosts, and not kubernetes, forward, dnssec, file or cache', async () => {
    const port = await freePort();
    const s = await pluginsImported(`.:${port} {\n  bind 127.0.0.1\n  hosts {\n    10.0.0.1 a.example.\n  }\n}\n`, port, 'a.example');
    try {
      const p = s.plugins();
      expect(p.has('hosts')).toBe(true); // the hook sees plugin modules at all
      expect(p.has('bind')).toBe(true);
      for (const other of ['kubernetes', 'forward', 'dnssec', 'file', 'cache', 'sign', 'rewrite']) expect([...p]).not.toContain(other);
    } finally {
      await s.cli.stop();
    }
  });

  it('a reload to a Corefile naming a plugin not imported yet imports it and serves it', async () => {
    const port = await freePort();
    const s = await pluginsImported(`.:${port} {\n  bind 127.0.0.1\n  hosts {\n    10.0.0.1 a.example.\n  }\n}\n`, port, 'a.example');
    try {
      expect(s.plugins().has('template')).toBe(false);
      writeFileSync(s.file, `.:${port} {\n  bind 127.0.0.1\n  template IN TXT b.example {\n    answer "{{ .Name }} 60 IN TXT templated"\n  }\n  hosts {\n    10.0.0.1 a.example.\n  }\n}\n`);
      s.cli.child.kill('SIGUSR1');
      const r = await waitFor(async () => {
        const q = await query(port, 'b.example', 'TXT');
        return q.msg.answers?.some((a) => a.type === 'TXT') ? q : undefined;
      }, { timeout: 10_000 });
      expect(r.rcode).toBe(0);
      expect(s.plugins().has('template')).toBe(true);
      expect((await query(port, 'a.example', 'A')).msg.answers?.[0]).toMatchObject({ type: 'A', data: '10.0.0.1' });
    } finally {
      await s.cli.stop();
    }
  });

  it('typedns check of a Corefile with an unknown directive names its file:line, and imports no plugin to say so', async () => {
    const f = path.join(dir, 'Corefile.bad');
    writeFileSync(f, `.:53 {\n  whoami\n  bogus\n}\n`);
    const r = await cliRun(['check', '-conf', f]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${f}:3: unknown directive 'bogus'`);
  });
});

describe('the typedns binary sets its own node flags (#17)', () => {
  it('started through a symlink as npm installs it, it runs with 1 MB semi-spaces: the young generation stays small while it serves', async () => {
    const port = await freePort();
    const bin = path.join(ROOT, 'dist/src/bin.js');
    chmodSync(bin, 0o755); // what npm does to a package's bin on install
    const link = path.join(dir, 'typedns');
    symlinkSync(bin, link);
    const f = path.join(dir, `Corefile.${port}`);
    writeFileSync(f, `.:${port} {\n  bind 127.0.0.1\n  whoami\n}\n`);
    // the hook reports node's flags and the young generation's committed size on SIGUSR2
    writeFileSync(
      path.join(dir, 'flags.cjs'),
      `process.on('SIGUSR2', () => {
  const young = require('v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
  process.stderr.write('FLAGS ' + JSON.stringify({ execArgv: process.execArgv, young }) + '\\n');
});\n`,
    );
    const child = spawn(link, ['-conf', f], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: `-r ${path.join(dir, 'flags.cjs')}` } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await waitFor(() => /typedns-\d/.test(out), { timeout: 10_000 });
      // enough queries to grow a default nursery past its first megabyte
      for (let i = 0; i < 300; i++) expect((await query(port, `n${i}.example`, 'A')).rcode).toBe(0);
      child.kill('SIGUSR2');
      const line = await waitFor(() => /FLAGS (.*)\n/.exec(out)?.[1], { timeout: 5_000 });
      const r = JSON.parse(line) as { execArgv: string[]; young: number };
      expect(r.execArgv).toContain('--max-semi-space-size=1');
      expect(r.young).toBeLessThanOrEqual(2 * 1024 * 1024);
    } finally {
      child.kill('SIGTERM');
    }
  });
});

const RELEASED = /released ([\d.]+) MB of resident file pages/g;
const releases = (out: string): number[] => [...out.matchAll(RELEASED)].map((m) => Number(m[1]));

describe('the pages of start-up code leave RSS once the server serves (#17)', () => {
  it.skipIf(nativeUdpError() !== '')('file pages resident after start are less than 60 % of a server that keeps them; answers go on; a reload releases again', async () => {
    const corefile = (port: number, names: number): string =>
      `.:${port} {\n  bind 127.0.0.1\n  debug\n  hosts {\n${Array.from({ length: names }, (_, i) => `    10.0.${i >> 8}.${i & 255} n${i}.example.\n`).join('')}  }\n}\n`;
    // the control: the same server with the release turned off
    const p0 = await freePort();
    const kept = await serving(corefile(p0, 50), p0, 'n1.example', [], { TYPEDNS_TRIM_PAGES: '0' });
    const p1 = await freePort();
    const trimmed = await serving(corefile(p1, 50), p1, 'n1.example', [], { TYPEDNS_TRIM_INTERVAL: '0' });
    try {
      await waitFor(() => releases(trimmed.cli.out()).length > 0, { timeout: 10_000 });
      const released = releases(trimmed.cli.out());
      expect(released.length).toBe(1);
      expect(released[0]).toBeGreaterThan(10); // MB: most of the node binary's text and read-only data
      // both served a query since starting; the control never released anything
      const keptKb = procFileKb(kept.cli.child.pid!);
      const trimmedKb = procFileKb(trimmed.cli.child.pid!);
      expect(releases(kept.cli.out())).toEqual([]);
      expect(trimmedKb).toBeLessThan(0.6 * keptKb);
      // every name still answers (the released code and data come back from the page cache)
      for (let i = 0; i < 50; i++) expect((await query(p1, `n${i}.example`, 'A')).msg.answers?.[0]).toMatchObject({ type: 'A', data: `10.0.0.${i}` });
      // a reload (which parses on a thread and compiles new code) is followed by another release
      writeFileSync(trimmed.file, corefile(p1, 60));
      trimmed.cli.child.kill('SIGUSR1');
      await waitFor(() => releases(trimmed.cli.out()).length === 2, { timeout: 10_000 });
      expect((await query(p1, 'n55.example', 'A')).msg.answers?.[0]).toMatchObject({ type: 'A', data: '10.0.0.55' });
    } finally {
      await Promise.all([kept.cli.stop(), trimmed.cli.stop()]);
    }
  });
});

describe('the release is repeated while the server runs (#17)', () => {
  it.skipIf(nativeUdpError() !== '')('with TYPEDNS_TRIM_INTERVAL=1 the pages are released again every second, and queries are answered meanwhile', async () => {
    const port = await freePort();
    const s = await serving(`.:${port} {\n  bind 127.0.0.1\n  debug\n  hosts {\n    10.0.0.1 a.example.\n  }\n}\n`, port, 'a.example', [], { TYPEDNS_TRIM_INTERVAL: '1' });
    try {
      // no reload: the releases after the first come from the interval
      await waitFor(async () => {
        expect((await query(port, 'a.example', 'A')).msg.answers?.[0]).toMatchObject({ type: 'A', data: '10.0.0.1' });
        return releases(s.cli.out()).length >= 3;
      }, { timeout: 15_000 });
      expect(s.cli.out()).not.toContain('Reloading');
    } finally {
      await s.cli.stop();
    }
  });
});

describe('the -workers primary releases its start-up pages too (#17)', () => {
  it.skipIf(nativeUdpError() !== '')('once every worker serves, the primary keeps less than 60 % of the file pages of a primary that does not release them', async () => {
    const corefile = (port: number): string => `.:${port} {\n  bind 127.0.0.1\n  hosts {\n    10.0.0.1 a.example.\n  }\n}\n`;
    const p0 = await freePort();
    const p1 = await freePort();
    const kept = await serving(corefile(p0), p0, 'a.example', [], { TYPEDNS_TRIM_PAGES: '0' }, ['-workers', '2']);
    const trimmed = await serving(corefile(p1), p1, 'a.example', [], {}, ['-workers', '2']);
    try {
      const keptKb = procFileKb(kept.cli.child.pid!);
      await waitFor(() => procFileKb(trimmed.cli.child.pid!) < 0.6 * keptKb, { timeout: 10_000, what: "the trimmed primary's file pages to fall below 60 % of the control's" });
      expect((await query(p1, 'a.example', 'A')).msg.answers?.[0]).toMatchObject({ type: 'A', data: '10.0.0.1' });
    } finally {
      await Promise.all([kept.cli.stop(), trimmed.cli.stop()]);
    }
  });
});
