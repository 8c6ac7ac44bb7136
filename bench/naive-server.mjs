// The naive reference server the benchmarks compare typedns with: what a Node developer writes
// first. One thread, node:dgram, a full dns-packet decode of every query, a Map of answers, a
// full dns-packet encode of every reply.
//
//   node bench/naive-server.mjs --port 5300 --records records.json [--miss-rcode NXDOMAIN]
//
// records.json: [{ name, type, answers: RR[], additionals: RR[] }] (see bench/workloads.mjs).
// A known name asked with another type gets NOERROR with no answers (NODATA); an unknown name
// gets --miss-rcode. Prints "ready <port>" once bound.
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import dnsPacket from 'dns-packet';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : def;
};

const port = Number(opt('port', '5300'));
// dns-packet encodes the rcode from the low bits of `flags`
const RCODES = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 };
const missArg = opt('miss-rcode', 'NXDOMAIN');
const missRcode = RCODES[missArg] ?? Number(missArg);
const entries = JSON.parse(readFileSync(opt('records'), 'utf8'));

/** name (lower case, no trailing dot, as dns-packet decodes it) → type → { answers, additionals }. */
const byName = new Map();
const strip = (n) => (n.endsWith('.') && n !== '.' ? n.slice(0, -1) : n);
for (const e of entries) {
  const key = strip(e.name).toLowerCase();
  let types = byName.get(key);
  if (types === undefined) byName.set(key, (types = new Map()));
  const fix = (r) => ({ ...r, name: strip(r.name), data: typeof r.data === 'object' && r.data.target ? { ...r.data, target: strip(r.data.target) } : typeof r.data === 'string' && r.type === 'PTR' ? strip(r.data) : r.data });
  types.set(e.type, { answers: e.answers.map(fix), additionals: (e.additionals ?? []).map(fix) });
}

const socket = dgram.createSocket('udp4');
socket.on('message', (buf, rinfo) => {
  let q;
  try {
    q = dnsPacket.decode(buf);
  } catch {
    return;
  }
  const question = q.questions?.[0];
  if (question === undefined) return;
  const types = byName.get(question.name.toLowerCase());
  const hit = types?.get(question.type);
  const res = {
    id: q.id,
    type: 'response',
    flags: dnsPacket.AUTHORITATIVE_ANSWER | (q.flags & dnsPacket.RECURSION_DESIRED) | (types === undefined ? missRcode : 0),
    questions: q.questions,
    answers: hit?.answers ?? [],
    additionals: hit?.additionals ?? [],
  };
  socket.send(dnsPacket.encode(res), rinfo.port, rinfo.address);
});
socket.bind(port, '127.0.0.1', () => {
  process.stdout.write(`ready ${socket.address().port}\n`);
});
process.on('SIGTERM', () => socket.close(() => process.exit(0)));
