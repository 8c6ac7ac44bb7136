// header: sets or clears header flags (aa, ra, rd) of queries and of replies, as CoreDNS's header.
// Query rules change the request the plugins after header see and forward (a copy: withFlags);
// response rules change the reply on its way out. Rules apply in the order written, so the last
// one for a flag wins. A Message reply gets the request's RD and CD first (as CoreDNS's SetReply
// does), then the rules, and is marked EXACT_FLAGS so the core leaves the result alone.
import { definePlugin, EXACT_FLAGS, FLAG, WrappedWriter, type Message, type ResponseWriter } from '../../src/plugin/api.js';

export interface Rule {
  flag: 'aa' | 'ra' | 'rd';
  state: boolean;
}

export interface HeaderConfig {
  query: Rule[];
  response: Rule[];
}

const BITS: Record<Rule['flag'], number> = { aa: FLAG.AA, ra: FLAG.RA, rd: FLAG.RD };

/** The flags word with the rules applied in order. */
export function applyRules(flags: number, rules: readonly Rule[]): number {
  let f = flags;
  for (const r of rules) f = r.state ? f | BITS[r.flag] : f & ~BITS[r.flag];
  return f;
}

/** CoreDNS's newRules, with its error texts. */
function newRules(action: string, args: string[]): Rule[] | string {
  if (action === '') return 'no flag action provided';
  if (args.length < 1) return 'invalid length for flags, at least one should be provided';
  const a = action.toLowerCase();
  if (a !== 'set' && a !== 'clear') return `unknown flag action=${a}, should be set or clear`;
  const rules: Rule[] = [];
  for (const arg of args) {
    const flag = arg.toLowerCase();
    if (flag !== 'aa' && flag !== 'ra' && flag !== 'rd') return `unknown/unsupported flag=${flag}`;
    rules.push({ flag, state: a === 'set' });
  }
  return rules;
}

class HeaderWriter extends WrappedWriter {
  constructor(
    inner: ResponseWriter,
    /** RD and CD of the request as header passed it on. */
    private readonly reqBits: number,
    private readonly rules: readonly Rule[],
  ) {
    super(inner);
  }

  override write(res: Message | Uint8Array): void {
    if (res instanceof Uint8Array) {
      if (this.rules.length === 0 || res.length < 4) return this.inner.write(res);
      const out = Buffer.from(res);
      const f = applyRules((out[2]! << 8) | out[3]!, this.rules);
      out[2] = f >> 8;
      out[3] = f & 0xff;
      return this.inner.write(out);
    }
    const flags = applyRules((res.flags ?? 0) | this.reqBits, this.rules);
    this.inner.write({ ...res, flags, [EXACT_FLAGS]: true } as Message);
  }
}

export default definePlugin<HeaderConfig>({
  name: 'header',
  api: '^1',
  parse(d) {
    // As CoreDNS: the first `header` block that has rules is used.
    while (d.next()) {
      const cfg: HeaderConfig = { query: [], response: [] };
      while (d.nextBlock()) {
        const selector = d.val().toLowerCase();
        if (selector !== 'query' && selector !== 'response') throw d.err(`setting up rule: invalid selector=${selector} should be query or response`);
        const action = d.nextArg() ? d.val() : '';
        const rules = newRules(action, d.remainingArgs());
        if (typeof rules === 'string') throw d.err(`setting up rule: ${rules}`);
        cfg[selector].push(...rules);
      }
      if (cfg.query.length > 0 || cfg.response.length > 0) return cfg;
    }
    throw d.argErr();
  },
  setup(cfg) {
    const { query, response } = cfg;
    return {
      serve(req, w, next) {
        let flags = (req.wire[2]! << 8) | req.wire[3]!;
        let r = req;
        if (query.length > 0) {
          flags = applyRules(flags, query);
          r = req.withFlags(flags);
        }
        return next(r, new HeaderWriter(w, flags & (FLAG.RD | FLAG.CD), response));
      },
    };
  },
});
