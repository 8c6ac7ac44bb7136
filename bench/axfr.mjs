#!/usr/bin/env node
// Zone transfer out of a large zone: start the built server (dist/src/cli.js) with `file` and
// `transfer { to * }` on a generated zone, transfer it (our own TCP client, then dig and kdig when
// present), and report per transfer: time, messages, bytes, records, the server's RSS before and
// its peak during the transfer, and the longest gap in answers to a client asking every 10 ms
// meanwhile. Then a second server pulls the zone with `secondary` and the time until it answers
// is reported. Not a test: numbers for bench/README.md.
//
//   npm run build && node bench/axfr.mjs [--records 100000] [--runs 3]
import { spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import dnsPacket from 'dns-packet';
import { askOver, cli, freePort, parseOptions } from './run.mjs';

const USAGE = `usage: node bench/axfr.mjs [--records N] [--runs N]
  --records N   records in the zone (100000)
  --runs N      transfers by each client (3)`;
const { o } = parseOptions(
  process.argv.slice(2),
  {
    records: { key: 'records', type: 'number', default: 100_000 },
    runs: { key: 'runs', type: 'number', default: 3 },
  },
  USAGE,
);

const dir = mkdtempSync(path.join(tmpdir(), 'typedns-axfr-bench-'));
const zoneFile = path.join(dir, 'db.big.test');
const lines = ['$ORIGIN big.test.', '$TTL 300', '@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300', '@ IN NS ns1', 'ns1 IN A 192.0.2.53'];
for (let i = 0; i < o.records - 3; i++) {
  const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  if (i % 10 === 9) lines.push(`h${i}.dept${i % 100} IN TXT "record ${i}"`);
  else if (i % 10 === 8) lines.push(`h${i}.dept${i % 100} IN AAAA 2001:db8::${(i & 0xffff).toString(16)}`);
  else lines.push(`h${i}.dept${i % 100} IN A ${ip}`);
}
writeFileSync(zoneFile, `${lines.join('\n')}\n`);

const rssOf = (pid) => {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0) * 1024;
};
const mb = (b) => `${(b / 1048576).toFixed(0)} MB`;

async function start(corefile, port) {
  const conf = path.join(dir, `Corefile.${port}`);
  writeFileSync(conf, corefile);
  const p = spawn(process.execPath, [cli, '-conf', conf, '-quiet'], { stdio: ['ignore', 'ignore', 'inherit'] });
  return p;
}

async function waitAnswer(sock, port, name, type, ok, ms = 120_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const r = await askOver(sock, port, name, type, { rd: false });
    if (r && ok(r)) return;
    await new Promise((res) => setTimeout(res, 20));
  }
  throw new Error(`no answer for ${name} ${type}`);
}

/** Our AXFR client: messages, bytes and records until the closing SOA. */
function axfr(port) {
  return new Promise((resolve, reject) => {
    const q = dnsPacket.encode({ type: 'query', id: 1, questions: [{ type: 'AXFR', name: 'big.test' }] });
    const sock = net.connect({ host: '127.0.0.1', port }, () => sock.write(Buffer.concat([Buffer.from([q.length >> 8, q.length & 255]), q])));
    let acc = Buffer.alloc(0);
    let msgs = 0;
    let bytes = 0;
    let records = 0;
    let soas = 0;
    sock.on('data', (d) => {
      acc = Buffer.concat([acc, d]);
      while (acc.length >= 2 && acc.length >= 2 + acc.readUInt16BE(0)) {
        const n = acc.readUInt16BE(0);
        const m = acc.subarray(2, 2 + n);
        acc = acc.subarray(2 + n);
        msgs++;
        bytes += n;
        const an = m.readUInt16BE(6);
        records += an;
        // count SOAs cheaply: decode only the last message's answers
        if (records >= o.records + 1) soas = 2;
        if (soas >= 2) {
          sock.destroy();
          resolve({ msgs, bytes, records });
          return;
        }
      }
    });
    sock.on('error', reject);
  });
}

/** Run `transfer` while a client asks every 10 ms; time, peak RSS and the longest answer gap. */
async function measured(pid, port, transfer) {
  const sock = dgram.createSocket('udp4');
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  let peak = rssOf(pid);
  let running = true;
  let maxGap = 0;
  const prober = (async () => {
    let last = performance.now();
    while (running) {
      const r = await askOver(sock, port, 'ns1.big.test', 'A', { rd: false });
      const now = performance.now();
      if (r) {
        maxGap = Math.max(maxGap, now - last);
        last = now;
      }
      peak = Math.max(peak, rssOf(pid));
      await new Promise((res) => setTimeout(res, 10));
    }
  })();
  const t0 = performance.now();
  const res = await transfer();
  const ms = performance.now() - t0;
  running = false;
  await prober;
  sock.close();
  return { ms, peak, maxGap, res };
}

const port = await freePort();
const primary = await start(`big.test:${port} {\n bind 127.0.0.1\n file ${zoneFile} {\n  reload 0\n }\n transfer {\n  to *\n }\n}\n`, port);
const probe = dgram.createSocket('udp4');
await new Promise((r) => probe.bind(0, '127.0.0.1', r));
try {
  await waitAnswer(probe, port, 'big.test', 'SOA', (r) => r.answers?.length === 1);
  const idle = rssOf(primary.pid);
  console.log(`zone: ${o.records} records (${(readFileSync(zoneFile).length / 1048576).toFixed(1)} MB file); server RSS after load ${mb(idle)}`);
  const clients = [['node client', () => axfr(port)]];
  const has = (c, a) => spawnSync(c, [a]).status === 0;
  const tool = (cmd, args) => () =>
    new Promise((resolve, reject) => {
      const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
      let n = 0;
      let tail = '';
      p.stdout.on('data', (d) => {
        const s = tail + d.toString();
        const parts = s.split('\n');
        tail = parts.pop();
        for (const l of parts) if (l && !l.startsWith(';')) n++;
      });
      p.on('close', (code) => (code === 0 ? resolve({ records: n }) : reject(new Error(`${cmd} exited ${code}`))));
    });
  if (has('dig', '-v')) clients.push(['dig AXFR', tool('dig', ['@127.0.0.1', '-p', String(port), 'AXFR', 'big.test', '+nocmd', '+nostats'])]);
  if (has('kdig', '--version')) clients.push(['kdig AXFR', tool('kdig', ['@127.0.0.1', '-p', String(port), 'AXFR', 'big.test', '+nostats'])]);
  console.log('| client | run | time | records | messages / bytes | server RSS peak | longest answer gap meanwhile |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const [label, fn] of clients) {
    for (let i = 1; i <= o.runs; i++) {
      const r = await measured(primary.pid, port, fn);
      const wire = r.res.msgs === undefined ? '' : `${r.res.msgs} / ${mb(r.res.bytes)}`;
      console.log(`| ${label} | ${i} | ${(r.ms / 1000).toFixed(2)} s | ${r.res.records} | ${wire} | ${mb(r.peak)} | ${r.maxGap.toFixed(0)} ms |`);
    }
  }
  // a typedns secondary pulls the zone
  const sport = await freePort();
  const t0 = performance.now();
  const sec = await start(`big.test:${sport} {\n bind 127.0.0.1\n secondary {\n  transfer from 127.0.0.1:${port}\n }\n}\n`, sport);
  try {
    await waitAnswer(probe, sport, `h${o.records - 4}.dept${(o.records - 4) % 100}.big.test`, 'ANY', (r) => (r.answers?.length ?? 0) > 0 && r.rcode === 'NOERROR');
    console.log(`typedns secondary: zone served ${((performance.now() - t0) / 1000).toFixed(2)} s after its start (process start included); its RSS ${mb(rssOf(sec.pid))}`);
  } finally {
    sec.kill('SIGTERM');
  }
} finally {
  probe.close();
  primary.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
  rmSync(dir, { recursive: true, force: true });
}
