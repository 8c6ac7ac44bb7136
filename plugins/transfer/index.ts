// transfer: answers AXFR/IXFR for the zones of file and secondary, and sends NOTIFY (CoreDNS's transfer plugin).
import { definePlugin } from '../../src/plugin/api.js';
import { parseTransfer, type TransferConfig } from './setup.js';
import { createTransfer } from './transfer.js';

export default definePlugin<TransferConfig>({
  name: 'transfer',
  api: '^1',
  parse: parseTransfer,
  setup(cfg, ctx) {
    return createTransfer(cfg, ctx);
  },
});
