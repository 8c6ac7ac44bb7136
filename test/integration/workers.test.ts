// -workers N: the CLI as a child process with two cluster workers on one port. A small external
// plugin (loaded with -plugin) answers `pid.test. TXT` (and `*.pid.test.`) with the worker's PID, so the test can see
// which worker served a query; TCP connections are handed out round-robin by the primary.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, query, waitFor } from '../../src/testing/index.js';
import { spawnCli, type CliProcess } from '../support/cli.js';
import { PID_PLUGIN } from '../support/pid-plugin.js';
import { childPids } from '../../bench/proc.js';

const txtOf = (r: Awaited<ReturnType<typeof query>>): string => {
  const a = r.msg.answers?.[0];
  const d = a && a.type === 'TXT' ? a.data : undefined;
  return Array.isArray(d) ? d.map((x) => x.toString()).join('') : String(d);
};

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};


/** Poll `f` until it returns something other than undefined; a rejection counts as "not yet". */
async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const got = await waitFor(
    async () => {
      const v = await f().catch(() => undefined);
      return v === undefined ? undefined : { v };
    },
    { timeout: ms, interval: 50, what },
  );
  return got.v;
}

describe('-workers 2', () => {
  let dir: string;
  let port: number;
  let cli: CliProcess;

  beforeAll(async () => {
    // dist/ is built by test/support/global-setup.ts
    dir = mkdtempSync(path.join(tmpdir(), 'typedns-workers-'));
    port = await freePort();
    writeFileSync(path.join(dir, 'pid.mjs'), PID_PLUGIN);
    writeFileSync(path.join(dir, 'Corefile'), `.:${port} {\n    bind 127.0.0.1\n    pid\n    whoami\n}\n`);
    cli = spawnCli(['-conf', 'Corefile', '-workers', '2', '-plugin', './pid.mjs'], dir);
  });

  afterAll(() => {
    if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
  });

  /** PIDs seen answering pid.test over fresh TCP connections, until `want` distinct ones or a timeout. */
  async function pidsOverTcp(want: (seen: Set<number>) => boolean): Promise<{ seen: Set<number>; answered: number }> {
    const seen = new Set<number>();
    let answered = 0;
    await until(`worker PIDs (seen ${[...seen].join(',')}; output: ${cli.out()})`, async () => {
      const r = await query(port, 'pid.test.', 'TXT', { host: '127.0.0.1', tcp: true, timeout: 1000 });
      answered++;
      seen.add(Number(txtOf(r)));
      return want(seen) ? true : undefined;
    });
    return { seen, answered };
  }

  it('serves one port from two worker processes, sums their metrics, restarts a dead one, forwards signals', async () => {
    // 1. both workers answer, and they are the primary's children
    const first = await pidsOverTcp((s) => s.size >= 2);
    expect(first.seen.size).toBe(2);
    const workerPids = childPids(cli.child.pid!);
    expect(workerPids).toHaveLength(2);
    for (const p of first.seen) expect(workerPids).toContain(p);
    expect(first.seen.has(cli.child.pid!)).toBe(false);

    // 2. UDP is served by both workers too: with the native socket each worker binds its own
    // (SO_REUSEPORT) and a BPF program spreads the names over them (one name, one worker:
    // test/integration/workers-cache.test.ts); with node:dgram the primary shares one socket
    // with both. Each query asks another name, from a new source port.
    const udp = await query(port, 'who.example.', 'A', { host: '127.0.0.1' });
    expect(udp.rcode).toBe(0);
    expect(udp.msg.additionals?.some((a) => a.type === 'A' && a.data === '127.0.0.1')).toBe(true);
    const udpSeen = new Set<number>();
    let udpAnswered = 0;
    await until(`worker PIDs over UDP (seen ${[...udpSeen].join(',')})`, async () => {
      const r = await query(port, `${udpAnswered}.pid.test.`, 'TXT', { host: '127.0.0.1', timeout: 1000 });
      udpAnswered++;
      udpSeen.add(Number(txtOf(r)));
      return udpSeen.size >= 2 ? true : undefined;
    });
    for (const p of udpSeen) expect(workerPids).toContain(p);

    // 3. metrics summed over the workers: every pid.test answered so far, whichever worker counted it
    const count = await query(port, 'count.test.', 'TXT', { host: '127.0.0.1', tcp: true });
    expect(Number(txtOf(count))).toBe(first.answered + udpAnswered);

    // 4. a worker that dies is replaced
    const victim = workerPids[0]!;
    process.kill(victim, 'SIGKILL');
    await until('a replacement worker', async () => {
      const now = childPids(cli.child.pid!);
      return now.length === 2 && !now.includes(victim) ? now : undefined;
    });
    const after = await pidsOverTcp((s) => [...s].some((p) => !first.seen.has(p)));
    expect([...after.seen].some((p) => p !== victim && !first.seen.has(p))).toBe(true);
    expect(cli.out()).toMatch(/worker \d+ \(pid \d+\) died \(SIGKILL\)/);

    // 5. SIGUSR1 reaches every worker: two reloads
    process.kill(cli.child.pid!, 'SIGUSR1');
    await until('two reloads', async () => ((cli.out().match(/Reloading complete \(SIGUSR1\)/g) ?? []).length >= 2 ? true : undefined));

    // 6. SIGTERM on the primary stops everything
    const all = childPids(cli.child.pid!);
    process.kill(cli.child.pid!, 'SIGTERM');
    expect(await cli.exited).toBe(0);
    for (const p of all) await until(`worker ${p} to exit`, async () => (alive(p) ? undefined : true));
  }, 20_000);
});

describe('-workers 2: the primary only supervises (#17)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'typedns-primary-'));
    // Every module a process resolves, appended to $MODULE_LOG.<pid> (ESM imports do not show in
    // require.cache); the workers and the primary's check process inherit the flag.
    writeFileSync(
      path.join(dir, 'hooks.mjs'),
      `import { appendFileSync } from 'node:fs';
export async function resolve(spec, ctx, next) {
  const r = await next(spec, ctx);
  if (process.env.MODULE_LOG) appendFileSync(process.env.MODULE_LOG + '.' + process.pid, r.url + '\\n');
  return r;
}\n`,
    );
    writeFileSync(path.join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n`);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('imports no plugin, no server code and not prom-client: the Corefile is checked in a process that exits before the workers start', async () => {
    const port = await freePort();
    writeFileSync(path.join(dir, 'Corefile'), `.:${port} {\n    bind 127.0.0.1\n    cache\n    hosts {\n        10.0.0.1 a.example\n    }\n}\n`);
    const log = path.join(dir, 'modules');
    const cli = spawnCli(['-conf', 'Corefile', '-workers', '2'], dir, { MODULE_LOG: log }, ['--import', path.join(dir, 'register.mjs')]);
    try {
      const r = await until(`an answer (output: ${cli.out()})`, async () => {
        const q = await query(port, 'a.example.', 'A', { host: '127.0.0.1', timeout: 1000 });
        return q.rcode === 0 ? q : undefined;
      }, 20_000);
      expect(r.msg.answers?.[0]).toMatchObject({ type: 'A', data: '10.0.0.1' });
      const workers = await until('two workers', async () => {
        const w = childPids(cli.child.pid!);
        return w.length === 2 ? w : undefined;
      });
      const modules = (pid: number): string[] => readFileSync(`${log}.${pid}`, 'utf8').split('\n').filter(Boolean);
      const primary = modules(cli.child.pid!);
      expect(primary.some((u) => u.endsWith('/dist/src/cli.js'))).toBe(true); // the hook sees the primary's imports
      expect(primary.filter((u) => /\/dist\/plugins\/[\w_]+\//.test(u))).toEqual([]);
      expect(primary.filter((u) => u.includes('/dist/src/server/server.js') || u.includes('/dist/src/config/'))).toEqual([]);
      expect(primary.filter((u) => u.includes('/node_modules/prom-client/'))).toEqual([]);
      // the workers do import them (the second may still be loading when the first answers: wait for it)
      for (const w of workers) await until(`worker ${w} imports hosts`, async () => (modules(w).some((u) => u.includes('/dist/plugins/hosts/')) ? true : undefined));
    } finally {
      await cli.stop();
    }
  }, 45_000);

  it('a bad Corefile is reported once and no worker starts', async () => {
    const port = await freePort();
    writeFileSync(path.join(dir, 'Corefile.bad'), `.:${port} {\n    bind 127.0.0.1\n    whoami\n    bogus\n}\n`);
    const cli = spawnCli(['-conf', 'Corefile.bad', '-workers', '2'], dir);
    expect(await cli.exited).toBe(1);
    expect(cli.out().match(/unknown directive 'bogus'/g)).toHaveLength(1);
    expect(cli.out()).not.toMatch(/worker \d+ started/);
  }, 30_000);
});
