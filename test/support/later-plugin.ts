// A plugin that answers each query 2 ms later (an upstream's round trip) and tells the most
// queries it held at once: what the TCP and DoH tests of maxInflight count.
import { responder } from '../../src/testing/index.js';

/** The `later` plugin, and the most queries it has had in hand at one time. */
export function laterPlugin(): { plugin: ReturnType<typeof responder>; most: () => number } {
  let now = 0;
  let most = 0;
  const plugin = responder('later', (req, w) => {
    now++;
    most = Math.max(most, now);
    return new Promise((resolve) => {
      setTimeout(() => {
        now--;
        w.write({ type: 'response', answers: [{ name: req.name, type: 'A', ttl: 0, data: '192.0.2.1' }] });
        resolve(0);
      }, 2);
    });
  });
  return { plugin, most: () => most };
}
