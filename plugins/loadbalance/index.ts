// loadbalance: randomizes the order of A, AAAA and MX records in answers (round_robin), or picks the
// first address by weights from a file (weighted); `prefer` moves addresses in given subnets first.
// The writer is wrapped only for A/AAAA/MX queries, and only NOERROR replies are touched.
import fs from 'node:fs';
import dnsPacket from 'dns-packet';
import path from 'node:path';
import { definePlugin, WrappedWriter, parseCidr, parseDuration, cidrContains, CorefileError, fqdn } from '../../src/plugin/api.js';
import type { Cidr, Message, ResponseWriter } from '../../src/plugin/api.js';
import { preferFirst, reorderMessage, reorderWire, shuffled, type Order } from './shuffle.js';

export interface LoadbalanceConfig {
  policy: 'round_robin' | 'weighted';
  weightFile: string;
  /** Weight file reload interval in ms (0 = never). */
  reload: number;
  prefer: string[];
  limit: number;
}

/** domain → (address key → weight). */
export type Weights = Map<string, Map<string, number>>;

/** A canonical key for an address (so "2001:db8::1" and its long form match). */
export function ipKey(ip: string): string {
  const c = parseCidr(ip);
  return c === undefined ? ip : Buffer.from(c.bytes).toString('hex');
}

/** Parse a weight file: a domain line, then "ADDRESS WEIGHT" lines (1..255); # comments. */
export function parseWeights(text: string, file: string): Weights {
  const out: Weights = new Map();
  let cur: Map<string, number> | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/#.*/, '').trim();
    if (line === '') continue;
    const f = line.split(/\s+/);
    if (f.length === 1) {
      // an address alone is an address line that lost its weight, not a domain (CoreDNS: "Wrong domain name")
      if (parseCidr(f[0]!) !== undefined && !f[0]!.includes('/')) throw new CorefileError(file, i + 1, `plugin/loadbalance: expected a domain name, got the address '${f[0]}' (missing weight?)`);
      cur = new Map();
      out.set(fqdn(f[0]!), cur);
      continue;
    }
    if (f.length !== 2) throw new CorefileError(file, i + 1, `plugin/loadbalance: expected 'ADDRESS WEIGHT', got '${line}'`);
    if (cur === undefined) throw new CorefileError(file, i + 1, `plugin/loadbalance: address '${f[0]}' before any domain name`);
    if (parseCidr(f[0]!) === undefined || f[0]!.includes('/')) throw new CorefileError(file, i + 1, `plugin/loadbalance: invalid address '${f[0]}'`);
    const wgt = Number(f[1]);
    if (!/^\d+$/.test(f[1]!) || wgt < 1 || wgt > 255) throw new CorefileError(file, i + 1, `plugin/loadbalance: invalid weight '${f[1]}', expected 1..255`);
    cur.set(ipKey(f[0]!), wgt);
  }
  return out;
}

const identity = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

class LbWriter extends WrappedWriter {
  constructor(
    inner: ResponseWriter,
    private readonly order: Order,
  ) {
    super(inner);
  }

  override write(res: Message | Uint8Array): void {
    if (res instanceof Uint8Array) {
      if (res.length < 12 || (res[3]! & 0xf) !== 0) return this.inner.write(res);
      const out = reorderWire(res, this.order);
      if (out !== null) return this.inner.write(out);
      // unusual shape or compression pointers into the moving records: decode, reorder, encode
      return this.inner.write(reorderMessage(decode(res), this.order));
    }
    if (((res.flags ?? 0) & 0xf) !== 0) return this.inner.write(res);
    this.inner.write(reorderMessage(res, this.order));
  }
}

const decode = (b: Uint8Array): Message => dnsPacket.decode(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

export default definePlugin<LoadbalanceConfig>({
  name: 'loadbalance',
  api: '^1',
  once: true,
  parse(d) {
    const cfg: LoadbalanceConfig = { policy: 'round_robin', weightFile: '', reload: 30_000, prefer: [], limit: 0 };
    d.next();
    const args = d.remainingArgs();
    if (args.length > 0) {
      // The messages carry CoreDNS's wording (its setup_test.go matches on it).
      if (args[0] === 'round_robin') {
        if (args.length !== 1) throw d.err(`unknown property '${args[1]}' after round_robin`);
      } else if (args[0] === 'weighted') {
        if (args.length < 2) throw d.err(`missing weight file argument: 'weighted' takes one WEIGHTFILE`);
        if (args.length > 2) throw d.err(`unexpected argument '${args[2]}': 'weighted' takes one WEIGHTFILE`);
        cfg.policy = 'weighted';
        cfg.weightFile = args[1]!;
      } else throw d.err(`unknown policy '${args[0]}', expected round_robin or weighted`);
    }
    while (d.nextBlock()) {
      switch (d.val()) {
        case 'reload':
          if (cfg.policy !== 'weighted') throw d.err(`'reload' is only valid with the weighted policy`);
          {
            const v = d.arg();
            const ms = parseDuration(v);
            if (ms === undefined || (ms !== 0 && /^\d+$/.test(v))) throw d.err(`invalid reload duration '${v}'`);
            cfg.reload = ms;
          }
          d.noMoreArgs();
          break;
        case 'prefer': {
          const nets = d.remainingArgs();
          if (nets.length === 0) throw d.argErr();
          for (const n of nets) if (parseCidr(n) === undefined) throw d.err(`invalid CIDR '${n}'`);
          cfg.prefer.push(...nets);
          break;
        }
        case 'limit_answers':
          cfg.limit = d.uint(1, 65535);
          d.noMoreArgs();
          break;
        default:
          throw d.unknownProperty();
      }
    }
    return cfg;
  },
  setup(cfg, ctx) {
    const prefer: Cidr[] = cfg.prefer.map((n) => parseCidr(n)!);
    let weights: Weights = new Map();
    let timer: NodeJS.Timeout | undefined;
    if (cfg.policy === 'weighted') {
      const file = path.isAbsolute(cfg.weightFile) ? cfg.weightFile : path.join(ctx.root, cfg.weightFile);
      let last = fs.readFileSync(file, 'utf8'); // a missing file fails setup, as in CoreDNS
      weights = parseWeights(last, file);
      if (cfg.reload > 0) {
        timer = setInterval(() => {
          try {
            const text = fs.readFileSync(file, 'utf8');
            if (text === last) return;
            last = text;
            weights = parseWeights(text, file);
            ctx.log.info(`reloaded weight file ${file}`);
          } catch (e) {
            ctx.log.error(`weight file ${file}: ${(e as Error).message}`);
          }
        }, cfg.reload);
        timer.unref();
      }
    }
    const roundRobin = (ips: readonly string[]): number[] => preferFirst(shuffled(ips.length), ips, prefer, cidrContains);
    // Every address record of the answer takes part, with the weight its owner name's entry in the
    // file gives its address (1 when the owner or the address is not listed), as in CoreDNS: after
    // a CNAME the target's weights count, and unlisted addresses can still come first.
    const weighted = (ips: readonly string[], owner: (i: number) => string): number[] => {
      const perm = identity(ips.length);
      if (ips.length > 1) {
        let total = 0;
        const ws = ips.map((ip, i) => {
          const v = weights.get(owner(i))?.get(ipKey(ip)) ?? 1;
          total += v;
          return v;
        });
        let r = Math.random() * total;
        let pick = 0;
        for (; pick < ws.length - 1; pick++) {
          r -= ws[pick]!;
          if (r < 0) break;
        }
        perm.splice(pick, 1);
        perm.unshift(pick);
      }
      return preferFirst(perm, ips, prefer, cidrContains);
    };
    const order: Order = {
      addresses: cfg.policy === 'weighted' ? weighted : roundRobin,
      mx: cfg.policy === 'weighted' ? identity : shuffled,
      limit: cfg.limit,
      onlyWithAddresses: cfg.policy === 'weighted',
    };
    // weighted reorders A and AAAA answers only (CoreDNS's weightedShuffle); round_robin MX too
    const mxToo = cfg.policy !== 'weighted';
    return {
      serve(req, w, next) {
        const t = req.qtype;
        if (t !== 1 && t !== 28 && (t !== 15 || !mxToo)) {
          req.trace?.note(`${cfg.policy}: this type is not reordered`);
          return next(req, w);
        }
        req.trace?.note(`${cfg.policy}: the address records of the reply will be reordered${prefer.length > 0 ? `, ${cfg.prefer.join(' ')} first` : ''}${cfg.limit > 0 ? `, at most ${cfg.limit} kept` : ''}`);
        return next(req, new LbWriter(w, order));
      },
      close() {
        if (timer) clearInterval(timer);
      },
    };
  },
});
