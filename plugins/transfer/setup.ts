// transfer [ZONES...] { to ADDRESS...; source ADDRESS } → TransferConfig (pure). ADDRESS is `*`, an IP address
// with an optional port (1.2.3.4, 1.2.3.4:5300, 12:34::56, [12:34::56]:5300) or a CIDR range.
import net from 'node:net';
import { parseCidr, Zones, type Cidr, type Dispenser } from '../../src/plugin/api.js';

export interface Target {
  /** As CoreDNS normalises it: `*`, `host:port` (`[v6]:port`), or the CIDR as written. */
  readonly text: string;
  /** `*`: anyone may transfer. */
  readonly any: boolean;
  /** The addresses allowed to transfer (a single address is a host range). */
  readonly range?: Cidr;
  /** Where NOTIFY goes: set for an address (not for `*` or a range). */
  readonly notify?: { readonly host: string; readonly port: number };
}

export interface Stanza {
  readonly zones: readonly string[];
  readonly to: readonly Target[];
  /** `source`: the address NOTIFY messages are sent from (else the system picks one). */
  readonly source?: string;
}

export interface TransferConfig {
  readonly stanzas: readonly Stanza[];
}

/** `ADDRESS[:PORT]`, `[V6]:PORT`, `V6` → host and port (53 when none); undefined if not an address. */
export function hostPort(s: string, defaultPort = 53): { host: string; port: number } | undefined {
  const portOf = (p: string): number | undefined => (/^\d{1,5}$/.test(p) && Number(p) <= 65535 ? Number(p) : undefined);
  if (net.isIP(s) !== 0) return { host: s, port: defaultPort };
  const br = /^\[([^\]]+)\]:(\d+)$/.exec(s);
  if (br !== null) {
    const port = portOf(br[2]!);
    return net.isIPv6(br[1]!) && port !== undefined ? { host: br[1]!, port } : undefined;
  }
  const i = s.lastIndexOf(':');
  if (i <= 0) return undefined;
  const host = s.slice(0, i);
  const port = portOf(s.slice(i + 1));
  return net.isIPv4(host) && port !== undefined ? { host, port } : undefined;
}

export const joinHostPort = (host: string, port: number): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

export function parseTarget(s: string): Target | undefined {
  if (s === '*') return { text: '*', any: true };
  if (s.includes('/')) {
    const range = parseCidr(s);
    return range === undefined ? undefined : { text: s, any: false, range };
  }
  const hp = hostPort(s);
  if (hp === undefined) return undefined;
  return { text: joinHostPort(hp.host, hp.port), any: false, range: parseCidr(hp.host)!, notify: hp };
}

export function parseTransfer(d: Dispenser, blockZones: readonly string[]): TransferConfig {
  const stanzas: Stanza[] = [];
  while (d.next()) {
    const zones = Zones.from(d.remainingArgs(), blockZones).list;
    const to: Target[] = [];
    let source: string | undefined;
    while (d.nextBlock()) {
      switch (d.val()) {
        case 'to': {
          const args = d.remainingArgs();
          if (args.length === 0) throw d.argErr();
          for (const a of args) {
            const t = parseTarget(a);
            if (t === undefined) throw d.err(`must specify an IP address, a CIDR range or '*': '${a}'`);
            to.push(t);
          }
          break;
        }
        case 'source': {
          const args = d.remainingArgs();
          if (args.length !== 1) throw d.argErr();
          if (source !== undefined) throw d.err('source already specified');
          if (net.isIP(args[0]!) === 0) throw d.err(`invalid source address "${args[0]}"`);
          source = args[0]!;
          break;
        }
        default:
          throw d.unknownProperty();
      }
    }
    if (to.length === 0) throw d.err("'to' is required");
    stanzas.push({ zones: [...zones], to, ...(source !== undefined ? { source } : {}) });
  }
  return { stanzas };
}
