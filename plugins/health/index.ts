// health: GET /health answers 200 "OK" while the process runs. Process-wide: one HTTP listener
// per address, shared by every block and kept across reloads. `lameduck DUR` makes shutdown keep
// answering DNS for DUR first (ready reports "Shutting down" meanwhile; /health stays OK, as in
// CoreDNS, so the liveness probe does not kill a draining pod). A self-check once per second
// feeds coredns_health_request_duration_seconds and coredns_health_request_failures_total.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { definePlugin, type Plugin, addressArg, httpListeners, httpText, type HttpHandle } from '../../src/plugin/api.js';

export interface HealthConfig {
  address: string;
  /** Milliseconds; 0 = none. */
  lameduck: number;
}

export interface HealthPlugin extends Plugin {
  readonly handle: HttpHandle;
}

/** Self-check period (CoreDNS: once per second). */
export const CHECK_INTERVAL = 1000;

export default definePlugin<HealthConfig>({
  name: 'health',
  api: '^1',
  once: true,
  parse(d) {
    d.next();
    const cfg: HealthConfig = { address: addressArg(d, ':8080'), lameduck: 0 };
    while (d.nextBlock()) {
      switch (d.val()) {
        case 'lameduck': {
          const ms = d.duration();
          d.noMoreArgs();
          if (ms <= 0) throw d.err(`lameduck duration must be positive`);
          cfg.lameduck = ms;
          break;
        }
        default:
          throw d.unknownProperty();
      }
    }
    return cfg;
  },
  async setup(cfg, ctx): Promise<HealthPlugin> {
    const duration = ctx.metrics.histogram(
      'request_duration_seconds',
      'Time in seconds the once-a-second self-check of /health took.',
      [],
      [0.00025, 0.0025, 0.025, 0.25, 2.5],
    );
    const failures = ctx.metrics.counter('request_failures_total', 'Self-checks of /health that failed.');
    const handle = await httpListeners(ctx.process).acquire(cfg.address, '/health', (_req, res) => httpText(res, 200, 'OK'));
    if (cfg.lameduck > 0) ctx.lameduck(cfg.lameduck);
    const target = `${handle.url}/health`;
    let checking = false;
    const check = (): void => {
      // Only the generation that serves the route checks it, and never two checks at once.
      if (checking || !handle.owns()) return;
      checking = true;
      const t0 = performance.now();
      let finished = false;
      const done = (ok: boolean): void => {
        if (finished) return;
        finished = true;
        checking = false;
        duration.observe((performance.now() - t0) / 1000);
        if (!ok) failures.inc();
      };
      const req = http.get(target, { timeout: 5000, agent: false }, (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode === 200));
        res.on('error', () => done(false));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => done(false));
    };
    const timer = setInterval(check, CHECK_INTERVAL);
    timer.unref();
    return {
      handle,
      async close() {
        clearInterval(timer);
        await handle.release();
      },
    };
  },
});
