// Preloaded into the server by `bench/hostile.mjs --loop-delay` (node -r): samples the event
// loop's delay (perf_hooks.monitorEventLoopDelay, 1 ms resolution) and appends one line per
// second to $TYPEDNS_LOOP_DELAY_FILE: "<epoch ms> <max ms> <p99 ms> <mean ms>". A long synchronous
// stretch on the thread that answers queries shows as a high max in its second.
'use strict';
const { monitorEventLoopDelay } = require('node:perf_hooks');
const { appendFileSync } = require('node:fs');
const file = process.env.TYPEDNS_LOOP_DELAY_FILE;
if (file && require('node:worker_threads').isMainThread) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  setInterval(() => {
    const ms = (ns) => (ns / 1e6).toFixed(2);
    appendFileSync(file, `${Date.now()} ${ms(h.max)} ${ms(h.percentile(99))} ${ms(h.mean)}\n`);
    h.reset();
  }, 1000).unref();
}
// With TYPEDNS_LOOP_STALLS_FILE: every stall of 20 ms or more, as "<CLOCK_MONOTONIC µs at its end> <ms>"
// (the clock of a V8 CPU profile's timestamps: look at what ran just before).
const stalls = process.env.TYPEDNS_LOOP_STALLS_FILE;
if (stalls && require('node:worker_threads').isMainThread) {
  let last = process.hrtime.bigint();
  setInterval(() => {
    const now = process.hrtime.bigint();
    const ms = Number(now - last) / 1e6 - 1;
    if (ms >= 20) appendFileSync(stalls, `${now / 1000n} ${ms.toFixed(1)}\n`);
    last = now;
  }, 1).unref();
}
// With TYPEDNS_LOOP_GC_FILE: every GC pause, as "<CLOCK_MONOTONIC µs at its start> <ms> <kind>"
// (kind: 1 scavenge, 2 minor mark-sweep, 4 mark-compact, 8 incremental marking step, 16 weak callbacks).
const gcFile = process.env.TYPEDNS_LOOP_GC_FILE;
if (gcFile && require('node:worker_threads').isMainThread) {
  const { PerformanceObserver, performance } = require('node:perf_hooks');
  const origin = process.hrtime.bigint() / 1000n - BigInt(Math.round(performance.now() * 1000));
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      appendFileSync(gcFile, `${origin + BigInt(Math.round(e.startTime * 1000))} ${e.duration.toFixed(1)} ${e.detail?.kind}\n`);
    }
  }).observe({ entryTypes: ['gc'] });
}
