// What the transfer plugin asks of the plugins that hold zones (file, auto, secondary, kubernetes): CoreDNS's
// transfer.Transferer, as a zone to walk instead of a channel of records.
import type { Request, RR } from '../../src/plugin/api.js';

/** One zone's current copy. It must not change while it is walked (a reload swaps in a new one). */
export interface XfrZone {
  readonly origin: string;
  readonly soa: RR;
  readonly serial: number;
  /** The SOA first, then every other record of the zone once; not the closing SOA. */
  records(): Iterable<RR>;
}

export interface Transferer {
  /**
   * The copy of `zone` (a lower-case FQDN, exactly a zone this plugin serves): undefined when the
   * plugin is not authoritative for it (the next plugin is asked), null when it is but has no
   * copy to give (a secondary zone not transferred yet, or expired). `req` is the transfer query
   * (kubernetes names the server's own address as the name server).
   */
  xfrZone(zone: string, req?: Request): XfrZone | null | undefined;
  /** The zones announced by NOTIFY when the server starts listening. */
  xfrZones(): readonly string[];
  /** `fn(zone)` is called whenever a new copy of one of its zones (a new serial) is served. */
  onXfrChange(fn: (zone: string) => void): void;
}

export function isTransferer(p: unknown): p is Transferer {
  return p !== null && typeof p === 'object' && typeof (p as Transferer).xfrZone === 'function' && typeof (p as Transferer).onXfrChange === 'function';
}
