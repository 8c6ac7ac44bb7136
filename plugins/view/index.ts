// view: split horizon. Blocks on the same zone and port are told apart by expressions over the
// query (client address, type, name, …); the core asks each block's filter() in Corefile order
// and the first that takes the query serves it (CoreDNS's Viewer). Not in the chain.
import { definePlugin } from '../../src/plugin/api.js';
import { passes } from './expr.js';
import { parseView, type ViewConfig } from './setup.js';

export default definePlugin<ViewConfig>({
  name: 'view',
  api: '^1',
  once: true,
  parse: parseView,
  view: (cfg) => cfg.name,
  setup(cfg) {
    const fns = cfg.exprs.map((e) => e.fn);
    return {
      filter(req) {
        for (const f of fns) if (!passes(f, req)) return false;
        return true;
      },
    };
  },
});
