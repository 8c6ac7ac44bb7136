// A reload's parse, on a worker thread that DnsServer starts at its first reload and keeps: read the Corefile (regular file, at most 1 MiB), expand
// its imports, check the keys and run every built-in plugin's parser — what `typedns check` does —
// so that a Corefile that takes long to read or expand never stalls the thread that answers
// queries. The main thread gets back the grouped tokens (plain data) or the errors, and only
// then runs the plugins' parsers again (their configs are not plain data) and sets up the new
// generation. External plugins (-plugin) are not loaded here: their directive names are known
// (so they are not "unknown directive"), and their parsers run on the main thread only.
import { parentPort } from 'node:worker_threads';
import { builtinOrder } from '../../plugins/order.js';
import { PluginRegistry } from '../plugin/registry.js';
import { parseCorefile, type ServerBlock } from '../corefile/parser.js';
import { CorefileError } from '../corefile/lexer.js';
import { CorefileReadError, readCorefileText } from '../corefile/read.js';
import { compileLoading, ConfigErrors } from '../config/compile.js';

export interface ParseJob {
  readonly file: string;
  /** The text to parse; undefined: read `file`. */
  readonly text: string | undefined;
  /** Every directive the main thread's registry knows. */
  readonly directives: string[];
  readonly defaultPort: number;
}

export type ParseReply =
  | { ok: true; text: string; blocks: ServerBlock[]; files: string[] }
  | { ok: false; errors: Array<{ file: string; line: number; detail: string }> }
  | { ok: false; message: string };

/** The built-ins, each imported the first time a Corefile parsed here names it; kept between jobs. */
const registry = new PluginRegistry(builtinOrder);

async function run(job: ParseJob): Promise<ParseReply> {
  let text: string;
  try {
    text = job.text ?? readCorefileText(job.file);
  } catch (e) {
    return { ok: false, message: `could not read Corefile: ${e instanceof CorefileReadError ? e.message : (e as Error).message}` };
  }
  const known = new Set(job.directives);
  try {
    const res = parseCorefile(text, job.file, { isDirective: (n) => known.has(n) });
    await compileLoading(res.blocks, res.files, registry, job.defaultPort);
    return { ok: true, text, blocks: res.blocks, files: res.files };
  } catch (e) {
    const errs = e instanceof ConfigErrors ? e.errors : e instanceof CorefileError ? [e] : undefined;
    if (errs === undefined) return { ok: false, message: e instanceof Error ? e.message : String(e) };
    return { ok: false, errors: errs.map((x) => ({ file: x.file, line: x.line, detail: x.detail })) };
  }
}

/** One job per message; the thread stays up between reloads (importing the plugins is the slow part). */
parentPort?.on('message', (m: { id: number; job: ParseJob }) => {
  void run(m.job).then(
    (reply) => parentPort!.postMessage({ id: m.id, reply }),
    (e: unknown) => parentPort!.postMessage({ id: m.id, reply: { ok: false, message: e instanceof Error ? e.message : String(e) } }),
  );
});
