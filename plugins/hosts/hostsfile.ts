// The /etc/hosts format and the index the handler reads: "IP NAME [ALIAS...]" per line, '#'
// comments, IPv4 and IPv6. Entries are indexed by name (A and AAAA records, built once per load)
// and by reverse name (PTR records), so a query is one Map lookup.
import net from 'node:net';
import { reverseName, type RR } from '../../src/plugin/api.js';

/** Parsed hosts data: name → addresses per family, in file order, without duplicates. */
export interface HostsData {
  readonly v4: Map<string, string[]>;
  readonly v6: Map<string, string[]>;
  /** Number of (name, address) entries. */
  entries: number;
}

export const emptyHosts = (): HostsData => ({ v4: new Map(), v6: new Map(), entries: 0 });

/** Lower-case FQDN of a hosts-file name. */
const toFqdn = (n: string): string => {
  const l = n.toLowerCase();
  return l.endsWith('.') ? l : `${l}.`;
};

/** An address as the hosts file gives it, without a zone ("fe80::1%eth0"); undefined if invalid. */
export function hostsAddress(s: string): { ip: string; family: 4 | 6 } | undefined {
  const at = s.indexOf('%');
  const ip = at >= 0 ? s.slice(0, at) : s;
  if (net.isIPv4(ip)) return { ip, family: 4 };
  if (!net.isIPv6(ip)) return undefined;
  // The canonical text (fe80:0:0::1 → fe80::1), so the same address written two ways is one entry.
  const canon = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  // An IPv4-mapped address (::ffff:10.0.0.2) is an IPv4 address, as CoreDNS (Go's To4) sees it.
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canon);
  if (mapped !== null) {
    const hi = parseInt(mapped[1]!, 16);
    const lo = parseInt(mapped[2]!, 16);
    return { ip: `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`, family: 4 };
  }
  return { ip: canon, family: 6 };
}

/**
 * Parse hosts-file text. Lines that do not start with a valid address, or have no names, are
 * skipped (as the C library does). Only names `accept` approves (the plugin's zones) are kept.
 */
export function parseHosts(text: string, accept: (name: string) => boolean, into: HostsData = emptyHosts()): HostsData {
  for (const raw of text.split('\n')) {
    const hash = raw.indexOf('#');
    const line = hash >= 0 ? raw.slice(0, hash) : raw;
    const f = line.trim().split(/\s+/);
    if (f.length < 2) continue;
    const addr = hostsAddress(f[0]!);
    if (addr === undefined) continue;
    const fam = addr.family === 4 ? into.v4 : into.v6;
    for (let i = 1; i < f.length; i++) {
      const name = toFqdn(f[i]!);
      if (!accept(name)) continue;
      const list = fam.get(name);
      if (list === undefined) fam.set(name, [addr.ip]);
      else if (!list.includes(addr.ip)) list.push(addr.ip);
      else continue;
      into.entries++;
    }
  }
  return into;
}

/** What the handler reads: precomputed answer records per name and per reverse name. */
export interface HostsIndex {
  readonly a: Map<string, RR[]>;
  readonly aaaa: Map<string, RR[]>;
  readonly ptr: Map<string, RR[]>;
  /** Names that exist (have A or AAAA): other types get NODATA. */
  readonly names: Set<string>;
  /** Entries in the inline data plus the file. */
  readonly entries: number;
}

const owner = (fq: string): string => fq.slice(0, -1);

/**
 * Merge inline data over file data (inline wins per name and family, as CoreDNS looks inline up
 * first) and build the records. PTR records are made for every name of an address unless !reverse.
 */
export function buildIndex(inline: HostsData, file: HostsData, ttl: number, reverse: boolean): HostsIndex {
  const a = new Map<string, RR[]>();
  const aaaa = new Map<string, RR[]>();
  const names = new Set<string>();
  const fill = (family: 'v4' | 'v6', out: Map<string, RR[]>): void => {
    const keys = new Set([...inline[family].keys(), ...file[family].keys()]);
    for (const name of keys) {
      const ips = inline[family].get(name) ?? file[family].get(name)!;
      out.set(
        name,
        ips.map((ip) => ({ name: owner(name), type: family === 'v4' ? 'A' : 'AAAA', ttl, class: 'IN', data: ip }) as RR),
      );
      names.add(name);
    }
  };
  fill('v4', a);
  fill('v6', aaaa);
  // Reverse data: every file address, then inline addresses replacing the file's names for the
  // same address (CoreDNS looks the inline reverse map up first).
  const ptrNames = new Map<string, string[]>();
  if (reverse) {
    for (const src of [file, inline]) {
      const mine = new Map<string, string[]>();
      for (const fam of ['v4', 'v6'] as const) {
        for (const [name, ips] of src[fam]) {
          for (const ip of ips) {
            const rev = reverseName(ip);
            const l = mine.get(rev);
            if (l === undefined) mine.set(rev, [name]);
            else if (!l.includes(name)) l.push(name);
          }
        }
      }
      for (const [rev, l] of mine) ptrNames.set(rev, l);
    }
  }
  const ptr = new Map<string, RR[]>();
  for (const [rev, ns] of ptrNames) ptr.set(rev, ns.map((n) => ({ name: owner(rev), type: 'PTR', ttl, class: 'IN', data: owner(n) }) as RR));
  return { a, aaaa, ptr, names, entries: inline.entries + file.entries };
}
