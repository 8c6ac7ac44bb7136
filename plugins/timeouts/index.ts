// timeouts: the read, write and idle timeouts of a server block's connection listeners (TCP,
// DNS over TLS, DNS over HTTPS, gRPC), CoreDNS's timeouts plugin. Not in the chain: the values go
// to the listener through ctx.listen, as the tls and https plugins' do.
import { definePlugin, parseDuration, type Dispenser, type ListenTimeouts } from '../../src/plugin/api.js';

export type TimeoutsConfig = ListenTimeouts;

const MIN_MS = 1000;
const MAX_MS = 24 * 3_600_000;

/** A duration as Go prints a time.Duration ("0s", "500ms", "48h0m0s"), for CoreDNS's messages. */
export function goDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

export function parseTimeouts(d: Dispenser): TimeoutsConfig {
  const cfg: { read?: number; write?: number; idle?: number; maxTcpQueries?: number } = {};
  // every `timeouts` of the block, in order: a later value replaces an earlier one (as CoreDNS)
  while (d.next()) {
    if (d.remainingArgs().length > 0) throw d.argErr();
    let n = 0;
    while (d.nextBlock()) {
      const opt = d.val();
      const args = d.remainingArgs();
      if (args.length !== 1) throw d.argErr();
      if (opt === 'maxtcpqueries') {
        const a = args[0]!;
        if (!/^[-+]?\d+$/.test(a)) throw d.err(`invalid value for maxtcpqueries '${a}': not an integer`);
        const q = Number(a);
        if (q === 0 || q < -1) throw d.err(`maxtcpqueries provided '${q}' needs to be -1 (unlimited) or a positive integer`);
        cfg.maxTcpQueries = q;
        n++;
        continue;
      }
      if (opt !== 'read' && opt !== 'write' && opt !== 'idle') throw d.err(`unknown option: '${opt}'`);
      const arg = args[0]!;
      const ms = parseDuration(arg);
      // CoreDNS appends "s" to a bare number before parsing, and names it so
      if (ms === undefined) throw d.err(`failed to parse duration '${/^\d+$/.test(arg) ? `${arg}s` : arg}'`);
      if (ms < MIN_MS || ms > MAX_MS) throw d.err(`timeout provided '${goDuration(ms)}' needs to be between 1 second and 24 hours`);
      cfg[opt] = ms;
      n++;
    }
    if (n === 0) throw d.err('timeouts block with no timeouts specified');
  }
  return cfg;
}

export default definePlugin<TimeoutsConfig>({
  name: 'timeouts',
  api: '^1',
  parse: parseTimeouts,
  setup(cfg, ctx) {
    ctx.listen.timeouts = { ...ctx.listen.timeouts, ...cfg };
    return {};
  },
});
