// Give back the heap that the initial sync left behind. Listing a big cluster parses pages of JSON
// and cuts them to slim records: tens of MB of short-lived objects, some promoted to the old
// generation, which then stays large (and fragmented) though the store itself is ~20 MB. One
// full, compacting collection right after the first sync returns it (10,000 Services / 100,000
// endpoints: RSS ~150 → ~115 MB); V8's own memory reducer would get there only after a while, if at all.
import v8 from 'node:v8';
import vm from 'node:vm';

let collect: (() => void) | null | undefined;

/**
 * Two full garbage collections, the second a moment after the first: the first finds the garbage,
 * but V8 releases the pages it emptied (and compacts fragmented ones) only on the next one.
 */
export function compactHeap(): void {
  fullGc();
  setTimeout(fullGc, 500).unref();
}

/** Run a full garbage collection now (a no-op where V8 refuses). */
function fullGc(): void {
  if (collect === undefined) {
    try {
      const g = (globalThis as { gc?: () => void }).gc;
      if (typeof g === 'function') collect = g;
      else {
        v8.setFlagsFromString('--expose-gc');
        collect = vm.runInNewContext('gc') as () => void;
      }
    } catch {
      collect = null;
    }
  }
  collect?.();
}
