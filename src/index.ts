// "typedns": embed the server in another program.
export { DnsServer } from './server/server.js';
export { parseConfig, parseConfigFile, loadConfig, ConfigErrors, type CorefileSource } from './config/compile.js';
export { VERSION } from './version.js';
export { PluginRegistry, API_VERSION } from './plugin/registry.js';
export { builtinPlugins } from '../plugins/all.js';
export { builtinOrder } from '../plugins/order.js';
export { loadPlugins, main } from './cli.js';
export * from './plugin/api.js';
