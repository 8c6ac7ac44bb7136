// view: split horizon. Blocks on the same zone and port are told apart by expressions over the
// query (client address, type, name, …); the core asks each block's filter() in Corefile order
// and the first that takes the query serves it (CoreDNS's Viewer). Not in the chain.
import { definePlugin, isMetadataCollector, setMetadata, type Request } from '../../src/plugin/api.js';
import { passes } from './expr.js';
import { parseView, type ViewConfig } from './setup.js';

export default definePlugin<ViewConfig>({
  name: 'view',
  api: '^1',
  once: true,
  parse: parseView,
  view: (cfg) => cfg.name,
  setup(cfg, ctx) {
    const fns = cfg.exprs.map((e) => e.fn);
    const texts = cfg.exprs.map((e) => e.text);
    // With the metadata plugin in the block, the query's metadata is collected before the
    // expressions run, as CoreDNS's server does for a view block: metadata('view/name') reads it.
    let collect: ((req: Request) => void) | undefined;
    ctx.onStartup(() => {
      const m = ctx.plugins().find((p) => isMetadataCollector(p.plugin));
      if (m !== undefined && isMetadataCollector(m.plugin)) collect = m.plugin.collect;
    });
    const name = (): string => cfg.name;
    return {
      filter(req) {
        collect?.(req);
        for (let i = 0; i < fns.length; i++) {
          if (!passes(fns[i]!, req)) {
            req.trace?.note(`view ${cfg.name}: expr ${texts[i]} is not true: not this block`);
            return false;
          }
        }
        req.trace?.note(`view ${cfg.name}: ${fns.length === 0 ? 'no expr' : `expr ${texts.join(', ')} true`}: this block`);
        return true;
      },
      metadata(req) {
        setMetadata(req, 'view/name', name);
      },
    };
  },
});
