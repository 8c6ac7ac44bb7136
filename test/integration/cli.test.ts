// The CLI as a user runs it: built once, started as a child process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort, query } from '../../src/testing/index.js';
import { cliRun as runIn, spawnCli } from '../support/cli.js';

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
