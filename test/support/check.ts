// `typedns check` in-process, for the parse tables of plugin tests: every error a Corefile has,
// as the CLI prints them ("Corefile:2: plugin/bufsize: …"); an empty list when it parses.
import { parseConfig, ConfigErrors } from '../../src/config/compile.js';
import { PluginRegistry } from '../../src/plugin/registry.js';
import { CorefileError } from '../../src/corefile/lexer.js';
import { builtinPlugins } from '../../plugins/order.js';

const registry = new PluginRegistry(builtinPlugins);

export function checkErrors(text: string, file = 'Corefile'): string[] {
  try {
    parseConfig({ text, file }, registry, 53, {});
    return [];
  } catch (e) {
    if (e instanceof ConfigErrors) return e.errors.map((x) => x.short);
    if (e instanceof CorefileError) return [e.short];
    throw e;
  }
}
