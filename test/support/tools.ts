// The outside tools the interop tests drive (dig, kdig, curl, knotd, python's grpcio): whether one
// is installed, and a run to its exit. Each test skips, saying why, without its tool.
import { spawn, spawnSync } from 'node:child_process';

/**
 * Whether `cmd arg` (e.g. `kdig --version`) runs and exits 0; without `arg`, whether `cmd` is on
 * the PATH (for tools that have no harmless flag, e.g. `ldns-keygen`).
 */
export const hasTool = (cmd: string, arg?: string): boolean =>
  (arg === undefined ? spawnSync('which', [cmd], { stdio: 'ignore' }) : spawnSync(cmd, [arg], { stdio: 'ignore' })).status === 0;

/** dig's minor version (9.x), or undefined without dig: +tls and +https need 9.18 or later. */
export const digMinor = ((): number | undefined => {
  const v = /DiG 9\.(\d+)/.exec(spawnSync('dig', ['-v'], { encoding: 'utf8' }).stderr ?? '');
  return v === null ? undefined : Number(v[1]);
})();

export interface ToolResult {
  /** stdout as text, and as the bytes it was (binary replies). */
  out: string;
  bytes: Buffer;
  err: string;
  /** The exit code (-1 when killed by a signal). */
  code: number;
}

/** Run a command to its exit; its stdout, stderr and exit code. */
export function runTool(cmd: string, args: string[]): Promise<ToolResult> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args);
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('close', (code) => {
      const bytes = Buffer.concat(out);
      resolve({ out: bytes.toString(), bytes, err, code: code ?? -1 });
    });
  });
}
