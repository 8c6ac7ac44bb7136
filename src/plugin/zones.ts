// A plugin's zones: the arguments of its directive, or the server block's zones by default
// (CoreDNS's OriginsFromArgsOrServerBlock). match() gives the longest zone containing a name.
import { fqdn, isSubdomain } from '../dns/names.js';
import { parseKey } from '../corefile/keys.js';

export class Zones {
  private constructor(readonly list: readonly string[]) {}

  static from(args: readonly string[], blockZones: readonly string[]): Zones {
    if (args.length === 0) return new Zones([...blockZones]);
    const out: string[] = [];
    for (const a of args) {
      for (const k of parseKey({ file: '', line: 0, endLine: 0, text: a, quoted: false }, 53)) out.push(k.zone);
    }
    return new Zones(out);
  }

  static fqdn(name: string): string {
    return fqdn(name);
  }

  /** The longest zone containing `name`, or undefined. */
  match(name: string): string | undefined {
    let best: string | undefined;
    for (const z of this.list) {
      if (isSubdomain(name, z) && (best === undefined || z.length > best.length)) best = z;
    }
    return best;
  }

  toJSON(): readonly string[] {
    return this.list;
  }
}
