// Polling and ports for tests that start real things: `await waitFor(() => srv.log.lines.length > 0)`,
// `const port = await freePort()`.
import net from 'node:net';

export interface WaitOptions {
  /** Give up after this many ms (default 5000). */
  timeout?: number;
  /** Poll every this many ms (default 20). */
  interval?: number;
  /** Named in the timeout error: `timed out after 5000 ms waiting for <what>`. */
  what?: string;
}

/**
 * Call `cond` until it returns (or resolves to) a truthy value, and return that value; throw when
 * `timeout` ms pass first. A number as the second argument is the timeout. An error thrown by
 * `cond` ends the wait with that error.
 */
export async function waitFor<T>(cond: () => T | Promise<T>, o: number | WaitOptions = {}): Promise<Exclude<T, false | 0 | '' | null | undefined>> {
  const { timeout = 5000, interval = 20, what = 'the condition' } = typeof o === 'number' ? { timeout: o } : o;
  const end = Date.now() + timeout;
  for (;;) {
    const v = await cond();
    if (v) return v as Exclude<T, false | 0 | '' | null | undefined>;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** A TCP port that was free on 127.0.0.1 a moment ago (for a child process or a fixed `.:PORT` key). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}
