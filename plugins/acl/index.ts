// acl: allow, block (REFUSED), filter (empty NOERROR) or drop (no reply at all) queries by client
// address and query type. Stanzas are checked in order; within the first stanza whose zones
// contain the name, the first matching rule wins; a query no rule matches is allowed. CIDRs are
// compiled at setup to integer masks (IPv4) or byte masks (IPv6): no string parsing of networks
// per query.
import { definePlugin, DROP, RCODE, Zones, parseCidr, typeFromName, typeName } from '../../src/plugin/api.js';
import type { Cidr, Plugin, Request } from '../../src/plugin/api.js';

export type Action = 'allow' | 'block' | 'filter' | 'drop';

export interface AclRule {
  action: Action;
  /** Query types; empty = every type. */
  types: number[];
  /** Source networks as written; empty = every source. */
  nets: string[];
}

export interface AclPolicy {
  zones: Zones;
  rules: AclRule[];
}

export interface AclConfig {
  policies: AclPolicy[];
}

const ACTIONS = new Set(['allow', 'block', 'filter', 'drop']);

/** The acl plugin as the other plugins of its block see it (explain asks it before tracing a query). */
export interface AclPlugin extends Plugin {
  /** What this acl does with `req`: the action of the rule that matches, 'allow' when none does. */
  decide(req: Request): Action;
}

export const isAcl = (p: Plugin): p is AclPlugin => typeof (p as Partial<AclPlugin>).decide === 'function';

/** A compiled set of networks: IPv4 as (network, mask) integer pairs, IPv6 as byte masks. */
export class NetSet {
  private readonly v4: Uint32Array;
  private readonly v6: Cidr[];
  constructor(nets: readonly Cidr[]) {
    const v4: number[] = [];
    this.v6 = [];
    for (const c of nets) {
      if (c.family === 4) {
        const mask = c.prefix === 0 ? 0 : (0xffffffff << (32 - c.prefix)) >>> 0;
        const n = ((c.bytes[0]! << 24) | (c.bytes[1]! << 16) | (c.bytes[2]! << 8) | c.bytes[3]!) >>> 0;
        v4.push((n & mask) >>> 0, mask);
      } else this.v6.push(c);
    }
    this.v4 = Uint32Array.from(v4);
  }

  contains(ip: string): boolean {
    let s = ip;
    if (s.startsWith('::ffff:') && s.indexOf('.') > 0) s = s.slice(7);
    const v4 = parseV4(s);
    if (v4 >= 0) {
      const t = this.v4;
      for (let i = 0; i < t.length; i += 2) if (((v4 & t[i + 1]!) >>> 0) === t[i]) return true;
      return false;
    }
    if (this.v6.length === 0) return false;
    const c = parseCidr(s);
    if (c === undefined || c.family !== 6) return false;
    for (const n of this.v6) if (prefixEqual(c.bytes, n.bytes, n.prefix)) return true;
    return false;
  }
}

/** Dotted quad → unsigned 32-bit integer, or -1. */
function parseV4(s: string): number {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2e) {
      if (digits === 0 || part > 255) return -1;
      n = n * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 0x30 && c <= 0x39) {
      part = part * 10 + (c - 0x30);
      if (++digits > 3) return -1;
    } else return -1;
  }
  if (dots !== 3 || digits === 0 || part > 255) return -1;
  return n * 256 + part;
}

function prefixEqual(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  const full = bits >> 3;
  for (let i = 0; i < full; i++) if (a[i] !== b[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a[full]! & mask) === (b[full]! & mask);
}

interface CompiledRule {
  action: Action;
  types: Set<number> | null;
  nets: NetSet | null;
  /** The rule as read, for explained queries. */
  text: string;
}

const ACTION_RESULT: Record<Action, string> = {
  allow: 'allowed',
  block: 'blocked, REFUSED',
  filter: 'filtered, an empty NOERROR reply',
  drop: 'dropped, no reply',
};

export default definePlugin<AclConfig>({
  name: 'acl',
  api: '^1',
  parse(d, blockZones) {
    const policies: AclPolicy[] = [];
    while (d.next()) {
      const zones = Zones.from(d.remainingArgs(), blockZones);
      const rules: AclRule[] = [];
      while (d.nextBlock()) {
        const action = d.val();
        if (!ACTIONS.has(action)) throw d.err(`unknown action '${action}', expected allow, block, filter or drop`);
        const rule: AclRule = { action: action as Action, types: [], nets: [] };
        let section: 'type' | 'net' | null = null;
        let sawType = false;
        let sawNet = false;
        const finishSection = (): void => {
          if (section === 'type' && rule.types.length === 0 && !anyType) throw d.err(`'type' needs at least one QTYPE`);
          if (section === 'net' && rule.nets.length === 0 && !anyNet) throw d.err(`'net' needs at least one SOURCE`);
        };
        let anyType = false;
        let anyNet = false;
        while (d.nextArg()) {
          const v = d.val();
          if (v === 'type' || v === 'net') {
            finishSection();
            if ((v === 'type' && sawType) || (v === 'net' && sawNet)) throw d.err(`'${v}' given twice`);
            section = v;
            if (v === 'type') sawType = true;
            else sawNet = true;
            continue;
          }
          if (section === null) throw d.err(`unexpected '${v}', expected 'type' or 'net'`);
          if (section === 'type') {
            if (v === '*') anyType = true;
            else {
              const t = typeFromName(v);
              if (t === undefined) throw d.err(`invalid query type '${v}'`);
              rule.types.push(t);
            }
          } else if (v === '*') anyNet = true;
          else {
            const c = parseCidr(v);
            if (c === undefined) throw d.err(`invalid network '${v}', expected an address or CIDR`);
            rule.nets.push(v);
          }
        }
        finishSection();
        if (anyType) rule.types = [];
        if (anyNet) rule.nets = [];
        rules.push(rule);
      }
      if (rules.length === 0) throw d.err('no rules given: expected a block with allow, block, filter or drop lines');
      policies.push({ zones, rules });
    }
    return { policies };
  },
  setup(cfg, ctx) {
    const policies = cfg.policies.map((p) => ({
      zones: p.zones,
      rules: p.rules.map(
        (r): CompiledRule => ({
          action: r.action,
          types: r.types.length === 0 ? null : new Set(r.types),
          nets: r.nets.length === 0 ? null : new NetSet(r.nets.map((n) => parseCidr(n)!)),
          text: `${r.action} type ${r.types.length === 0 ? 'ANY' : r.types.map(typeName).join(' ')} net ${r.nets.length === 0 ? '*' : r.nets.join(' ')}`,
        }),
      ),
    }));
    const blocked = ctx.metrics.counter('blocked_requests_total', 'Counter of DNS requests being blocked.', ['server', 'zone', 'view']);
    const filtered = ctx.metrics.counter('filtered_requests_total', 'Counter of DNS requests being filtered.', ['server', 'zone', 'view']);
    const dropped = ctx.metrics.counter('dropped_requests_total', 'Counter of DNS requests being dropped.', ['server', 'zone', 'view']);
    const allowed = ctx.metrics.counter('allowed_requests_total', 'Counter of DNS requests being allowed.', ['server', 'view']);
    // label children are bound once the server label is final (after bind's setup)
    type Inc = { inc(): void };
    const children = new Map<string, { blocked: Inc; filtered: Inc; dropped: Inc }>();
    let allowedChild: Inc = { inc: () => allowed.labels(ctx.server.label, '').inc() };
    ctx.onStartup(() => {
      const server = ctx.server.label;
      allowedChild = allowed.labels(server, '');
      for (const p of cfg.policies)
        for (const z of p.zones.list) {
          children.set(z, {
            blocked: blocked.labels(server, z, ''),
            filtered: filtered.labels(server, z, ''),
            dropped: dropped.labels(server, z, ''),
          });
        }
    });
    const count = (kind: 'blocked' | 'filtered' | 'dropped', zone: string): void => {
      const c = children.get(zone);
      if (c !== undefined) c[kind].inc();
      else (kind === 'blocked' ? blocked : kind === 'filtered' ? filtered : dropped).labels(ctx.server.label, zone, '').inc();
    };
    ctx.log.debug(`acl with ${policies.length} stanza(s), types: ${cfg.policies.flatMap((p) => p.rules.flatMap((r) => r.types.map(typeName))).join(' ')}`);
    // The first stanza whose zones contain the name, its first rule that matches (its zone in `zoneOf`):
    // no object per query.
    let zoneOf = '';
    const matching = (req: Request): CompiledRule | undefined => {
      for (const p of policies) {
        const zone = p.zones.match(req.name);
        if (zone === undefined) continue;
        for (const r of p.rules) {
          if (r.types !== null && !r.types.has(req.qtype)) continue;
          if (r.nets !== null && !r.nets.contains(req.client.ip)) continue;
          zoneOf = zone;
          return r;
        }
      }
      return undefined;
    };
    const plugin: AclPlugin = {
      decide: (req) => matching(req)?.action ?? 'allow',
      serve(req, w, next) {
        const r = matching(req);
        if (r !== undefined) {
          const zone = zoneOf;
          req.trace?.note(`zone ${zone}: rule "${r.text}" matches ${typeName(req.qtype)} from ${req.client.ip}: ${ACTION_RESULT[r.action]}`);
          switch (r.action) {
            case 'allow':
              break;
            case 'block':
              count('blocked', zone);
              return RCODE.REFUSED;
            case 'filter':
              count('filtered', zone);
              return RCODE.NOERROR; // the core writes the empty NOERROR reply
            case 'drop':
              count('dropped', zone);
              return DROP;
          }
        }
        allowedChild.inc();
        req.trace?.note(`allowed: next plugin`);
        return next(req, w);
      },
    };
    return plugin;
  },
});
