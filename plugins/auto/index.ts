// auto: serves every zone file of a folder, picking up new, changed and removed files (CoreDNS's auto plugin).
import { definePlugin } from '../../src/plugin/api.js';
import { createAuto } from './auto.js';
import { parseAuto, type AutoConfig } from './setup.js';

export default definePlugin<AutoConfig>({
  name: 'auto',
  api: '^1',
  parse: parseAuto,
  setup(cfg, ctx) {
    return createAuto(cfg, ctx.root, ctx.log, { lookup: ctx.lookup, last: ctx.chain[ctx.chain.length - 1] === 'auto' });
  },
});
