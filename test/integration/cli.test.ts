// The CLI as a user runs it: built once, started as a child process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort, query } from '../../src/testing/index.js';
import { CLI, cliRun as runIn, spawnCli } from '../support/cli.js';
import { childrenCpuMs } from '../support/thread-cpu.js';

const run = promisify(execFile);
let dir: string;
const cliRun = (args: string[]): ReturnType<typeof runIn> => runIn(args, dir);

// dist/ is built once by test/support/global-setup.ts
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'typedns-cli-'));
});

describe('typedns CLI', () => {
  it('-version', async () => {
    const r = await cliRun(['-version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^typedns-\d+\.\d+\.\d+\n/);
  });

  it('-plugins lists the plugins in chain order', async () => {
    const r = await cliRun(['-plugins']);
    expect(r.code).toBe(0);
    const names = r.stdout.split('\n').filter((l) => l.startsWith('  dns.')).map((l) => l.trim().slice(4));
    expect(names).toContain('whoami');
    expect(names.indexOf('errors')).toBeLessThan(names.indexOf('log'));
    // CoreDNS's plugin.cfg order: whoami, then the routing-only view last
    expect(names.slice(-2)).toEqual(['whoami', 'view']);
    // plugin.cfg: cancel, tls, timeouts, reload; … clouddns, k8s_external, kubernetes
    expect(names.indexOf('timeouts')).toBeGreaterThan(names.indexOf('cancel'));
    expect(names.indexOf('timeouts')).toBe(names.indexOf('reload') - 1);
    expect(names.indexOf('k8s_external')).toBe(names.indexOf('kubernetes') - 1);
    // plugin.cfg: cache, header, dnssec, tls, minimal — dnssec signs what every data plugin writes
    expect(names.indexOf('dnssec')).toBe(names.indexOf('header') + 1);
    expect(names.indexOf('dnssec')).toBeGreaterThan(names.indexOf('cache'));
    expect(names.indexOf('dnssec')).toBeLessThan(names.indexOf('kubernetes'));
    // sign is not in the chain; listed before file so that its setup writes what file reads
    expect(names.indexOf('sign')).toBe(names.indexOf('file') - 1);
    // issue #13's plugins, all listed, in the order of CoreDNS 1.10.1's plugin.cfg
    const issue13 = ['metadata', 'cancel', 'timeouts', 'nsid', 'bufsize', 'local', 'dns64', 'any', 'chaos', 'header', 'autopath', 'minimal', 'k8s_external', 'view'];
    expect(names.filter((n) => issue13.includes(n))).toEqual(issue13);
  });

  it('rejects unknown flags and extra arguments', async () => {
    expect((await cliRun(['-nope'])).stderr).toMatch(/flag provided but not defined: -nope/);
    expect((await cliRun(['-version', 'extra'])).code).not.toBe(0);
  });

  it('check: a good Corefile passes without binding anything', async () => {
    const f = path.join(dir, 'Good');
    writeFileSync(f, '.:53 {\n  whoami\n  log\n}\n');
    const r = await cliRun(['check', '-conf', f]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('OK');
  });

  it('check: reports every error as file:line: message', async () => {
    const f = path.join(dir, 'Bad');
    writeFileSync(f, '.:53 {\n  whoami extra\n  frobnicate\n}\nexample.org:53 {\n  log {\n    class nope\n  }\n}\n');
    const r = await cliRun(['check', '-conf', f]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${f}:3: unknown directive 'frobnicate'`);
    const f2 = path.join(dir, 'Bad2');
    writeFileSync(f2, '.:53 {\n  whoami extra\n}\nexample.org:53 {\n  log {\n    class nope\n  }\n}\nexample.org:53 {\n whoami\n}\n');
    const r2 = await cliRun(['check', '-conf', f2]);
    expect(r2.code).toBe(1);
    const lines = r2.stderr.trim().split('\n');
    expect(lines).toContain(`${f2}:2: plugin/whoami: wrong argument count or unexpected line ending after 'whoami'`);
    expect(lines).toContain(`${f2}:6: plugin/log: invalid class 'nope', expected all, success, denial or error`);
    expect(lines.some((l) => l.startsWith(`${f2}:9: cannot serve dns://example.org.:53`))).toBe(true);
  });

  it('check: a Corefile that imports itself (import * in its own folder) is refused at once with file:line', async () => {
    const sub = mkdtempSync(path.join(dir, 'cycle-'));
    const f = path.join(sub, 'Corefile');
    writeFileSync(f, 'import *\n.:53 {\n  whoami\n}\n');
    const cpu0 = childrenCpuMs();
    const r = await cliRun(['check', '-conf', f]);
    const cpu = childrenCpuMs() - cpu0;
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`${f}:1: import cycle: ${f} → ${f}`);
    // CoreDNS's parser (and typedns before) stopped only after 100,000 expansions: 30 s of CPU and
    // more. The check's own CPU time (not the wall clock, which a loaded machine stretches): under
    // 5 s, most of it loading the modules.
    expect(cpu, 'CPU ms of typedns check').toBeLessThan(5000);
    // A imports B imports A, from inside a server block
    writeFileSync(path.join(sub, 'a.conf'), 'log\nimport b.conf\n');
    writeFileSync(path.join(sub, 'b.conf'), 'import a.conf\n');
    writeFileSync(f, '.:53 {\n  whoami\n  import a.conf\n}\n');
    const r2 = await cliRun(['check', '-conf', f]);
    expect(r2.code).toBe(1);
    const a = path.join(sub, 'a.conf');
    expect(r2.stderr.trim()).toBe(`${path.join(sub, 'b.conf')}:1: import cycle: ${a} → ${path.join(sub, 'b.conf')} → ${a}`);
  });

  it('-conf of a device, a directory or a file over 1 MiB is refused at once, naming it (serve and check)', async () => {
    const big = path.join(dir, 'Big');
    writeFileSync(big, `.:53 {\n  whoami\n}\n${'#'.repeat(1024 * 1024)}\n`);
    for (const [conf, why] of [
      ['/dev/zero', 'a character device, not a regular file'],
      [dir, 'a directory, not a regular file'],
      [big, 'larger than 1048576 bytes (1 MiB), the limit for a Corefile or an imported file'],
    ] as const) {
      for (const args of [['-conf', conf], ['check', '-conf', conf]]) {
        const r = await cliRun(args);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(1);
        expect(r.stderr).toBe(`could not read Corefile: ${conf}: ${why}\n`);
      }
    }
    // an import is held to the same rules
    const f = path.join(dir, 'ImportsBig');
    writeFileSync(f, `.:53 {\n  whoami\n  import ${big}\n}\n`);
    const r = await cliRun(['check', '-conf', f]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${f}:3: import: could not read '${big}': larger than 1048576 bytes`);
  });

  it('-conf stdin is read up to 1 MiB', async () => {
    const withStdin = (input: string): Promise<{ code: number | null; stderr: string; stdout: string }> =>
      new Promise((resolve) => {
        const c = spawn(process.execPath, [CLI, 'check', '-conf', 'stdin'], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        c.stdin.on('error', () => {}); // the CLI may stop reading (and exit) before all of it is written
        c.stdin.end(input);
        c.on('close', (code) => resolve({ code, stdout, stderr }));
      });
    const ok = await withStdin('.:53 {\n  whoami\n}\n');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe('stdin: OK\n');
    const big = await withStdin(`.:53 {\n  whoami\n}\n${'#'.repeat(2 * 1024 * 1024)}\n`);
    expect(big.code).toBe(1);
    expect(big.stderr).toBe('could not read Corefile: stdin: larger than 1048576 bytes (1 MiB), the limit for a Corefile or an imported file\n');
  });

  it('a bad Corefile exits non-zero before binding any socket', async () => {
    const port = await freePort();
    const f = path.join(dir, 'Broken');
    writeFileSync(f, `.:${port} {\n  bind 127.0.0.1\n  whoami\n}\nexample.org:${port} {\n  bind 127.0.0.1\n  log {\n    class bogus\n  }\n}\n`);
    const r = await cliRun(['-conf', f]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${f}:8 - Error during parsing: plugin/log: invalid class 'bogus'`);
  });

  it('serves the built-in default (.:53 { whoami log }) with -dns.port when there is no Corefile, prints zones, stops on SIGTERM', async () => {
    const port = await freePort();
    const pidfile = path.join(dir, 'pid');
    const s = spawnCli(['-dns.port', String(port), '-pidfile', pidfile], dir);
    try {
      await s.ready();
      expect(s.out()).toContain(`.:${port}`);
      expect(readFileSync(pidfile, 'utf8').trim()).toBe(String(s.child.pid));
      const r = await query(port, 'whoami.example.org', 'A');
      expect(r.msg.additionals?.some((a) => a.type === 'A' || a.type === 'AAAA')).toBe(true);
      s.child.kill('SIGTERM');
      expect(await s.exited).toBe(0);
      expect(existsSync(pidfile)).toBe(false);
    } finally {
      if (s.child.exitCode === null) s.child.kill('SIGKILL');
    }
  });

  it('answers dig', async () => {
    let dig = true;
    try {
      execFileSync('dig', ['-v'], { stdio: 'ignore' });
    } catch {
      dig = false;
    }
    if (!dig) return; // dig not installed here: covered by the query() checks above
    const port = await freePort();
    const f = path.join(dir, 'Dig');
    writeFileSync(f, `example.org:${port} {\n  bind 127.0.0.1\n  whoami\n}\n`);
    const s = spawnCli(['-conf', f], dir);
    await s.ready();
    try {
      const out = (await run('dig', ['@127.0.0.1', '-p', String(port), 'whoami.example.org', '+tries=1', '+time=2'])).stdout;
      expect(out).toContain('status: NOERROR');
      expect(out).toMatch(/whoami\.example\.org\.\s+0\s+IN\s+A\s+127\.0\.0\.1/);
      const tcp = (await run('dig', ['@127.0.0.1', '-p', String(port), 'whoami.example.org', '+tcp', '+tries=1', '+time=2'])).stdout;
      expect(tcp).toMatch(/_tcp\.whoami\.example\.org\.\s+0\s+IN\s+SRV/);
      const refused = (await run('dig', ['@127.0.0.1', '-p', String(port), 'example.net', '+tries=1', '+time=2'])).stdout;
      expect(refused).toContain('status: REFUSED');
    } finally {
      s.child.kill('SIGTERM');
    }
  });
});

afterAll(() => {});
