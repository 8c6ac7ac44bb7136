// debug: turns on debug logging (ctx.log.debug) for the plugins of its server block. It declares
// `debugLog`, which the core reads when it builds the block's logger; the plugin itself does
// nothing per query (it has no serve, so it is not in the chain).
import { definePlugin } from '../../src/plugin/api.js';

export default definePlugin<Record<string, never>>({
  name: 'debug',
  api: '^1',
  once: true,
  debugLog: true,
  parse(d) {
    d.next();
    if (d.countRemainingArgs() > 0) throw d.argErr();
    if (d.nextBlock()) throw d.unknownProperty();
    return {};
  },
  setup(_cfg, ctx) {
    ctx.log.debug('debug logging on');
    return {};
  },
});
