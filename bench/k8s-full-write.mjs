// The time of a full write of the kubernetes plugin's copy as bytes (plugins/kubernetes/bytes.ts,
// what the leader of -workers N writes into shared memory) at 10,000 Services × 10 endpoints:
// wall and CPU time of 11 full writes at once, medians; then 5 full writes a slice at a time (as a
// compaction is done): the slices per write, the longest slice, the time from start to end. After `npm run build` and
// `npx tsc -p bench/tsconfig.json` (dist/test/support/k8s-objects.js):
// node bench/k8s-full-write.mjs [ROOT] (ROOT: another build's checkout).
const root = process.argv[2] ?? new URL('..', import.meta.url).pathname.replace(/\/$/, '');
const { ClusterStore } = await import(`${root}/dist/plugins/kubernetes/store.js`);
const { ClusterBytesWriter } = await import(`${root}/dist/plugins/kubernetes/bytes.js`);
const { convertService, convertSlice, convertNamespace } = await import(`${root}/dist/plugins/kubernetes/watch/convert.js`);
const { service, endpointSlice, namespace } = await import(`${root}/dist/test/support/k8s-objects.js`);
const N = 10_000;
const st = new ClusterStore();
for (let i = 0; i < 100; i++) st.upsertNamespace(convertNamespace(namespace(`ns${i}`)));
for (let i = 0; i < N; i++) st.upsertService(convertService(service(`ns${i % 100}`, `svc${i}`, `10.96.${(i >> 8) & 255}.${i & 255}`, { ports: [{ name: 'http', port: 80 }] })));
for (let i = 0; i < N; i++) st.upsertSlice(convertSlice(endpointSlice(`ns${i % 100}`, `svc${i}`, `svc${i}-a`, Array.from({ length: 10 }, (_, j) => ({ ip: `10.${100 + (i >> 12)}.${(i >> 4) & 255}.${((i & 15) << 4) + j}` })))));
st.synced = true;
st.commit();
// a sliced write's slices run as setImmediate would run them, each one timed
let slices = [];
let phases = [];
const w = ClusterBytesWriter.attach(st, {
  schedule: (f) =>
    setImmediate(() => {
      const phase = w.writing;
      const t = performance.now();
      f();
      slices.push(performance.now() - t);
      phases.push(phase);
    }),
});
const times = [];
const cpu = [];
for (let k = 0; k < 11; k++) {
  const t = performance.now();
  const c = process.cpuUsage();
  w.rewrite(); // (private in TypeScript: what the writer does itself on a compaction or when full)
  const d = process.cpuUsage(c);
  times.push(performance.now() - t);
  cpu.push((d.user + d.system) / 1000);
}
const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1].toFixed(0);
console.log(root, 'full write ms median', med(times), 'cpu ms median', med(cpu), 'min', Math.min(...cpu).toFixed(0), 'used MB', (w.used / 1048576).toFixed(1), 'buffer MB', (w.buffer.byteLength / 1048576).toFixed(1));

if (w.slicedWrites !== undefined) {
  for (let k = 0; k < 5; k++) {
    slices = [];
    phases = [];
    const t = performance.now();
    const c = process.cpuUsage();
    const before = w.slicedWrites;
    w.beginSliced(); // (private in TypeScript: what a compaction starts)
    while (w.slicedWrites === before) await new Promise((r) => setImmediate(r));
    const d = process.cpuUsage(c);
    const sorted = [...slices].sort((x, y) => x - y);
    const worst = slices.indexOf(sorted.at(-1));
    console.log(`sliced write: ${slices.length} slices, longest ${sorted.at(-1).toFixed(1)} ms (phase ${phases[worst]}${worst === slices.length - 1 ? ', the last' : ''}), p50 ${sorted[sorted.length >> 1].toFixed(1)} ms, start to end ${(performance.now() - t).toFixed(0)} ms, cpu ${((d.user + d.system) / 1000).toFixed(0)} ms`);
  }
}
