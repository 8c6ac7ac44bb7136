// The rewrite tests' harness: rules set up in process (startInProcess, the query path without a
// socket) in front of a `responder` backend that reports, in a TXT record named `seen`, the
// request it got after the rules.
import type { DecodedPacket } from 'dns-packet';
import type { PluginDefinition } from '../../src/plugin/types.js';
import type { InProcessServer } from '../../src/testing/index.js';
import type { Scoped } from './scoped.js';

/** `withRules(lines, fn)`: a `. { bind; <lines>; responder }` block over `backend`, closed after the test. */
export function rulesOver(inProcess: Scoped['inProcess'], backend: PluginDefinition<any>) {
  return async (lines: string, fn: (s: InProcessServer) => Promise<void>): Promise<void> => {
    await fn(await inProcess(`.:0 {\n  bind 127.0.0.1\n${lines}\n  responder\n}\n`, { plugins: [backend] }));
  };
}

/** The text of the backend's `seen` TXT record in a reply ('' without one). */
export function seenOf(m: DecodedPacket): string {
  const t = (m.additionals ?? []).find((a) => a.type === 'TXT' && a.name === 'seen') as { data: Buffer[] } | undefined;
  return t ? Buffer.from(t.data[0]!).toString() : '';
}
