// Reloading zone files: an unchanged file is not parsed again at every reload tick, a changed file
// with the same serial is read only as far as its SOA, and a large zone is (re)loaded without
// stopping the answers (a client asking every 10 ms never waits long); a broken file keeps the old
// zone. Parses are counted through the debug log ("parsing zone …").
import fs from 'node:fs';
import path from 'node:path';
import { threadCpuMs } from '../../test/support/thread-cpu.js';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, startServer, waitFor, type TestServer } from '../../src/testing/index.js';
import type { ZoneStore } from './store.js';
import { zoneFilesPerTest } from '../../test/support/zone-files.js';

// put: replace a file in one step (a reload tick never reads half a file)
const { tempDir, put } = zoneFilesPerTest('typedns-file-reload-');
const servers: TestServer[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()!.close();
});

const small = (serial: number, ip: string): string =>
  `$ORIGIN r.test.\n@ 60 IN SOA ns hostmaster ${serial} 7200 3600 1209600 30\n@ 60 NS ns\nns 60 A 10.0.0.53\nwww 60 A ${ip}\n`;

/** A zone of `n` records; `tag` is in every TXT record, `tail` is appended (e.g. a broken line). */
function big(n: number, serial: number, tag: string, tail = ''): string {
  const lines = [`$ORIGIN big.test.`, `$TTL 300`, `@ IN SOA ns hostmaster ${serial} 7200 3600 1209600 300`, `@ IN NS ns`, `ns IN A 192.0.2.53`];
  for (let i = 0; i < n; i++) lines.push(i % 10 === 9 ? `h${i} IN TXT "${tag} ${i}"` : `h${i} IN A 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  return `${lines.join('\n')}\n${tail}`;
}

const parses = (srv: TestServer): number => srv.log.lines.filter((l) => /\[DEBUG\] plugin\/file: parsing zone/.test(l)).length;
const count = (srv: TestServer, re: RegExp): number => srv.log.lines.filter((l) => re.test(l)).length;

describe('file reload ticks', () => {
  it('an unchanged file is not read again; a new file with the same serial is not parsed', async () => {
    const db = path.join(tempDir(), 'db.r.test');
    put(db, small(1, '10.0.0.1'));
    const srv = await startServer(`r.test:0 {\n bind 127.0.0.1\n debug\n file ${db} {\n  reload 50ms\n }\n}`);
    servers.push(srv);
    expect(parses(srv)).toBe(1);
    // several ticks on the unchanged file
    await waitFor(() => count(srv, /unchanged on disk: not read/) >= 5, { what: 'five reload ticks' });
    expect(parses(srv)).toBe(1);
    // changed on disk, same serial: read as far as the SOA, not parsed, not swapped in
    put(db, small(1, '10.0.0.2'));
    await waitFor(() => count(srv, /changed on disk with the same serial 1: not reloaded/) === 1, { what: 'the same-serial check' });
    expect(parses(srv)).toBe(1);
    expect((await srv.query('www.r.test', 'A')).msg.answers?.[0]).toMatchObject({ data: '10.0.0.1' });
    // new serial: parsed once, swapped in; then quiet again
    put(db, small(2, '10.0.0.3'));
    await waitFor(async () => (await srv.query('www.r.test', 'A')).msg.answers?.some((a) => a.type === 'A' && a.data === '10.0.0.3'), { what: 'the new serial' });
    const after = count(srv, /unchanged on disk: not read/);
    await waitFor(() => count(srv, /unchanged on disk: not read/) >= after + 3, { what: 'three more ticks' });
    expect(parses(srv)).toBe(2);
  });
});

describe('the serial far down the file', () => {
  it('a new serial past the part of the file a tick reads first is still seen', async () => {
    const db = path.join(tempDir(), 'db.r.test');
    // 5,000 records (~100 KB) before the SOA: the tick's first read does not reach it
    const body = (serial: number, ip: string): string =>
      `$ORIGIN r.test.\n${Array.from({ length: 5000 }, (_, i) => `h${i} 60 A 10.1.${i >> 8}.${i & 255}\n`).join('')}@ 60 IN SOA ns hostmaster ${serial} 7200 3600 1209600 30\n@ 60 NS ns\nns 60 A 10.0.0.53\nwww 60 A ${ip}\n`;
    put(db, body(1, '10.0.0.1'));
    const srv = await startServer(`r.test:0 {\n bind 127.0.0.1\n debug\n file ${db} {\n  reload 50ms\n }\n}`);
    servers.push(srv);
    put(db, body(1, '10.0.0.2'));
    await waitFor(() => count(srv, /changed on disk with the same serial 1: not reloaded/) >= 1, { what: 'the same-serial check' });
    expect(parses(srv)).toBe(1);
    put(db, body(2, '10.0.0.3'));
    await waitFor(async () => (await srv.query('www.r.test', 'A')).msg.answers?.some((a) => a.type === 'A' && a.data === '10.0.0.3'), { what: 'the new serial' });
    expect(parses(srv)).toBe(2);
  });
});

describe('Corefile reloads', () => {
  /** The process's zone store (plugins/file/store.ts), as the file plugin keeps it. */
  const zones = (srv: TestServer): ZoneStore =>
    srv.server.shared<ZoneStore>('file/zones', () => {
      throw new Error('no zone store in this process');
    });

  it('a new configuration takes an unchanged (or only touched) zone without parsing it; a changed zone is still picked up', async () => {
    const db = path.join(tempDir(), 'db.r.test');
    put(db, small(1, '10.0.0.1'));
    const port = await freePort();
    const cf = (extra = ''): string => `r.test:${port} {\n bind 127.0.0.1\n debug\n${extra} file ${db} {\n  reload 50ms\n }\n}`;
    const srv = await startServer(cf());
    servers.push(srv);
    expect(parses(srv)).toBe(1);

    // a new configuration, the file untouched: not read, not parsed
    expect(await srv.server.reload('test', { text: cf(' log\n'), file: 'Corefile' })).toBe(true);
    expect(parses(srv)).toBe(1);
    expect(count(srv, /from '.*db\.r\.test' is unchanged on disk: the zone already loaded is used/)).toBe(1);
    // the file touched (new mtime, same bytes): read and hashed, not parsed
    const t = new Date(Date.now() + 5000);
    fs.utimesSync(db, t, t);
    expect(await srv.server.reload('test', { text: cf(), file: 'Corefile' })).toBe(true);
    expect(parses(srv)).toBe(1);
    expect(count(srv, /from '.*db\.r\.test' is unchanged: the zone already loaded is used/)).toBe(1);
    // one copy, held by the running configuration only
    expect(zones(srv).size).toBe(1);
    expect((await srv.query('www.r.test', 'A')).msg.answers?.[0]).toMatchObject({ data: '10.0.0.1' });

    // a new serial after the reloads: the running configuration's reload tick picks it up
    put(db, small(2, '10.0.0.2'));
    await waitFor(async () => (await srv.query('www.r.test', 'A')).msg.answers?.some((a) => a.type === 'A' && a.data === '10.0.0.2'), { what: 'the new serial' });
    expect(parses(srv)).toBe(2);
    expect(zones(srv).size).toBe(1);
    // and the next configuration takes that zone as it is
    expect(await srv.server.reload('test', { text: cf(' log\n'), file: 'Corefile' })).toBe(true);
    expect(parses(srv)).toBe(2);
    expect((await srv.query('www.r.test', 'A')).msg.answers?.[0]).toMatchObject({ data: '10.0.0.2' });

    // changed while no configuration watched it (reload off): the next configuration parses it
    const still = cf().replace('  reload 50ms', '  reload 0');
    expect(await srv.server.reload('test', { text: still, file: 'Corefile' })).toBe(true);
    put(db, small(3, '10.0.0.3'));
    expect(await srv.server.reload('test', { text: still.replace(' debug', ' debug\n log'), file: 'Corefile' })).toBe(true);
    expect(parses(srv)).toBe(3);
    expect((await srv.query('www.r.test', 'A')).msg.answers?.[0]).toMatchObject({ data: '10.0.0.3' });
    expect(zones(srv).size).toBe(1);

    // a broken file: that reload fails, the running configuration keeps its zone
    put(db, `${small(4, '10.0.0.4')}bad IN A 300.1.1.1\n`);
    expect(await srv.server.reload('test', { text: still, file: 'Corefile' })).toBe(false);
    expect((await srv.query('www.r.test', 'A')).msg.answers?.[0]).toMatchObject({ data: '10.0.0.3' });
    expect(zones(srv).size).toBe(1);
  });
});

describe('large zones', () => {
  it('a touched big file is hashed off the thread that answers queries (a new configuration takes its zone without a parse)', { timeout: 60_000 }, async () => {
    const db = path.join(tempDir(), 'db.r.test');
    // 48 MB: a small zone, then comment lines (the parse at start skips them quickly; the hash reads every byte)
    const line = `; ${'x'.repeat(1021)}\n`;
    put(db, small(1, '10.0.0.1') + line.repeat(48 * 1024));
    const port = await freePort();
    const cf = (extra = ''): string => `r.test:${port} {\n bind 127.0.0.1\n debug\n${extra} file ${db}\n}`;
    const srv = await startServer(cf());
    servers.push(srv);
    expect(parses(srv)).toBe(1);
    const t = new Date(Date.now() + 5000);
    fs.utimesSync(db, t, t);
    // the CPU time of this thread (the one that answers) during the reload: not stretched by a
    // loaded machine, as the time its event loop was busy (wall clock) is
    const before = threadCpuMs();
    expect(await srv.server.reload('test', { text: cf(' log\n'), file: 'Corefile' })).toBe(true);
    const busy = threadCpuMs() - before;
    expect(parses(srv)).toBe(1);
    expect(count(srv, /from '.*db\.r\.test' is unchanged: the zone already loaded is used/)).toBe(1);
    expect((await srv.query('www.r.test', 'A')).msg.answers?.[0]).toMatchObject({ data: '10.0.0.1' });
    // hashed here in 1 MB steps: ~180 ms of this thread's CPU; on a thread of its own: ~10 ms
    expect(busy, 'CPU ms of this thread during the reload').toBeLessThan(80);
  });

  const N = 200_000;

  it('reloading a 200,000-record zone never stops the answers for long; a broken file keeps the old zone', { timeout: 180_000 }, async () => {
    const db = path.join(tempDir(), 'db.big.test');
    put(db, big(N, 1, 'one'));
    const srv = await startServer(`big.test:0 {\n bind 127.0.0.1\n file ${db} {\n  reload 100ms\n }\n}`);
    servers.push(srv);
    const txt = async (): Promise<string> => {
      const r = await srv.query('h19.big.test', 'TXT', { timeout: 5000 });
      const a = r.msg.answers?.[0];
      return a?.type === 'TXT' ? String(a.data[0]) : '';
    };
    expect(await txt()).toBe('one 19');
    // the next versions, made before the clock starts (building them takes this thread too)
    const two = big(N, 2, 'two');
    const three = big(N, 3, 'three', 'bad IN A 300.1.1.1\n');

    // a client asking every 10 ms; the most CPU time this thread (the one that answers) spent
    // between two answers: a long stretch of work that held the answers back, told apart from a
    // wait for a core on a loaded machine (which the wall clock between answers counts too)
    let stop = false;
    let maxGap = 0;
    let maxWall = 0;
    let answers = 0;
    const client = (async () => {
      let last = threadCpuMs();
      let lastWall = Date.now();
      while (!stop) {
        await srv.query('h1000.big.test', 'A', { timeout: 30_000 });
        const now = threadCpuMs();
        maxGap = Math.max(maxGap, now - last);
        last = now;
        maxWall = Math.max(maxWall, Date.now() - lastWall);
        lastWall = Date.now();
        answers++;
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    try {
      // a new serial: the new zone is loaded while the old one answers
      const before = answers;
      put(db, two);
      await waitFor(async () => (await txt()) === 'two 19', { timeout: 120_000, what: 'the new zone' });
      expect(answers - before).toBeGreaterThan(5);
      // a broken file with a newer serial (its last line is bad): logged, the old zone stays
      const errors = count(srv, /failed to reload zone 'big.test.'/);
      put(db, three);
      await waitFor(() => count(srv, /failed to reload zone 'big.test.'/) > errors, { timeout: 120_000, what: 'the reload error' });
      expect(srv.log.lines.join('\n')).toMatch(new RegExp(`db\\.big\\.test:${N + 6}: bad A address '300\\.1\\.1\\.1'`));
      expect(await txt()).toBe('two 19');
    } finally {
      stop = true;
      await client;
    }
    // The limit leaves room for GC pauses; parsing the zone in one go stopped the answers for
    // seconds of this thread's CPU.
    expect(maxGap, `most CPU ms of the answering thread between two answers (${answers} answers; longest wall-clock wait ${maxWall} ms)`).toBeLessThan(400);
  });
});
