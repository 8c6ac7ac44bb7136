// reload: every INTERVAL (± JITTER) hash the Corefile and every file it imports (SHA-512) and,
// when the hash changed, ask the process to reload. A new Corefile that fails to parse or set up
// leaves the running one in place (the core counts coredns_reload_failed_total).
//
// Files are re-read by path on every check, never watched: a Kubernetes ConfigMap volume updates
// by swapping a symlink (..data → ..2024_…), which inode watches miss.
//
// The timer belongs to one config generation and stops when it closes; the next generation's
// reload plugin (if any) starts its own.
import { createHash, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { definePlugin, parseDuration, type Plugin } from '../../src/plugin/api.js';

export interface ReloadConfig {
  /** Milliseconds. */
  interval: number;
  jitter: number;
}

export const MIN_INTERVAL = 2000;
export const MIN_JITTER = 1000;

/** SHA-512 over the files, in order; undefined when one cannot be read (mid-swap): try again later. */
export function hashFiles(files: readonly string[]): string | undefined {
  const h = createHash('sha512');
  for (const f of files) {
    try {
      h.update(readFileSync(f));
    } catch {
      return undefined;
    }
    h.update('\0');
  }
  return h.digest('hex');
}

export default definePlugin<ReloadConfig>({
  name: 'reload',
  api: '^1',
  once: true,
  parse(d) {
    d.next();
    const args = d.remainingArgs();
    if (args.length > 2) throw d.argErr();
    const cfg: ReloadConfig = { interval: 30_000, jitter: 15_000 };
    const dur = (s: string, what: string): number => {
      const sub = parseDuration(s);
      if (sub === undefined) throw d.err(`invalid ${what} '${s}', expected e.g. 30s`);
      return sub;
    };
    if (args[0] !== undefined) {
      cfg.interval = dur(args[0], 'interval');
      if (cfg.interval < MIN_INTERVAL) throw d.err(`interval value must be greater or equal to 2s, got ${args[0]}`);
    }
    if (args[1] !== undefined) {
      cfg.jitter = dur(args[1], 'jitter');
      if (cfg.jitter !== 0 && cfg.jitter < MIN_JITTER) throw d.err(`jitter value must be 0s or greater or equal to 1s, got ${args[1]}`);
    }
    if (cfg.jitter > cfg.interval / 2) cfg.jitter = Math.floor(cfg.interval / 2);
    if (d.nextBlock()) throw d.unknownProperty();
    return cfg;
  },
  setup(cfg, ctx): Plugin {
    const proc = ctx.process;
    const failed = ctx.metrics.counter('failed_total', 'Counter of the number of failed reload attempts.');
    const version = ctx.metrics.gauge('version_info', 'A metric with a constant 1 value, labeled by the hash of the running configuration.', ['hash', 'value']);
    void failed;
    let hash: string | undefined;
    let timer: NodeJS.Timeout | undefined;
    let closed = false;

    const schedule = (): void => {
      if (closed) return;
      const spread = cfg.jitter > 0 ? randomInt(-cfg.jitter, cfg.jitter + 1) : 0;
      timer = setTimeout(() => void tick(), Math.max(1, cfg.interval + spread));
      timer.unref();
    };
    const tick = async (): Promise<void> => {
      timer = undefined;
      if (closed) return;
      const now = hashFiles(proc.files);
      if (now !== undefined && now !== hash) {
        // Remember it whatever happens, so a broken Corefile is tried once, not every interval.
        hash = now;
        ctx.log.info('Reloading');
        await proc.reload('reload plugin: configuration changed');
        // On success this generation is closed by now and the new one has its own timer.
      }
      schedule();
    };

    ctx.onListening(() => {
      hash = hashFiles(proc.files);
      if (hash !== undefined) {
        version.reset();
        version.labels('sha512', hash).set(1);
        ctx.log.info(`Running configuration SHA512 = ${hash}`);
      }
      schedule();
    });
    return {
      close() {
        closed = true;
        if (timer) clearTimeout(timer);
        timer = undefined;
      },
    };
  },
});
