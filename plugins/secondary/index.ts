// secondary: zones transferred in by AXFR from a primary and served (CoreDNS's secondary plugin).
import { definePlugin } from '../../src/plugin/api.js';
import { parseSecondary, type SecondaryConfig } from './setup.js';
import { createSecondary } from './secondary.js';

export default definePlugin<SecondaryConfig>({
  name: 'secondary',
  api: '^1',
  parse: parseSecondary,
  setup(cfg, ctx) {
    return createSecondary(cfg, ctx);
  },
});
