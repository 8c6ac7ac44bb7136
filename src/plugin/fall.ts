// fallthrough [ZONES...]: a backend with no answer for a name in those zones calls `next` instead
// of answering NXDOMAIN. Use with care: a name that falls through reaches every plugin below.
import { fqdn, isSubdomain } from '../dns/names.js';

export class Fall {
  private constructor(private readonly zones: readonly string[] | null) {}

  /** Never fall through. */
  static readonly none = new Fall(null);
  /** Fall through for every name. */
  static readonly all = new Fall(['.']);

  /** From the arguments of a `fallthrough` line: none → every zone. */
  static from(args: readonly string[]): Fall {
    if (args.length === 0) return Fall.all;
    return new Fall(args.map(fqdn));
  }

  through(name: string): boolean {
    if (this.zones === null) return false;
    for (const z of this.zones) if (isSubdomain(name, z)) return true;
    return false;
  }

  get enabled(): boolean {
    return this.zones !== null;
  }

  toJSON(): readonly string[] | null {
    return this.zones;
  }
}
