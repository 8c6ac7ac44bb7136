// The real CLI (dist/src/cli.js, built by test/support/global-setup.ts) for the integration tests:
// run to completion (`cliRun`), or started as a long-running child process (`spawnCli`/`startCli`).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './build.js';

export const CLI = path.join(ROOT, 'dist/src/cli.js');
const run = promisify(execFile);

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the CLI with `args` in `cwd` to its exit (15 s at most). */
export async function cliRun(args: string[], cwd = ROOT): Promise<CliResult> {
  try {
    const r = await run(process.execPath, [CLI, ...args], { cwd, timeout: 15_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

export interface CliProcess {
  child: ChildProcess;
  /** stdout and stderr so far, interleaved. */
  out(): string;
  /** The exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /**
   * Resolves once the CLI printed its banner (`typedns-<version>`). Rejects when it exits first
   * (unless `orExit`: then resolves) or after `timeout` ms (then it is killed).
   */
  ready(o?: { orExit?: boolean; timeout?: number }): Promise<void>;
  /** SIGTERM (unless it has exited already); resolves with the exit code. */
  stop(): Promise<number | null>;
}

const BANNER = /typedns-\d/;

/** Start the CLI with `args` in `cwd` (and extra environment variables, node flags), without waiting for it. */
export function spawnCli(args: string[], cwd = ROOT, env: Record<string, string> = {}, nodeArgs: string[] = []): CliProcess {
  const child = spawn(process.execPath, [...nodeArgs, CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  const seen: Array<() => void> = [];
  const onData = (d: Buffer): void => {
    out += d.toString();
    if (BANNER.test(out)) for (const f of seen.splice(0)) f();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    out: () => out,
    exited,
    ready: ({ orExit = false, timeout = 10_000 } = {}) =>
      new Promise<void>((resolve, reject) => {
        if (BANNER.test(out)) return resolve();
        const t = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`not started within ${timeout} ms: ${out}`));
        }, timeout);
        seen.push(() => {
          clearTimeout(t);
          resolve();
        });
        void exited.then((code) => {
          clearTimeout(t);
          if (orExit) resolve();
          else reject(new Error(`exited ${code}: ${out}`));
        });
      }),
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Start the CLI and wait for its banner (rejects, with its output, when it exits or hangs instead). */
export async function startCli(args: string[], cwd = ROOT, env: Record<string, string> = {}, nodeArgs: string[] = []): Promise<CliProcess> {
  const c = spawnCli(args, cwd, env, nodeArgs);
  await c.ready();
  return c;
}
