// dns64: DNS64 synthesis of AAAA records from A records (RFC 6147), CoreDNS's dns64 plugin.
import { definePlugin } from '../../src/plugin/api.js';
import { Dns64 } from './dns64.js';
import { parseDns64, type Dns64Config } from './setup.js';

export default definePlugin<Dns64Config>({
  name: 'dns64',
  api: '^1',
  parse: parseDns64,
  setup(cfg, ctx) {
    const translated = ctx.metrics.fastCounter('requests_translated_total', 'Counter of DNS requests translated by dns64.', ['server']).lazyLabels(() => [ctx.server.label]);
    const h = new Dns64(cfg, ctx.lookup, translated);
    return { serve: (req, w, next) => h.serve(req, w, next) };
  },
});
