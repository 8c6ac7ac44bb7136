// Every built-in plugin's definition, imported, in chain order (plugins/order.ts): for embedders
// and tests that build a PluginRegistry with everything loaded, so that the synchronous
// parseConfig can run on any Corefile. A server started by the CLI imports only what its
// Corefile names (PluginRegistry.load).
import type { PluginDefinition } from '../src/plugin/types.js';
import { builtinOrder } from './order.js';

export const builtinPlugins: PluginDefinition<any>[] = await Promise.all(builtinOrder.map((p) => p.load()));
