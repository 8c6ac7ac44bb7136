// Reloading the whole server set: atomic swap, failures keep the old config, no socket leaks.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import dgram from 'node:dgram';
import { definePlugin } from '../../src/plugin/api.js';
import { buildQuery, freePort, query, startServer, waitFor } from '../../src/testing/index.js';
import { startCli } from '../support/cli.js';
import { processCpuMs, threadCpuMs } from '../support/thread-cpu.js';

const answer = definePlugin({
  name: 'answer',
  api: '^1',
  position: { before: 'whoami' },
  parse(d) {
    d.next();
    const v = d.arg();
    if (v === 'fail-setup') return { v, fail: true };
    return { v, fail: false };
  },
  setup(cfg) {
    if (cfg.fail) throw new Error('setup failed on purpose');
    return {
      serve(req, w) {
        w.write({ type: 'response', flags: 0x0400, answers: [{ name: req.qname, type: 'TXT', ttl: 0, data: [cfg.v] }] });
        return 0;
      },
    };
  },
});

const openFds = (): number => readdirSync('/proc/self/fd').length;
const txt = async (port: number): Promise<string> => String((await query(port, 'x.example.org', 'TXT')).msg.answers?.[0] && ((await query(port, 'x.example.org', 'TXT')).msg.answers![0] as { data: Buffer[] }).data[0]);

describe('reload', () => {
  it('swaps behaviour, keeps the old config on parse, setup and listen errors', async () => {
    const port = await freePort();
    const cf = (v: string, extra = ''): string => `example.org:${port} {\n bind 127.0.0.1\n answer ${v}\n}\n${extra}`;
    const srv = await startServer(cf('one'), { plugins: [answer] });
    try {
      expect(await txt(port)).toBe('one');
      expect(await srv.server.reload('test', { text: cf('two'), file: 'Corefile' })).toBe(true);
      expect(await txt(port)).toBe('two');
      // parse error
      expect(await srv.server.reload('test', { text: `example.org:${port} {\n answer\n}`, file: 'Corefile' })).toBe(false);
      expect(await txt(port)).toBe('two');
      // setup error
      expect(await srv.server.reload('test', { text: cf('fail-setup'), file: 'Corefile' })).toBe(false);
      expect(await txt(port)).toBe('two');
      // a port that is taken
      const taken = dgram.createSocket('udp4');
      await new Promise<void>((r) => taken.bind(0, '127.0.0.1', () => r()));
      const busy = taken.address().port;
      expect(await srv.server.reload('test', { text: cf('three', `example.net:${busy} {\n bind 127.0.0.1\n answer x\n}\n`), file: 'Corefile' })).toBe(false);
      taken.close();
      expect(await txt(port)).toBe('two');
      expect(srv.log.lines.some((l) => l.includes('Reload failed'))).toBe(true);
      const failed = await srv.metrics.registry.getSingleMetricAsString('coredns_reload_failed_total');
      expect(failed).toMatch(/coredns_reload_failed_total 3/);
    } finally {
      await srv.close();
    }
  });

  it('loses no socket across 100 reloads, and answers during them', async () => {
    const port = await freePort();
    const cf = (v: string): string => `example.org:${port} {\n bind 127.0.0.1\n answer ${v}\n}\n`;
    const srv = await startServer(cf('v0'), { plugins: [answer] });
    try {
      await srv.server.reload('warm', { text: cf('v1'), file: 'Corefile' });
      const before = openFds();
      let answered = 0;
      let stop = false;
      const load = (async () => {
        while (!stop) {
          const r = await query(port, 'x.example.org', 'TXT', { timeout: 1000 });
          if (r.rcode === 0) answered++;
        }
      })();
      for (let i = 0; i < 100; i++) expect(await srv.server.reload('loop', { text: cf(`v${i}`), file: 'Corefile' })).toBe(true);
      stop = true;
      await load; // rejects if any query went unanswered
      expect(answered).toBeGreaterThan(0);
      expect(await txt(port)).toBe('v99');
      expect(openFds()).toBeLessThanOrEqual(before + 2);
    } finally {
      await srv.close();
    }
  }, 30_000);
});

/**
 * A client that sends one UDP query every `every` ms (ids 0, 1, 2…) and notes which were
 * answered: a server that stopped listening, even for a moment, leaves some unanswered.
 */
function pacedClient(port: number, every = 10): { stop(): Promise<{ sent: number; answered: number }>; answered(): number } {
  const sock = dgram.createSocket('udp4');
  let sent = 0;
  const got = new Set<number>();
  sock.on('message', (m) => {
    const id = m.readUInt16BE(0);
    if (id < sent) got.add(id);
  });
  const timer = setInterval(() => {
    if (sent > 0xffff) return;
    sock.send(buildQuery('whoami.example.org', 'A', { id: sent }), port, '127.0.0.1');
    sent++;
  }, every);
  return {
    answered: () => got.size,
    async stop() {
      clearInterval(timer);
      // the last queries get time to be answered (a loaded machine can hold a reply back for seconds)
      await waitFor(() => got.size === sent, { timeout: 15_000 }).catch(() => undefined);
      sock.close();
      return { sent, answered: got.size };
    },
  };
}

/** CPU time (ms) `pid` has used: its main thread (the one that answers queries) and all its threads (the parse worker, GC and compiler threads too). */
const cpuOf = (pid: number): { main: number; all: number } => ({ main: threadCpuMs(pid), all: processCpuMs(pid) });

describe('reload of the running CLI (SIGUSR1)', () => {
  it('a Corefile that imports itself is refused at once with file:line; the old one answers every query meanwhile', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'typedns-reload-'));
    const port = await freePort();
    const f = path.join(dir, 'Corefile');
    writeFileSync(f, `example.org:${port} {\n  bind 127.0.0.1\n  whoami\n}\n`);
    const cli = await startCli(['-conf', f], dir);
    try {
      const client = pacedClient(port);
      await waitFor(() => client.answered() >= 10, { what: 'answers before the reload' });
      writeFileSync(f, `import *\nexample.org:${port} {\n  bind 127.0.0.1\n  whoami\n}\n`);
      const cpu0 = cpuOf(cli.child.pid!);
      cli.child.kill('SIGUSR1');
      await waitFor(() => /Reload failed/.test(cli.out()), { timeout: 30_000, what: 'the reload to fail' });
      const cpu1 = cpuOf(cli.child.pid!);
      const after = client.answered();
      await waitFor(() => client.answered() >= after + 10, { what: 'answers after the reload' });
      const r = await client.stop();
      // at once: the cycle is refused the first time the file imports itself (the chain is the
      // file and itself), not after CoreDNS's 100,000 file expansions
      expect(cli.out()).toContain(`${f}:1 - Error during parsing: import cycle: ${f} → ${f}`);
      // every query answered: a failed reload that closed the old listeners loses UDP queries
      expect(r.answered).toBe(r.sent);
      // ...and cheaply: the whole reload (the parse thread's start, which loads every plugin
      // module, included) costs the process less CPU than the 32,766 imports of the next test
      // take to expand, ~1 s. Expanding to the 100,000 cap would cost tens of seconds. CPU time,
      // not the wall clock: a query that waits because the machine is loaded says nothing about
      // the reload (one waited 347 ms at load 10-14).
      expect(cpu1.all - cpu0.all, 'CPU ms the reload took').toBeLessThan(1000);
      expect((await query(port, 'whoami.example.org', 'A')).rcode).toBe(0);
    } finally {
      await cli.stop();
    }
  }, 120_000);

  it('a Corefile that takes a second to expand (32,766 imports, no cycle) is parsed off the thread that answers', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'typedns-reload-'));
    const port = await freePort();
    const f = path.join(dir, 'Corefile');
    const cf = (pre: string): string => `${pre}example.org:${port} {\n  bind 127.0.0.1\n  whoami\n}\n`;
    writeFileSync(f, cf(''));
    // d0 imports d1 twice, d1 imports d2 twice … d14 is a comment: 2 + 4 + … + 2^14 file imports
    for (let i = 0; i < 14; i++) writeFileSync(path.join(dir, `d${i}`), `import d${i + 1}\nimport d${i + 1}\n`);
    writeFileSync(path.join(dir, 'd14'), '# the last one\n');
    const cli = await startCli(['-conf', f], dir);
    try {
      const client = pacedClient(port);
      await waitFor(() => client.answered() >= 10, { what: 'answers before the reload' });
      writeFileSync(f, cf('import d0\n'));
      const cpu0 = cpuOf(cli.child.pid!);
      cli.child.kill('SIGUSR1');
      await waitFor(() => /Reload(ing complete| failed)/.test(cli.out()), { timeout: 60_000, what: 'the reload' });
      const cpu1 = cpuOf(cli.child.pid!);
      const after = client.answered();
      await waitFor(() => client.answered() >= after + 10, { what: 'answers after the reload' });
      const r = await client.stop();
      expect(cli.out()).toContain('Reloading complete (SIGUSR1)');
      expect(r.answered).toBe(r.sent);
      // Off the answering thread: the expansion's CPU time is spent by another thread, not the
      // main one. Parsed on the main thread, it spends nearly all of the reload's CPU there (and
      // every query waits for it). CPU time, not the longest wait for an answer: on a loaded
      // machine the client and server are descheduled for hundreds of ms whatever the reload does.
      const main = cpu1.main - cpu0.main;
      const others = cpu1.all - cpu0.all - main;
      expect(main, `CPU ms of the main thread (the other threads: ${others})`).toBeLessThan(others / 3);
      expect(others, 'CPU ms of the other threads: the parse').toBeGreaterThan(200);
    } finally {
      await cli.stop();
    }
  }, 120_000);
});
