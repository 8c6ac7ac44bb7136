// Servers and upstreams that live for one test: started through the returned functions, stopped
// after each test (newest first) by the afterEach this registers. Call at the top of a test file.
import { afterEach } from 'vitest';
import { startInProcess, startServer, type InProcessServer, type TestServer } from '../../src/testing/index.js';
import { startUpstream, type Upstream } from './upstream.js';

export interface Scoped {
  /** A programmable upstream on 127.0.0.1 (with DNS-over-TLS when `tls`). */
  upstream(tls?: boolean): Promise<Upstream>;
  server(corefile: string, plugins?: Parameters<typeof startServer>[1]): Promise<TestServer>;
  /** The Corefile set up in this process, no socket (startInProcess): for tables about what plugins answer. */
  inProcess(corefile: string, o?: Parameters<typeof startInProcess>[1]): Promise<InProcessServer>;
}

export function scopedPerTest(): Scoped {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });
  return {
    async upstream(tls = false) {
      const up = await startUpstream(0, { tls });
      cleanups.push(() => up.stop());
      return up;
    },
    async server(corefile, plugins = {}) {
      const s = await startServer(corefile, plugins);
      cleanups.push(() => s.close());
      return s;
    },
    async inProcess(corefile, o = {}) {
      const s = await startInProcess(corefile, o);
      cleanups.push(() => s.close());
      return s;
    },
  };
}
