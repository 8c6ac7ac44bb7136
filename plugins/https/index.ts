// https: options of an https:// (DNS over HTTPS) block's listener: the cap on open connections
// (CoreDNS's max_connections) and the proxies whose X-Forwarded-For header is believed. Not in
// the chain.
import { definePlugin, parseCidr } from '../../src/plugin/api.js';

export interface HttpsConfig {
  maxConnections: number;
  trustedProxies: string[];
}

export default definePlugin<HttpsConfig>({
  name: 'https',
  api: '^1',
  once: true,
  parse(d) {
    d.next();
    if (d.remainingArgs().length > 0) throw d.argErr();
    const cfg: HttpsConfig = { maxConnections: 200, trustedProxies: [] };
    let seenMax = false;
    while (d.nextBlock()) {
      switch (d.val()) {
        case 'max_connections': {
          const a = d.remainingArgs();
          if (a.length !== 1) throw d.argErr();
          if (!/^-?\d+$/.test(a[0]!)) throw d.err(`invalid max_connections value '${a[0]}'`);
          const n = Number(a[0]);
          if (n < 0) throw d.err(`max_connections must be a non-negative integer: ${n}`);
          if (seenMax) throw d.err('max_connections already defined for this server block');
          seenMax = true;
          cfg.maxConnections = n;
          break;
        }
        case 'trusted_proxies': {
          const a = d.remainingArgs();
          if (a.length === 0) throw d.argErr();
          for (const c of a) {
            if (parseCidr(c) === undefined) throw d.err(`trusted_proxies: '${c}' is not an IP address or CIDR`);
            cfg.trustedProxies.push(c);
          }
          break;
        }
        default:
          throw d.err(`unknown property '${d.val()}'`);
      }
    }
    return cfg;
  },
  setup(cfg, ctx) {
    if (ctx.server.scheme !== 'https') ctx.log.warn('has no effect outside an https:// block');
    ctx.listen.https = { maxConnections: cfg.maxConnections, trustedProxies: cfg.trustedProxies };
    return {};
  },
});
