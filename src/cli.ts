#!/usr/bin/env node
// typedns [-conf FILE] [-dns.port PORT|-p PORT] [-pidfile FILE] [-plugin MODULE]... [-plugins] [-quiet] [-version] [-workers N|auto]
// typedns check [-conf FILE]
// typedns explain NAME [TYPE] [-conf FILE] [--from IP] [--tcp] [--do] [--json] [--server HOST:PORT] (src/explain/cli.ts)
// typedns build-native
// The `typedns` command is bin.ts (npm's symlinks start that one); `node dist/src/cli.js` runs this file directly.
//
// Only light modules are imported at the top: under -workers N the primary runs this file too,
// and it only supervises; the server (DnsServer, the Corefile compiler, the listeners) is
// imported where a process serves or checks.
import { fork, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { builtinOrder } from '../plugins/order.js';
import { PluginRegistry } from './plugin/registry.js';
import { VERSION } from './version.js';
import { readCorefileText } from './corefile/read.js';
import { createLogger, flushLogs } from './observe/log.js';
import { TypednsError } from './plugin/errors.js';
import { isWorker, workerGroup, parseWorkers, printsBanner, runPrimary, startWorker } from './server/workers.js';
import type { TcpOptions } from './server/tcp.js';

/** CoreDNS's built-in default: every name, on the -dns.port port. */
export const DEFAULT_COREFILE = '. {\n    whoami\n    log\n}\n';

export interface CliOptions {
  conf?: string;
  port?: number;
  pidfile?: string;
  plugins: string[];
  listPlugins: boolean;
  quiet: boolean;
  version: boolean;
  check: boolean;
  pluginsFile?: string;
  /** -workers: processes serving the same addresses (src/server/workers.ts). */
  workers: number;
}

export function parseArgs(argv: string[]): CliOptions {
  const o: CliOptions = { plugins: [], listPlugins: false, quiet: false, version: false, check: false, workers: 1 };
  let i = 0;
  if (argv[0] === 'check') {
    o.check = true;
    i = 1;
  }
  const need = (flag: string): string => {
    const v = argv[++i];
    if (v === undefined) throw new Error(`flag needs an argument: ${flag}`);
    return v;
  };
  for (; i < argv.length; i++) {
    const raw = argv[i]!;
    const [flag, inline] = raw.startsWith('-') && raw.includes('=') ? [raw.slice(0, raw.indexOf('=')), raw.slice(raw.indexOf('=') + 1)] : [raw, undefined];
    const val = (): string => inline ?? need(flag);
    switch (flag.replace(/^--/, '-')) {
      case '-conf':
        o.conf = val();
        break;
      case '-dns.port':
      case '-p': {
        const v = val();
        if (!/^\d+$/.test(v) || Number(v) > 65535) throw new Error(`invalid port '${v}'`);
        o.port = Number(v);
        break;
      }
      case '-pidfile':
        o.pidfile = val();
        break;
      case '-plugin':
        o.plugins.push(val());
        break;
      case '-plugins-config':
        o.pluginsFile = val();
        break;
      case '-plugins':
        o.listPlugins = true;
        break;
      case '-quiet':
        o.quiet = true;
        break;
      case '-version':
        o.version = true;
        break;
      case '-workers':
        o.workers = parseWorkers(val());
        break;
      default:
        if (raw.startsWith('-')) throw new Error(`flag provided but not defined: ${raw}`);
        throw new Error(`extra command line arguments: ${argv.slice(i).join(' ')}`);
    }
  }
  return o;
}

/** Load external plugin modules (a path or an installed package name) into the registry. */
export async function loadPlugins(registry: PluginRegistry, specs: string[], base = process.cwd()): Promise<void> {
  const req = createRequire(path.join(base, 'noop.js'));
  for (const spec of specs) {
    let url: string;
    if (spec.startsWith('.') || path.isAbsolute(spec)) url = pathToFileURL(path.resolve(base, spec)).href;
    else {
      try {
        url = pathToFileURL(req.resolve(spec)).href;
      } catch {
        url = spec; // let import() resolve it (ESM-only packages)
      }
    }
    let mod: { default?: unknown; plugin?: unknown };
    try {
      mod = (await import(url)) as { default?: unknown };
    } catch (e) {
      throw new TypednsError('TDNS_ERR_PLUGIN_LOAD', `could not load plugin module '${spec}': ${(e as Error).message}`, { cause: e });
    }
    const def = (mod.default ?? mod.plugin) as Parameters<PluginRegistry['add']>[0];
    registry.add(def, spec);
  }
}

/** Plugin modules from an optional config file: one per line, or a YAML/JSON list under `plugins:`. */
export function readPluginsFile(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const t = text.trim();
  if (t.startsWith('{') || t.startsWith('[')) {
    const j = JSON.parse(t) as string[] | { plugins?: string[] };
    return Array.isArray(j) ? j : (j.plugins ?? []);
  }
  return text
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim().replace(/^-\s*/, ''))
    .filter((l) => l !== '' && l !== 'plugins:');
}

/** The Corefile's text: a regular file (or standard input) of at most 1 MiB (src/corefile/read.ts). */
function loadCorefile(o: CliOptions): { text: string; file: string } {
  if (o.conf !== undefined) return { text: readCorefileText(o.conf), file: o.conf };
  if (existsSync('Corefile')) return { text: readCorefileText('Corefile'), file: 'Corefile' };
  return { text: DEFAULT_COREFILE, file: 'Corefile' };
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'build-native') return buildNative(argv.slice(1));
  if (argv[0] === 'explain') return (await import('./explain/cli.js')).main(argv.slice(1));
  let o: CliOptions;
  try {
    o = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  if (o.version) {
    process.stdout.write(`typedns-${VERSION}\nnode/${process.versions.node} ${process.platform}/${process.arch}\n`);
    return 0;
  }
  if (o.workers > 1 && !isWorker() && !o.listPlugins && !o.check) return runAsPrimary(argv, o);
  // the built-ins by name: each is imported when the Corefile names it (loadConfig)
  const registry = new PluginRegistry(builtinOrder);
  try {
    // Modules named in the config file resolve from its folder; -plugin ones from the working directory.
    if (o.pluginsFile) await loadPlugins(registry, readPluginsFile(o.pluginsFile), path.dirname(path.resolve(o.pluginsFile)));
    await loadPlugins(registry, o.plugins, process.cwd());
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 1;
  }
  if (o.listPlugins) {
    process.stdout.write('Server types:\n  dns\n\nDNS plugins (in chain order):\n');
    for (const name of registry.names) {
      const from = registry.origin.get(name);
      process.stdout.write(`  dns.${name}${from ? `  (external: ${from})` : ''}\n`);
    }
    return 0;
  }
  let src: { text: string; file: string };
  try {
    src = loadCorefile(o);
  } catch (e) {
    process.stderr.write(`could not read Corefile: ${(e as Error).message}\n`);
    return 1;
  }
  const { ConfigErrors, loadConfig } = await import('./config/compile.js');
  const { CorefileError } = await import('./corefile/lexer.js');
  const { tcpOptionsFromEnv } = await import('./server/tcp.js');
  let tcp: Partial<TcpOptions>;
  try {
    tcp = tcpOptionsFromEnv();
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 1;
  }
  const port = o.port ?? 53;
  if (o.check) {
    try {
      await loadConfig(src, registry, port);
    } catch (e) {
      const errs = e instanceof ConfigErrors ? e.errors : e instanceof CorefileError ? [e] : undefined;
      if (errs === undefined) throw e;
      for (const err of errs) process.stderr.write(`${err.short}\n`);
      return 1;
    }
    process.stdout.write(`${src.file}: OK\n`);
    return 0;
  }
  const log = createLogger();
  // Last line of defence: a bug in a plugin's background work (a timer, a socket callback) must
  // not take the whole server down. It is logged and counted like a panic in the chain.
  const onStray = (what: string) => (e: unknown): void => {
    log.error(`${what}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    try {
      server.metrics.counter('coredns_panics_total', 'A metrics that counts the number of panics.').inc();
    } catch {
      // metrics not ready yet
    }
  };
  process.on('unhandledRejection', onStray('unhandled rejection'));
  process.on('uncaughtException', onStray('uncaught exception'));
  const { DnsServer } = await import('./server/server.js');
  const { releasePages } = await import('./server/trim.js');
  const server = new DnsServer({
    registry,
    defaultPort: port,
    log,
    tcp,
    quiet: o.quiet,
    // under -workers each worker binds its own native UDP socket (node:dgram ones are shared through the primary)
    reusePort: isWorker(),
    steer: workerGroup(),
    // once it serves (and after each reload, and every 30 s), pages it no longer uses leave RSS
    onSettled: (l) => void releasePages(l),
    onFatal: () => {
      flushLogs();
      process.exit(1);
    },
  });
  try {
    await server.start(src);
  } catch (e) {
    const errs = e instanceof ConfigErrors ? e.errors.map((x) => x.message) : [(e as Error).message];
    for (const m of errs) process.stderr.write(`${m}\n`);
    flushLogs();
    return 1;
  }
  if (isWorker()) await startWorker(server.metrics, (entry) => server.addReadiness(entry));
  if (o.pidfile && !isWorker()) writeFileSync(o.pidfile, `${process.pid}\n`);
  if (!o.quiet && printsBanner()) for (const line of server.banner()) process.stdout.write(`${line}\n`);
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (sig: string): void => {
      if (stopping) {
        if (sig === 'SIGINT') process.exit(1);
        return;
      }
      stopping = true;
      log.info(`${sig}: shutting down`);
      void server.stop(5000).then(() => {
        if (o.pidfile && !isWorker()) removePidfile(o.pidfile);
        flushLogs();
        resolve(0);
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGUSR1', () => void server.reload('SIGUSR1'));
    process.on('SIGHUP', () => {});
  });
}

/**
 * The primary of -workers N: check the Corefile once (one error report, not one per worker), then
 * fork the workers and supervise them (src/server/workers.ts). The check runs in a child process
 * (primary-check.ts) that exits before the workers start: the plugins and the server code it
 * imports to run the plugins' parsers go with it, not kept by a process that only supervises (on
 * a thread they were freed but 17 MB of RSS stayed; bench/README.md, "-workers").
 */
async function runAsPrimary(argv: string[], o: CliOptions): Promise<number> {
  const errors = await new Promise<string[]>((resolve) => {
    const c = fork(fileURLToPath(new URL('./primary-check.js', import.meta.url)), argv, { stdio: 'inherit' });
    let got: string[] | undefined;
    c.once('message', (m: string[]) => {
      got = m;
      c.kill(); // whatever a plugin's parser left running (a timer) must not keep it
    });
    c.once('error', (e) => (got ??= [`checking the Corefile: ${e.message}`]));
    c.once('exit', () => resolve(got ?? ['checking the Corefile: the check stopped without a result']));
  });
  if (errors.length > 0) {
    for (const m of errors) process.stderr.write(`${m}\n`);
    return 1;
  }
  if (o.pidfile) writeFileSync(o.pidfile, `${process.pid}\n`);
  const code = await runPrimary(o.workers, createLogger());
  if (o.pidfile) removePidfile(o.pidfile);
  return code;
}

/**
 * What the primary's check reports for `argv` (the CLI's arguments): every error a worker would
 * stop on before it serves — a plugin module that does not load, a Corefile that cannot be read
 * or does not compile, bad TCP settings in the environment — as the lines to print; none: it
 * would start. Runs in primary-check.ts's process.
 */
export async function startErrors(argv: string[]): Promise<string[]> {
  const o = parseArgs(argv);
  const registry = new PluginRegistry(builtinOrder);
  try {
    if (o.pluginsFile) await loadPlugins(registry, readPluginsFile(o.pluginsFile), path.dirname(path.resolve(o.pluginsFile)));
    await loadPlugins(registry, o.plugins, process.cwd());
  } catch (e) {
    return [(e as Error).message];
  }
  let src: { text: string; file: string };
  try {
    src = loadCorefile(o);
  } catch (e) {
    return [`could not read Corefile: ${(e as Error).message}`];
  }
  const { ConfigErrors, loadConfig } = await import('./config/compile.js');
  const { tcpOptionsFromEnv } = await import('./server/tcp.js');
  try {
    tcpOptionsFromEnv();
    await loadConfig(src, registry, o.port ?? 53);
  } catch (e) {
    return e instanceof ConfigErrors ? e.errors.map((x) => x.message) : [(e as Error).message];
  }
  return [];
}

function removePidfile(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}

/**
 * `typedns build-native`: compile the native UDP socket for the Node.js running this command
 * (scripts/build-native.mjs, shipped in the package), e.g. after installing on another Node
 * version or platform than the one the package was packed on. Fails loudly: exit 1 with the reason.
 */
async function buildNative(args: string[]): Promise<number> {
  if (args.length > 0) {
    process.stderr.write(`build-native takes no arguments: ${args.join(' ')}\n`);
    return 2;
  }
  const { nativeBuildScript } = await import('./server/native-module.js');
  const script = nativeBuildScript();
  if (script === undefined) {
    process.stderr.write('build-native: scripts/build-native.mjs is not in this installation of typedns\n');
    return 1;
  }
  const r = spawnSync(process.execPath, [script, '--strict'], { stdio: 'inherit' });
  if (r.error) {
    process.stderr.write(`build-native: ${r.error.message}\n`);
    return 1;
  }
  return r.status ?? 1;
}

/** Run the CLI and exit with its status; an error that escapes main is printed, status 1. */
export function run(argv: string[]): void {
  main(argv).then(
    (code) => {
      flushLogs();
      process.exit(code);
    },
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    },
  );
}

/**
 * Whether node was started on this file (`node dist/src/cli.js`, also through a symlink or
 * without the extension), as opposed to imported (by bin.ts, the package's index, a test).
 * Compared as real paths: import.meta.url has symlinks resolved, process.argv[1] does not.
 */
function startedOnThisFile(): boolean {
  const arg = process.argv[1];
  if (arg === undefined) return false;
  let self: string;
  try {
    self = realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
  for (const p of [arg, `${arg}.js`]) {
    try {
      return realpathSync(p) === self;
    } catch {
      // not a file: try the next spelling
    }
  }
  return false;
}

if (startedOnThisFile()) run(process.argv.slice(2));
