// The manifests source's parser thread: reads one manifest file, parses its YAML or JSON and cuts
// the objects to slim records (manifests.ts readManifestFile), off the thread that answers
// queries. The records go back in batches of BATCH, so that taking each message in (a structured
// clone) costs the main thread a millisecond or so, never the whole file at once.
import { parentPort } from 'node:worker_threads';
import { readManifestFile, type FileObjects } from './manifests.js';
import type { Selector } from './selector.js';

/** Main → worker: parse a file, or send the next batch of the file being sent. */
export type ParseRequest = { readonly id: number; readonly file: string; readonly labels: Selector | undefined } | { readonly id: number; readonly next: true };

/** Worker → main: a batch of records, then the end of the file (or its error). */
export type ParseReply =
  | { readonly id: number; readonly part: Partial<Pick<FileObjects, 'services' | 'slices' | 'pods' | 'namespaces'>> }
  | { readonly id: number; readonly used: string[] }
  | { readonly id: number; readonly error: string };

const BATCH = 1000;

/** The batches of the file being sent, and the end message. */
let queue: ParseReply[] = [];

parentPort?.on('message', (m: ParseRequest) => {
  const port = parentPort!;
  if ('next' in m) {
    const reply = queue.shift();
    if (reply !== undefined && reply.id === m.id) port.postMessage(reply);
    return;
  }
  queue = [];
  let objs: FileObjects;
  try {
    objs = readManifestFile(m.file, m.labels);
  } catch (e) {
    port.postMessage({ id: m.id, error: (e as Error).message } satisfies ParseReply);
    return;
  }
  for (const kind of ['services', 'slices', 'pods', 'namespaces'] as const) {
    const list = objs[kind];
    for (let i = 0; i < list.length; i += BATCH) queue.push({ id: m.id, part: { [kind]: list.slice(i, i + BATCH) } });
  }
  queue.push({ id: m.id, used: objs.used });
  port.postMessage(queue.shift()!);
});
