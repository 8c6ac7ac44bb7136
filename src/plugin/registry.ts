// The registry: the built-in plugins in the order of plugins/order.ts, plus external modules
// placed before/after a built-in (Caddy's RegisterDirectiveOrder rule: anchors are built-ins only).
import type { PluginDefinition } from './types.js';
import { TypednsError } from './errors.js';

/** The version of the typedns/plugin API. */
export const API_VERSION = '1.0.0';

/** Does `range` (^1, ^1.0, 1.x, >=1, *, 1) accept API_VERSION? */
export function apiSatisfies(range: string, version = API_VERSION): boolean {
  const [maj, min] = version.split('.').map(Number) as [number, number];
  const r = range.trim();
  if (r === '*' || r === '') return true;
  let m = /^\^?(\d+)(?:\.(\d+|x))?(?:\.(\d+|x))?$/.exec(r);
  if (m) {
    if (Number(m[1]) !== maj) return false;
    if (m[2] !== undefined && m[2] !== 'x' && Number(m[2]) > min) return false;
    return true;
  }
  m = /^>=\s*(\d+)(?:\.(\d+))?/.exec(r);
  if (m) return maj > Number(m[1]) || (maj === Number(m[1]) && min >= Number(m[2] ?? 0));
  m = /^(\d+)\.x$/.exec(r);
  if (m) return Number(m[1]) === maj;
  return false;
}

export class PluginRegistry {
  private readonly list: PluginDefinition<any>[];
  private readonly builtins: ReadonlySet<string>;
  private readonly byName = new Map<string, PluginDefinition<any>>();
  /** Where each external plugin came from (module specifier), for -plugins. */
  readonly origin = new Map<string, string>();

  constructor(builtins: readonly PluginDefinition<any>[]) {
    this.list = [...builtins];
    for (const d of builtins) {
      if (this.byName.has(d.name)) throw new TypednsError('TDNS_ERR_PLUGIN_NAME', `duplicate built-in plugin '${d.name}'`);
      this.byName.set(d.name, d);
    }
    this.builtins = new Set(this.byName.keys());
  }

  /** Add an external plugin at its declared position. */
  add(def: PluginDefinition<any>, from = def.name): void {
    if (typeof def !== 'object' || def === null || typeof def.name !== 'string' || typeof def.parse !== 'function' || typeof def.setup !== 'function') {
      throw new TypednsError('TDNS_ERR_PLUGIN_LOAD', `${from}: not a plugin definition (expected a default export from definePlugin({ name, api, parse, setup }))`);
    }
    if (!/^[a-z][a-z0-9_]*$/.test(def.name)) {
      throw new TypednsError('TDNS_ERR_PLUGIN_NAME', `${from}: invalid plugin name '${def.name}', expected lower-case letters, digits and '_'`);
    }
    if (this.byName.has(def.name)) {
      throw new TypednsError('TDNS_ERR_PLUGIN_NAME', `${from}: plugin name '${def.name}' clashes with ${this.builtins.has(def.name) ? 'a built-in plugin' : `the plugin loaded from ${this.origin.get(def.name)}`}`);
    }
    if (typeof def.api !== 'string' || !apiSatisfies(def.api)) {
      throw new TypednsError('TDNS_ERR_PLUGIN_API', `${from}: plugin '${def.name}' wants typedns/plugin API '${String(def.api)}', this is ${API_VERSION}`);
    }
    const pos = def.position as { before?: string; after?: string } | undefined;
    const anchor = pos?.before ?? pos?.after;
    if (pos === undefined || anchor === undefined) {
      throw new TypednsError('TDNS_ERR_PLUGIN_POSITION', `${from}: plugin '${def.name}' must declare position: { before: '<built-in>' } or { after: '<built-in>' }`);
    }
    if (!this.builtins.has(anchor)) {
      throw new TypednsError('TDNS_ERR_PLUGIN_POSITION', `${from}: plugin '${def.name}' is placed relative to '${anchor}', which is not a built-in plugin`);
    }
    let idx = this.list.findIndex((d) => d.name === anchor);
    if (pos.after !== undefined) {
      idx++;
      // after any externals already placed after the same anchor
      while (idx < this.list.length && !this.builtins.has(this.list[idx]!.name)) idx++;
    }
    this.list.splice(idx, 0, def);
    this.byName.set(def.name, def);
    this.origin.set(def.name, from);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  get(name: string): PluginDefinition<any> | undefined {
    return this.byName.get(name);
  }

  /** Every plugin, in chain order. */
  get ordered(): readonly PluginDefinition<any>[] {
    return this.list;
  }

  isBuiltin(name: string): boolean {
    return this.builtins.has(name);
  }
}
