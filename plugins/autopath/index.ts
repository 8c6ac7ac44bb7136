// autopath: server-side search path completion (CoreDNS's autopath).
import { definePlugin, Zones, type Request } from '../../src/plugin/api.js';
import { Autopath, isAutoPather } from './autopath.js';
import { parseAutopath, type AutopathConfig } from './setup.js';

export default definePlugin<AutopathConfig>({
  name: 'autopath',
  api: '^1',
  parse: parseAutopath,
  setup(cfg, ctx) {
    const success = ctx.metrics.fastCounter('success_total', 'Counter of requests that did autopath.', ['server']).lazyLabels(() => [ctx.server.label]);
    let search: (req: Request) => readonly string[] | undefined = () => cfg.search;
    if (cfg.plugin !== undefined) {
      const name = cfg.plugin;
      search = () => undefined;
      // Every plugin of the block is set up by now.
      ctx.onStartup(() => {
        const p = ctx.plugin(name);
        if (p === undefined) return; // not in this block: autopath does nothing (as CoreDNS)
        if (!isAutoPather(p)) throw new Error(`${name} does not implement the AutoPather interface`);
        search = (req) => p.autoPath(req);
      });
    }
    const handler = new Autopath(Zones.from(cfg.zones, cfg.zones), (req) => search(req), success);
    return { serve: (req, w, next) => handler.serve(req, w, next) };
  },
});
