// chaos: answers CH-class TXT queries for the server's identity, as CoreDNS's chaos does:
// version.bind and version.server (the version), authors.bind (the authors, in random order),
// hostname.bind and id.server (the host name). Anything else, in any class, goes on. The
// records are encoded once at setup, their owner a pointer to the question (TTL 0, class CH).
import os from 'node:os';
import { concatPacked, definePlugin, pack, packedReply, QCLASS, QTYPE, RCODE, type Packed } from '../../src/plugin/api.js';

export interface ChaosConfig {
  /** undefined: "typedns-<version>". */
  version: string | undefined;
  /** undefined: the default authors. */
  authors: string[] | undefined;
}

/** Who wrote typedns (CoreDNS lists the GitHub handles of its OWNERS files). */
export const DEFAULT_AUTHORS = ['typedns'];

/** A TXT string holds at most 255 bytes: longer values are cut, as CoreDNS's trim does. */
export function trim(s: string): Buffer {
  const b = Buffer.from(s);
  return b.length < 256 ? b : b.subarray(0, 255);
}

const txt = (value: string): Packed => pack([{ name: '.', type: 'TXT', class: 'CH', ttl: 0, data: [trim(value)] }]);

export default definePlugin<ChaosConfig>({
  name: 'chaos',
  api: '^1',
  parse(d) {
    // As in CoreDNS, the first occurrence in a block decides.
    d.next();
    const args = d.remainingArgs();
    const cfg: ChaosConfig = { version: undefined, authors: undefined };
    if (args.length >= 1) cfg.version = args[0]!;
    if (args.length >= 2) cfg.authors = [...new Set(args.slice(1))].sort();
    if (d.nextBlock()) throw d.unknownProperty();
    return cfg;
  },
  setup(cfg, ctx) {
    const version = txt(cfg.version ?? `typedns-${ctx.process.version}`);
    let host: string;
    try {
      host = os.hostname() || 'localhost';
    } catch {
      host = 'localhost';
    }
    const hostname = txt(host);
    const authors = (cfg.authors ?? DEFAULT_AUTHORS).map(txt);
    return {
      serve(req, w, next) {
        if (req.qclass !== QCLASS.CH || req.qtype !== QTYPE.TXT) return next(req, w);
        let an: Packed;
        switch (req.name) {
          case 'authors.bind.': {
            const order = authors.slice();
            for (let i = order.length - 1; i > 0; i--) {
              const j = Math.floor(Math.random() * (i + 1));
              [order[i], order[j]] = [order[j]!, order[i]!];
            }
            an = concatPacked(...order);
            break;
          }
          case 'version.bind.':
          case 'version.server.':
            an = version;
            break;
          case 'hostname.bind.':
          case 'id.server.':
            an = hostname;
            break;
          default:
            return next(req, w);
        }
        w.write(packedReply(req, 0, RCODE.NOERROR, an));
        return RCODE.NOERROR;
      },
    };
  },
});
