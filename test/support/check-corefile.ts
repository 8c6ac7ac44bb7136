// What `typedns check` reports for a Corefile, in process: every error as "file:line: message"
// (an empty list when it parses). For tables of setup inputs: `checkCorefile('. {\n cache 0\n}')`.
import { ConfigErrors, parseConfig } from '../../src/config/compile.js';
import { CorefileError } from '../../src/corefile/lexer.js';
import { PluginRegistry } from '../../src/plugin/registry.js';
import { builtinPlugins } from '../../plugins/all.js';

const registry = new PluginRegistry(builtinPlugins);

export function checkCorefile(text: string, file = 'Corefile'): string[] {
  try {
    parseConfig({ text, file }, registry, 53, {});
    return [];
  } catch (e) {
    if (e instanceof ConfigErrors) return e.errors.map((x) => x.short);
    if (e instanceof CorefileError) return [e.short];
    throw e;
  }
}

/**
 * One plugin stanza (`snippet`, which may span lines) in a `. { … }` block, checked: [] or the
 * errors. The stanza starts on line 2 of the Corefile, so a message names `Corefile:2` or later.
 */
export function checkStanza(snippet: string): string[] {
  return checkCorefile(`. {\n${snippet}\n}\n`);
}
