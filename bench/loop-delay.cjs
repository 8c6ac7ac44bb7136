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
