// rewrite edns0 local|nsid|subnet set|append|replace|unset …: changes the request's EDNS0 options.
// The OPT is read from the wire only when an edns0 rule applies; the rewritten request carries the
// new one (Request.withOpt). Not on the hot path: only queries an edns0 rule applies to pay for it.
import net from 'node:net';
import { ipBytes, parseOpt, type Request } from '../../src/plugin/api.js';
import { fail, type Arg, type Mode, type OptState, type Rule, type State } from './rule.js';

const NSID = 3;
const SUBNET = 8;

/** Read the OPT of a request's wire (present: false when it has none). */
export function readOpt(req: Request): OptState {
  const opt = parseOpt(req.wire, req.questionEnd);
  if (opt === undefined) return { present: false, udp: 4096, ext: 0, version: 0, flags: 0, options: [], changed: false };
  return { ...opt, present: true, changed: false };
}

type Action = 'set' | 'append' | 'replace' | 'unset';
const ACTIONS = new Set(['set', 'append', 'replace', 'unset']);

type Data = (s: State) => Uint8Array;

const u16 = (n: number): Uint8Array => Uint8Array.of((n >> 8) & 0xff, n & 0xff);

/** The address's bytes, an IPv4-mapped IPv6 address as its 4 IPv4 bytes. */
function ipRaw(ip: string): Uint8Array {
  const v4 = ip.startsWith('::ffff:') && net.isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
  return ipBytes(v4) ?? new Uint8Array(16);
}

const VARIABLES: Record<string, Data> = {
  '{qname}': (s) => Buffer.from(s.name),
  '{qtype}': (s) => u16(s.qtype),
  '{client_ip}': (s) => ipRaw(s.req.client.ip),
  '{client_port}': (s) => u16(s.req.client.port),
  '{protocol}': (s) => Buffer.from(s.req.transport),
  '{server_ip}': (s) => ipRaw(s.req.local.ip),
  '{server_port}': (s) => u16(s.req.local.port),
};

/** A metadata variable's value. It is always empty, and (as in CoreDNS) an empty value sets nothing. */
const METADATA: Data = () => new Uint8Array(0);

function parseData(a: Arg): Data {
  const t = a.text;
  if (t.startsWith('{') && t.endsWith('}')) {
    const v = VARIABLES[t];
    if (v !== undefined) return v;
    if (t.includes('/')) return METADATA; // metadata label: no metadata plugin, so always empty
    throw fail(a, `unsupported variable '${t}', expected one of ${Object.keys(VARIABLES).join(' ')}`);
  }
  if (/^0x/i.test(t)) {
    const hex = t.slice(2);
    if (hex.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(hex)) throw fail(a, `invalid hex data '${t}'`);
    const b = Buffer.from(hex, 'hex');
    return () => b;
  }
  const b = Buffer.from(t);
  return () => b;
}

function parseCode(a: Arg): number {
  const t = a.text;
  const n = /^0x[0-9a-f]+$/i.test(t) ? parseInt(t.slice(2), 16) : /^\d+$/.test(t) ? Number(t) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw fail(a, `invalid EDNS0 option code '${t}'`);
  return n;
}

/** One edns0 rule: local CODE DATA, nsid, or subnet V4BITS V6BITS, with set|append|replace|unset. */
export class EdnsOp {
  private constructor(
    readonly kind: 'local' | 'nsid' | 'subnet',
    readonly action: Action,
    readonly code: number,
    readonly data: Data,
    readonly revert: boolean,
  ) {}

  static parse(field: Arg, rest: Arg[]): EdnsOp {
    const kind = rest[0];
    const action = rest[1];
    if (kind === undefined || action === undefined) throw fail(rest[0] ?? field, `'edns0' takes local|nsid|subnet set|append|replace|unset …`);
    if (!ACTIONS.has(action.text)) throw fail(action, `invalid action '${action.text}', expected set, append, replace or unset`);
    const act = action.text as Action;
    let args = rest.slice(2);
    let revert = false;
    if (args.length > 0 && args[args.length - 1]!.text === 'revert') {
      revert = true;
      args = args.slice(0, -1);
    }
    const none: Data = () => new Uint8Array(0);
    switch (kind.text) {
      case 'local': {
        if (act === 'unset') {
          if (args.length !== 1) throw fail(args[1] ?? action, `'edns0 local unset' takes CODE`);
          return new EdnsOp('local', act, parseCode(args[0]!), none, revert);
        }
        if (args.length !== 2) throw fail(args[2] ?? action, `'edns0 local ${act}' takes CODE DATA`);
        return new EdnsOp('local', act, parseCode(args[0]!), parseData(args[1]!), revert);
      }
      case 'nsid':
        if (args.length !== 0) throw fail(args[0]!, `'edns0 nsid' takes no arguments`);
        return new EdnsOp('nsid', act, NSID, none, revert);
      case 'subnet': {
        if (act === 'unset') {
          if (args.length !== 0) throw fail(args[0]!, `'edns0 subnet unset' takes no arguments`);
          return new EdnsOp('subnet', act, SUBNET, none, revert);
        }
        if (args.length !== 2) throw fail(args[2] ?? action, `'edns0 subnet ${act}' takes V4BITS V6BITS`);
        const v4 = Number(args[0]!.text);
        const v6 = Number(args[1]!.text);
        if (!/^\d+$/.test(args[0]!.text) || v4 > 32) throw fail(args[0]!, `invalid IPv4 prefix length '${args[0]!.text}', expected 0..32`);
        if (!/^\d+$/.test(args[1]!.text) || v6 > 128) throw fail(args[1]!, `invalid IPv6 prefix length '${args[1]!.text}', expected 0..128`);
        return new EdnsOp('subnet', act, SUBNET, (s) => subnetData(s.req.client.ip, v4, v6), revert);
      }
      default:
        throw fail(kind, `unsupported EDNS0 option '${kind.text}', expected local, nsid or subnet`);
    }
  }

  /** Change the state's OPT; true when something changed. */
  apply(s: State): boolean {
    if (this.data === METADATA) return false;
    const opt = (s.opt ??= readOpt(s.req));
    const i = opt.options.findIndex((o) => o.code === this.code);
    let changed = false;
    switch (this.action) {
      case 'unset':
        if (i >= 0) {
          opt.options = opt.options.filter((o) => o.code !== this.code);
          changed = true;
        }
        break;
      case 'append':
        if (i < 0) {
          opt.options.push({ code: this.code, data: this.data(s) });
          changed = true;
        }
        break;
      case 'replace':
        if (i >= 0) {
          opt.options[i] = { code: this.code, data: this.data(s) };
          changed = true;
        }
        break;
      case 'set':
        if (i >= 0) opt.options[i] = { code: this.code, data: this.data(s) };
        else opt.options.push({ code: this.code, data: this.data(s) });
        changed = true;
        break;
    }
    if (changed) opt.changed = true;
    return changed;
  }

  toJSON(): unknown {
    return { kind: this.kind, action: this.action, code: this.code, revert: this.revert };
  }
}

/** The EDNS0 client-subnet option data for a client address (RFC 7871). */
export function subnetData(ip: string, v4bits: number, v6bits: number): Uint8Array {
  const raw = ipRaw(ip);
  const v4 = raw.length === 4;
  const bits = v4 ? v4bits : v6bits;
  const n = Math.ceil(bits / 8);
  const out = new Uint8Array(4 + n);
  out[1] = v4 ? 1 : 2;
  out[2] = bits;
  out[3] = 0;
  for (let i = 0; i < n; i++) {
    const keep = Math.min(8, bits - i * 8);
    out[4 + i] = raw[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

export class Edns0Rule implements Rule {
  readonly field = 'edns0';
  constructor(
    readonly mode: Mode,
    readonly op: EdnsOp,
  ) {}
  apply(s: State): boolean {
    return this.op.apply(s);
  }
}

export function parseEdns0Rule(mode: Mode, field: Arg, rest: Arg[]): Rule {
  return new Edns0Rule(mode, EdnsOp.parse(field, rest));
}
