#!/usr/bin/env node
// A DoH load generator (dnsperf 2.10's DoH client fails with several streams in flight: "frame
// received when already having a dns msg"): C HTTP/2 sessions, each keeping Q GET or POST streams
// in flight for D seconds, over a list of names. Prints one JSON line: qps, p50/p99 ms, failures.
//   node bench/doh-load.mjs URL QUERYFILE DURATION CLIENTS PER_CLIENT GET|POST
import http2 from 'node:http2';
import { readFileSync } from 'node:fs';
import dnsPacket from 'dns-packet';

const [url, file, dur, clients, perClient, method] = process.argv.slice(2);
const u = new URL(url);
const wires = readFileSync(file, 'utf8').trim().split('\n').map((l) => {
  const [name, type] = l.split(/\s+/);
  return dnsPacket.encode({ type: 'query', id: 0, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type }] });
});
const end = performance.now() + Number(dur) * 1000;
const lat = [];
let failed = 0;
let next = 0;
function one(session) {
  return new Promise((resolve) => {
    const q = wires[next++ % wires.length];
    const t0 = performance.now();
    const s = method === 'GET'
      ? session.request({ ':path': `${u.pathname}?dns=${q.toString('base64url')}`, accept: 'application/dns-message' })
      : session.request({ ':method': 'POST', ':path': u.pathname, 'content-type': 'application/dns-message', accept: 'application/dns-message' });
    let status = 0;
    s.on('response', (h) => (status = h[':status']));
    s.on('data', () => {});
    s.on('end', () => {
      if (status === 200) lat.push(performance.now() - t0);
      else failed++;
      resolve();
    });
    s.on('error', () => {
      failed++;
      resolve();
    });
    if (method === 'GET') s.end();
    else s.end(q);
  });
}
async function worker(session) {
  while (performance.now() < end) await one(session);
}
const sessions = Array.from({ length: Number(clients) }, () => http2.connect(u.origin, { rejectUnauthorized: false }));
const t0 = performance.now();
await Promise.all(sessions.flatMap((s) => Array.from({ length: Number(perClient) }, () => worker(s))));
const secs = (performance.now() - t0) / 1000;
for (const s of sessions) s.close();
lat.sort((a, b) => a - b);
const pick = (p) => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))];
console.log(JSON.stringify({ completed: lat.length, failed, qps: lat.length / secs, p50Ms: pick(0.5), p99Ms: pick(0.99) }));
