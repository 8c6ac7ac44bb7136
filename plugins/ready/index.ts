// ready: GET /ready answers 200 "OK" once every plugin that reports readiness (ready()) is ready,
// else 503 with the sorted, comma-separated names of those that are not; 503 "Shutting down"
// while the process shuts down (lameduck). With `monitor until-ready` (the default) readiness is
// not re-checked once reached; `monitor continuously` checks on every request.
import { definePlugin, type Plugin, addressArg, httpListeners, httpText, type HttpHandle } from '../../src/plugin/api.js';

export interface ReadyConfig {
  address: string;
  continuously: boolean;
}

export interface ReadyPlugin extends Plugin {
  readonly handle: HttpHandle;
}

export default definePlugin<ReadyConfig>({
  name: 'ready',
  api: '^1',
  once: true,
  parse(d) {
    d.next();
    const cfg: ReadyConfig = { address: addressArg(d, ':8181'), continuously: false };
    while (d.nextBlock()) {
      switch (d.val()) {
        case 'monitor': {
          const mode = d.arg();
          d.noMoreArgs();
          if (mode === 'until-ready') cfg.continuously = false;
          else if (mode === 'continuously') cfg.continuously = true;
          else throw d.err(`unknown monitor mode '${mode}', expected until-ready or continuously`);
          break;
        }
        default:
          throw d.unknownProperty();
      }
    }
    return cfg;
  },
  async setup(cfg, ctx): Promise<ReadyPlugin> {
    const proc = ctx.process;
    let reached = false;
    const handle = await httpListeners(proc).acquire(cfg.address, '/ready', (_req, res) => {
      if (proc.shuttingDown) return httpText(res, 503, 'Shutting down');
      if (reached && !cfg.continuously) return httpText(res, 200, 'OK');
      const notReady = new Set<string>();
      for (const r of proc.readiness) {
        let ok: boolean;
        try {
          ok = r.ready();
        } catch {
          ok = false;
        }
        if (!ok) notReady.add(r.name);
      }
      if (notReady.size === 0) {
        reached = true;
        return httpText(res, 200, 'OK');
      }
      httpText(res, 503, [...notReady].sort().join(','));
    });
    return {
      handle,
      close: () => handle.release(),
    };
  },
});
