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

/** A built-in plugin known by name, imported when a Corefile names it (plugins/order.ts). */
export interface LazyPlugin {
  readonly name: string;
  load(): Promise<PluginDefinition<any>>;
}

/** A place in the chain order: a name, and its definition once imported. */
interface Slot {
  readonly name: string;
  def: PluginDefinition<any> | undefined;
  readonly load: (() => Promise<PluginDefinition<any>>) | undefined;
}

const isLazy = (p: PluginDefinition<any> | LazyPlugin): p is LazyPlugin => typeof (p as Partial<PluginDefinition<any>>).parse !== 'function' && typeof (p as Partial<LazyPlugin>).load === 'function';

export class PluginRegistry {
  private readonly slots: Slot[];
  private readonly builtins: ReadonlySet<string>;
  private readonly byName = new Map<string, Slot>();
  /** Where each external plugin came from (module specifier), for -plugins. */
  readonly origin = new Map<string, string>();

  /**
   * The built-ins in chain order: definitions (all imported), or names with a loader
   * (plugins/order.ts's builtinOrder), imported by load() when a Corefile names them.
   */
  constructor(builtins: readonly (PluginDefinition<any> | LazyPlugin)[]) {
    this.slots = builtins.map((b) => (isLazy(b) ? { name: b.name, def: undefined, load: () => b.load() } : { name: b.name, def: b, load: undefined }));
    for (const slot of this.slots) {
      if (this.byName.has(slot.name)) throw new TypednsError('TDNS_ERR_PLUGIN_NAME', `duplicate built-in plugin '${slot.name}'`);
      this.byName.set(slot.name, slot);
    }
    this.builtins = new Set(this.byName.keys());
  }

  /**
   * Import the definitions of the named plugins that are not imported yet (names it does not know
   * are left to the parser, which reports them). Before a Corefile's plugins are parsed.
   */
  async load(names: Iterable<string>): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const n of new Set(names)) {
      const slot = this.byName.get(n);
      if (slot === undefined || slot.def !== undefined || slot.load === undefined) continue;
      waits.push(
        slot.load().then((def) => {
          if (def?.name !== slot.name) throw new TypednsError('TDNS_ERR_PLUGIN_LOAD', `built-in plugin '${slot.name}' loaded a definition named '${String(def?.name)}'`);
          slot.def = def;
        }),
      );
    }
    await Promise.all(waits);
  }

  /** Import every plugin's definition (-plugins, the explain tool's listing). */
  loadAll(): Promise<void> {
    return this.load(this.byName.keys());
  }

  /** Is the definition of a known plugin imported? */
  isLoaded(name: string): boolean {
    return this.byName.get(name)?.def !== undefined;
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
    let idx = this.slots.findIndex((d) => d.name === anchor);
    if (pos.after !== undefined) {
      idx++;
      // after any externals already placed after the same anchor
      while (idx < this.slots.length && !this.builtins.has(this.slots[idx]!.name)) idx++;
    }
    const slot: Slot = { name: def.name, def, load: undefined };
    this.slots.splice(idx, 0, slot);
    this.byName.set(def.name, slot);
    this.origin.set(def.name, from);
  }

  /** A plugin of this name exists (imported or not): the directive is known. */
  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** A plugin's definition; undefined when unknown or not imported yet (load()). */
  get(name: string): PluginDefinition<any> | undefined {
    return this.byName.get(name)?.def;
  }

  /** Every plugin's name, in chain order. */
  get names(): readonly string[] {
    return this.slots.map((s) => s.name);
  }

  /** The imported plugins' definitions, in chain order. */
  get ordered(): readonly PluginDefinition<any>[] {
    const out: PluginDefinition<any>[] = [];
    for (const s of this.slots) if (s.def !== undefined) out.push(s.def);
    return out;
  }

  isBuiltin(name: string): boolean {
    return this.builtins.has(name);
  }
}
