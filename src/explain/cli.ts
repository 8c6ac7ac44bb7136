// typedns explain NAME [TYPE] [-conf FILE] [--from IP] [--tcp] [--do] [--port N] [--repeat N] [--json]
//                  [-plugin MODULE]... [-plugins-config FILE]
// typedns explain NAME [TYPE] --server HOST:PORT [--from IP] [--tcp] [--do] [--port N] [--json]
//
// Load the Corefile as the server does (every plugin parsed and set up, the startup hooks run, so
// kubernetes has synced from its source), route the query and run it through the real chain in
// this process — no DNS socket is bound, no HTTP endpoint either — then print the trace and the
// reply. With --server, ask a running server's explain plugin instead (its real cache and state).
import http from 'node:http';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { builtinOrder } from '../../plugins/order.js';
import { PluginRegistry } from '../plugin/registry.js';
import { ConfigErrors, loadConfig } from '../config/compile.js';
import { Generation } from '../server/generation.js';
import { VERSION } from '../version.js';
import { readCorefileText } from '../corefile/read.js';
import { createLogger } from '../observe/log.js';
import { MetricsRegistry } from '../observe/metrics.js';
import { detachedProcess } from '../server/detached.js';
import { explainQuery, ExplainError, type ExplainQuery, type ExplainResult } from './explain.js';
import { renderText } from './format.js';

export const USAGE = `usage: typedns explain NAME [TYPE] [-conf FILE] [--from IP] [--tcp] [--do] [--port N] [--repeat N] [--json]
                      [-plugin MODULE]... [-plugins-config FILE]
       typedns explain NAME [TYPE] --server HOST:PORT [--from IP] [--tcp] [--do] [--port N] [--json]`;

export interface ExplainArgs {
  query: ExplainQuery;
  conf?: string;
  json: boolean;
  server?: string;
  repeat: number;
  plugins: string[];
  pluginsFile?: string;
  defaultPort: number;
}

export function parseExplainArgs(argv: readonly string[]): ExplainArgs {
  const pos: string[] = [];
  const a: Omit<ExplainArgs, 'query'> = { json: false, repeat: 1, plugins: [], defaultPort: 53 };
  const q: Partial<ExplainQuery> = {};
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    if (!raw.startsWith('-') || raw === '-') {
      pos.push(raw);
      continue;
    }
    const eq = raw.indexOf('=');
    const flag = (eq > 0 ? raw.slice(0, eq) : raw).replace(/^--/, '-');
    const val = (): string => {
      if (eq > 0) return raw.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) throw new ExplainError(`flag needs an argument: ${raw}`);
      return v;
    };
    const num = (max: number): number => {
      const v = val();
      if (!/^\d+$/.test(v) || Number(v) > max || Number(v) < 1) throw new ExplainError(`invalid value '${v}' for ${raw}`);
      return Number(v);
    };
    switch (flag) {
      case '-conf':
        a.conf = val();
        break;
      case '-from':
        q.from = val();
        break;
      case '-tcp':
        q.tcp = true;
        break;
      case '-do':
        q.do = true;
        break;
      case '-json':
        a.json = true;
        break;
      case '-port':
        q.port = num(65535);
        break;
      case '-dns.port':
      case '-p':
        a.defaultPort = num(65535);
        break;
      case '-server':
        a.server = val();
        break;
      case '-repeat':
        a.repeat = num(100);
        break;
      case '-plugin':
        a.plugins.push(val());
        break;
      case '-plugins-config':
        a.pluginsFile = val();
        break;
      default:
        throw new ExplainError(`flag provided but not defined: ${raw}`);
    }
  }
  if (pos.length === 0 || pos.length > 2) throw new ExplainError(pos.length === 0 ? 'explain: a NAME is needed' : `explain: extra arguments: ${pos.slice(2).join(' ')}`);
  if (a.server !== undefined && a.repeat !== 1) throw new ExplainError('--repeat runs in process only: with --server, ask again');
  return { ...a, query: { ...q, name: pos[0]!, ...(pos[1] !== undefined ? { type: pos[1] } : {}) } };
}

/** `typedns explain …`: the exit code (0 whatever the rcode, 1 on a configuration or connection error, 2 on bad usage). */
export async function main(argv: readonly string[], out: (s: string) => void = (s) => void process.stdout.write(s)): Promise<number> {
  let args: ExplainArgs;
  try {
    args = parseExplainArgs(argv);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  try {
    const results = args.server !== undefined ? [await askServer(args.server, args.query)] : await runLocal(args);
    if (args.json) out(`${JSON.stringify(results.length === 1 ? results[0] : results, null, 2)}\n`);
    else out(results.map(renderText).join('\n'));
    return 0;
  } catch (e) {
    if (e instanceof ConfigErrors) {
      for (const err of e.errors) process.stderr.write(`${err.message}\n`);
    } else process.stderr.write(`${(e as Error).message}\n`);
    return 1;
  }
}

async function runLocal(args: ExplainArgs): Promise<ExplainResult[]> {
  const registry = new PluginRegistry(builtinOrder);
  // loaded lazily: src/cli.ts dispatches here, and these helpers live there
  const { loadPlugins, readPluginsFile, DEFAULT_COREFILE } = await import('../cli.js');
  if (args.pluginsFile) await loadPlugins(registry, readPluginsFile(args.pluginsFile), path.dirname(path.resolve(args.pluginsFile)));
  await loadPlugins(registry, args.plugins, process.cwd());
  const src =
    args.conf !== undefined
      ? { text: readCorefileText(args.conf), file: args.conf }
      : existsSync('Corefile')
        ? { text: readCorefileText('Corefile'), file: 'Corefile' }
        : { text: DEFAULT_COREFILE, file: 'Corefile' };
  const parsed = await loadConfig(src, registry, args.defaultPort);
  // Plugin log lines go to standard error: standard output is the explanation.
  const log = createLogger((line) => void process.stderr.write(`${line}\n`));
  const proc = detachedProcess({ version: VERSION, files: parsed.files, explaining: true });
  const gen = new Generation(parsed, path.dirname(path.resolve(src.file)));
  try {
    await gen.setup(proc, log, new MetricsRegistry(), false);
    await gen.start();
    const out: ExplainResult[] = [];
    for (let i = 0; i < args.repeat; i++) out.push(await explainQuery(gen, args.query));
    return out;
  } finally {
    await gen.stop(log);
  }
}

/** GET /explain on a running server's explain plugin; the JSON it returns is printed as if run here. */
function askServer(server: string, q: ExplainQuery): Promise<ExplainResult> {
  const base = /^https?:\/\//.test(server) ? server : `http://${server}`;
  const url = new URL('/explain', base);
  url.searchParams.set('name', q.name);
  if (q.type !== undefined) url.searchParams.set('type', q.type);
  if (q.from !== undefined) url.searchParams.set('from', q.from);
  if (q.tcp) url.searchParams.set('tcp', '1');
  if (q.do) url.searchParams.set('do', '1');
  if (q.port !== undefined) url.searchParams.set('port', String(q.port));
  url.searchParams.set('format', 'json');
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: 15_000, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) {
          reject(new Error(`${url.host}: ${res.statusCode} ${body.trim()}`));
          return;
        }
        try {
          resolve(JSON.parse(body) as ExplainResult);
        } catch {
          reject(new Error(`${url.host}: the reply is not an explanation: ${body.slice(0, 200)}`));
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${url.host}: no reply within 15 s`)));
    req.on('error', (e) => reject(new Error(`cannot reach ${url.host}: ${e.message}`)));
  });
}
