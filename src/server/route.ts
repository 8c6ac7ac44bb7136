// Routing: the longest zone suffix among the blocks on a listener, found by a label walk over a
// Map (CoreDNS's ServeDNS loop), never a scan. DS queries prefer the parent zone.
import type { Next, Plugin } from '../plugin/types.js';
import type { Cidr } from '../corefile/keys.js';
import { cidrContains, reverseToIp } from '../corefile/keys.js';
import { QTYPE } from '../dns/constants.js';

/** One server block as compiled for a config generation. */
export interface Block {
  /** "dns://:53" style label for metrics. */
  readonly label: string;
  readonly zones: readonly string[];
  readonly port: number;
  /** Chain entry; undefined when the block has no plugin in its chain (every query REFUSED). */
  readonly entry: Next | undefined;
  readonly plugins: ReadonlyArray<{ readonly name: string; readonly plugin: Plugin }>;
  /** Classless reverse filters per zone. */
  readonly filters: ReadonlyMap<string, Cidr>;
}

export interface Route {
  readonly block: Block;
  readonly zone: string;
}

export class RouteTable {
  private readonly zones = new Map<string, Route>();

  add(zone: string, block: Block): void {
    this.zones.set(zone, { block, zone });
  }

  get size(): number {
    return this.zones.size;
  }

  /** The route for a lower-cased FQDN, or undefined (→ REFUSED). */
  lookup(name: string, qtype: number): Route | undefined {
    let cur = name;
    let found: Route | undefined;
    for (;;) {
      const r = this.zones.get(cur);
      if (r !== undefined) {
        if (qtype !== QTYPE.DS || cur !== name) {
          found = r;
          break;
        }
        // DS: the parent zone answers for the child's apex; remember this one as a fallback.
        found ??= r;
      }
      if (cur === '.') break;
      const dot = nextDot(cur);
      cur = dot < 0 ? '.' : cur.slice(dot + 1);
      if (cur === '') cur = '.';
    }
    if (found === undefined) return undefined;
    const filter = found.block.filters.get(found.zone);
    if (filter !== undefined) {
      const ip = reverseToIp(name);
      if (ip !== undefined && !cidrContains(filter, ip)) return undefined;
    }
    return found;
  }

  routes(): IterableIterator<Route> {
    return this.zones.values();
  }
}

/** Index of the first unescaped dot. */
function nextDot(name: string): number {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x5c) i++;
    else if (c === 0x2e) return i;
  }
  return -1;
}
