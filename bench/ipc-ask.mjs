// How much a cluster worker pays to ask the primary for a cached reply over IPC (the design
// -workers did not take for its shared cache; bench/README.md). node bench/ipc-ask.mjs
import cluster from 'node:cluster';
const N = 20000;
if (cluster.isPrimary) {
  const reply = Buffer.alloc(80, 7).toString('base64');
  const w = cluster.fork();
  w.on('message', (m) => { if (m.t === 'q') w.send({ t: 'r', id: m.id, b: reply }); else if (m.t === 'done') { console.log(m.text); w.kill(); } });
} else {
  const pending = new Map();
  process.on('message', (m) => { const r = pending.get(m.id); pending.delete(m.id); r(m.b); });
  const ask = (id) => new Promise((res) => { pending.set(id, res); process.send({ t: 'q', id, k: `1/1/00/name${id % 1000}.bench.example.org.` }); });
  const run = async (par) => {
    const c0 = process.cpuUsage(); const t0 = process.hrtime.bigint(); let id = 0;
    await Promise.all(Array.from({ length: par }, async () => { while (id < N) await ask(id++); }));
    const ns = Number(process.hrtime.bigint() - t0); const c = process.cpuUsage(c0);
    return `${par} in flight: ${(ns / N / 1000).toFixed(1)} µs/ask wall, worker CPU ${((c.user + c.system) / N).toFixed(1)} µs/ask, ${(N / (ns / 1e9)).toFixed(0)} asks/s`;
  };
  const lines = [];
  for (const p of [1, 64, 1, 64]) lines.push(await run(p));
  process.send({ t: 'done', text: lines.join('\n') });
}
