// THE order file: the chain order of every built-in plugin (CoreDNS's plugin.cfg). A plugin
// feels the effects of every plugin after it; it must not care what the plugins before it do.
// The order in the Corefile does not matter. External plugins (-plugin) are placed with
// before/after one of these names.
import type { PluginDefinition } from '../src/plugin/types.js';
import bind from './bind/index.js';
import errors from './errors/index.js';
import log from './log/index.js';
import whoami from './whoami/index.js';

export const builtinPlugins: PluginDefinition<any>[] = [
  bind, //        listen addresses; not in the chain
  errors, //      logs what everything below throws: first of the wrappers
  log, //         one line per query, after everything below answered
  whoami, //      a responder of last resort: answers everything it sees
];
