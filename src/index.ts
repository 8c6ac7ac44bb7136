// "typedns": embed the server in another program.
export { DnsServer, parseConfig, parseConfigFile, ConfigErrors, VERSION, type CorefileSource } from './server/instance.js';
export { PluginRegistry, API_VERSION } from './plugin/registry.js';
export { builtinPlugins } from '../plugins/order.js';
export { loadPlugins, main } from './cli.js';
export * from './plugin/api.js';
