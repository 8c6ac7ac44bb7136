import v8 from 'node:v8';
import { writeFileSync, appendFileSync } from 'node:fs';
const out = process.env.HEAP_REPORT_FILE;
process.on('SIGUSR2', () => {
  const m = process.memoryUsage();
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, [(s.space_size / 1048576).toFixed(1), (s.space_used_size / 1048576).toFixed(1)]]));
  appendFileSync(out, JSON.stringify({ rss: (m.rss / 1048576).toFixed(1), heapTotal: (m.heapTotal / 1048576).toFixed(1), heapUsed: (m.heapUsed / 1048576).toFixed(1), external: (m.external / 1048576).toFixed(1), ab: (m.arrayBuffers / 1048576).toFixed(1), spaces }) + '\n');
});
