// The in-process harness of the vitest benchmarks (chain.bench.ts, kubernetes.bench.ts): real
// server blocks set up from a Corefile (typedns/testing's startInProcess), driven through
// serveQuery (wire parse → route → chain → writer → reply bytes) without sockets.
import { startInProcess, type InProcessServer } from '../src/testing/inprocess.js';
import { serveQuery, type ServeContext } from '../src/server/serve.js';
import type { Sender } from '../src/request/writer.js';

export interface Harness {
  /** A ServeContext for a Corefile's only listener, as the UDP listener would hold it. */
  contextFor(corefile: string): Promise<ServeContext>;
  /** A bench function answering `queries` in turn. */
  driver(ctx: ServeContext, queries: Buffer[]): () => void;
  /** Bytes of replies written so far. */
  readonly bytes: number;
  close(): Promise<void>;
}

/** `dir` holds the Corefiles' data files (relative paths resolve there). */
export function harness(dir: string): Harness {
  const servers: InProcessServer[] = [];
  let bytes = 0;
  const sender: Sender = { send: (buf) => void (bytes += buf.length) };
  const client = { ip: '127.0.0.1', port: 40000, family: 4 as const };
  const local = { ip: '127.0.0.1', port: 53 };
  return {
    async contextFor(corefile) {
      const s = await startInProcess(corefile, { dir });
      servers.push(s);
      return s.context;
    },
    driver(ctx, queries) {
      let i = 0;
      return () => {
        serveQuery(ctx, queries[i]!, client, local, 'udp', sender);
        i = (i + 1) % queries.length;
      };
    },
    get bytes() {
      return bytes;
    },
    async close() {
      for (const s of servers.splice(0)) await s.close();
    },
  };
}
