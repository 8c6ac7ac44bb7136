#!/usr/bin/env node
// Large-data loading: start the built server (dist/src/cli.js) on a generated zone file or
// Kubernetes manifest, and measure what an operator sees — the time until it answers, RSS, memory
// per record, and the longest gap in answers to a client querying every 10 ms while the data is
// re-checked (unchanged file) and then reloaded (edited file). Not a test: numbers for bench/README.md.
//
//   node bench/zone-load.mjs zone [--records 1000000] [--watch 20]
//   node bench/zone-load.mjs manifest [--mb 50] [--watch 10]
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { askOver, cli, freePort, parseOptions } from './run.mjs';
import { serviceDocs } from '../test/support/service-manifest.mjs';

const USAGE = `usage: node bench/zone-load.mjs zone|manifest [options]
  --records N   zone: records in the zone (1000000)
  --mb N        manifest: size of the manifest in MB (50)
  --watch SEC   seconds of querying every 10 ms with the data unchanged (zone: 20, covering reload ticks)`;

const { o, positionals } = parseOptions(
  process.argv.slice(2),
  {
    records: { key: 'records', type: 'number', default: 1_000_000 },
    mb: { key: 'mb', type: 'number', default: 50 },
    watch: { key: 'watch', type: 'number', default: undefined },
  },
  USAGE,
  { positionals: true },
);
const mode = positionals[0];
if (mode !== 'zone' && mode !== 'manifest') throw new Error(USAGE);

const dir = mkdtempSync(path.join(tmpdir(), 'typedns-zone-load-'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Write a file line by line (a 50 MB string is not built in this process). */
async function writeLines(file, gen) {
  const out = createWriteStream(file);
  let buf = '';
  for (const line of gen) {
    buf += line;
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await new Promise((r) => out.once('drain', r));
      buf = '';
    }
  }
  out.end(buf);
  await new Promise((r) => out.on('finish', r));
}

function* zoneLines(n, serial, tag) {
  yield `$ORIGIN big.test.\n$TTL 300\n@ IN SOA ns1 hostmaster ${serial} 7200 3600 1209600 300\n@ IN NS ns1\nns1 IN A 192.0.2.53\n`;
  for (let i = 0; i < n - 3; i++) {
    const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    if (i % 10 === 9) yield `h${i} IN TXT "record ${i} ${tag}"\n`;
    else yield `h${i} IN A ${ip}\n`;
  }
}

function rssOf(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0);
  return { rss: kb('VmRSS') * 1024, hwm: kb('VmHWM') * 1024 };
}

/** Query `name` every 10 ms for `ms`; the longest time between two answers (or a timeout). */
async function probe(sock, port, name, ms, onTick) {
  const end = Date.now() + ms;
  let last = Date.now();
  let maxGap = 0;
  let n = 0;
  while (Date.now() < end) {
    const r = await askOver(sock, port, name, 'A');
    const now = Date.now();
    if (r !== undefined) {
      maxGap = Math.max(maxGap, now - last);
      last = now;
      n++;
      onTick?.(r);
    }
    await sleep(10);
  }
  maxGap = Math.max(maxGap, Date.now() - last);
  return { maxGap, answers: n };
}

async function run() {
  const port = await freePort();
  const data = path.join(dir, mode === 'zone' ? 'db.big' : 'big.yaml');
  const t0 = Date.now();
  if (mode === 'zone') await writeLines(data, zoneLines(o.records, 1, 'a'));
  else await writeLines(data, serviceDocs(o.mb * 1e6, { note: 'a' }));
  const sizeMb = (readFileSync(data).length / 1e6).toFixed(1);
  process.stdout.write(`generated ${data} (${sizeMb} MB) in ${Date.now() - t0} ms\n`);
  const corefile =
    mode === 'zone'
      ? `big.test:${port} {\n bind 127.0.0.1\n file ${data} {\n  reload 2s\n }\n}\n`
      : `cluster.local:${port} {\n bind 127.0.0.1\n kubernetes cluster.local {\n  manifests ${data}\n }\n}\n`;
  writeFileSync(path.join(dir, 'Corefile'), corefile);
  const name = mode === 'zone' ? 'h1000.big.test' : 'svc-1000.ns-0.svc.cluster.local';
  writeFileSync(path.join(dir, 'Corefile.idle'), `.:${await freePort()} {\n bind 127.0.0.1\n whoami\n}\n`);
  const idle = spawn(process.execPath, [cli, '-conf', path.join(dir, 'Corefile.idle'), '-quiet'], { stdio: 'ignore' });
  await sleep(1500);
  const base = rssOf(idle.pid).rss;
  idle.kill('SIGTERM');

  const started = Date.now();
  const srv = spawn(process.execPath, [cli, '-conf', path.join(dir, 'Corefile'), '-quiet'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const sock = dgram.createSocket('udp4');
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  let hwmStart = 0;
  for (;;) {
    if (srv.exitCode !== null) throw new Error('server exited');
    hwmStart = Math.max(hwmStart, rssOf(srv.pid).hwm);
    const r = await askOver(sock, port, name, 'A');
    if (r !== undefined && r.rcode === 'NOERROR' && r.answers.length > 0) break;
    await sleep(50);
  }
  const startMs = Date.now() - started;
  const after = rssOf(srv.pid);
  const units = mode === 'zone' ? o.records : Number(sizeMb);
  process.stdout.write(`start: answering after ${startMs} ms; RSS ${(after.rss / 1e6).toFixed(0)} MB (idle server ${(base / 1e6).toFixed(0)} MB), peak ${(after.hwm / 1e6).toFixed(0)} MB\n`);
  if (mode === 'zone') process.stdout.write(`memory: ${((after.rss - base) / units).toFixed(0)} bytes/record over the idle server\n`);

  const watch = (o.watch ?? (mode === 'zone' ? 20 : 10)) * 1000;
  const steady = await probe(sock, port, name, watch);
  process.stdout.write(`unchanged data, ${watch / 1000} s of queries every 10 ms: max gap ${steady.maxGap} ms (${steady.answers} answers), RSS ${(rssOf(srv.pid).rss / 1e6).toFixed(0)} MB\n`);

  // Edit: a new version of the file (new serial / new IPs), replaced in one step.
  const tmp = `${data}.tmp`;
  if (mode === 'zone') await writeLines(tmp, zoneLines(o.records, 2, 'b'));
  else await writeLines(tmp, serviceDocs(o.mb * 1e6, { note: 'b' }));
  if (mode === 'manifest') {
    // change one Service's address so the new state is visible
    const text = readFileSync(tmp, 'utf8').replace(/name: svc-1000\n([\s\S]*?)clusterIP: [\d.]+\n  clusterIPs: \[[\d.]+\]/, 'name: svc-1000\n$1clusterIP: 10.200.0.1\n  clusterIPs: [10.200.0.1]');
    writeFileSync(tmp, text);
  }
  const edited = Date.now();
  renameSync(tmp, data);
  let seenNew = 0;
  // manifest: svc-1000's address changes; zone: h1009's TXT carries the tag 'b' once the new zone answers
  let done = false;
  const watcher = (async () => {
    if (mode !== 'zone') return;
    const tsock = dgram.createSocket('udp4');
    await new Promise((r) => tsock.bind(0, '127.0.0.1', r));
    while (!done && !seenNew) {
      const r = await askOver(tsock, port, 'h1009.big.test', 'TXT');
      if (r !== undefined && String(r.answers?.[0]?.data?.[0] ?? '').endsWith(' b')) seenNew = Date.now() - edited;
      await sleep(50);
    }
    tsock.close();
  })();
  const reload = await probe(sock, port, name, mode === 'zone' ? 20_000 : 60_000, (r) => {
    if (!seenNew && mode === 'manifest' && r.answers?.[0]?.data === '10.200.0.1') seenNew = Date.now() - edited;
  });
  done = true;
  await watcher;
  process.stdout.write(`edited data: new answer ${seenNew ? `after ${seenNew} ms` : 'not seen'}; max gap while reloading ${reload.maxGap} ms; RSS ${(rssOf(srv.pid).rss / 1e6).toFixed(0)} MB, peak ${(rssOf(srv.pid).hwm / 1e6).toFixed(0)} MB\n`);
  sock.close();
  srv.kill('SIGTERM');
  await new Promise((r) => srv.once('exit', r));
}

try {
  await run();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
