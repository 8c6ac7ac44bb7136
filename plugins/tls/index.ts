// tls: the certificate of a tls:// (DNS over TLS) or https:// (DNS over HTTPS) block, and the
// client-certificate policy (CoreDNS's `tls CERT KEY [CA] { client_auth … }`). Not in the chain: it
// sets the block's listen settings, which the core's DoT and DoH listeners use.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { definePlugin } from '../../src/plugin/api.js';
import type { ClientAuth } from '../../src/plugin/types.js';

export interface TlsConfig {
  cert: string;
  key: string;
  /** CA bundle that verifies client certificates; absent: the system's CAs. */
  ca?: string;
  clientAuth: ClientAuth;
}

const AUTH: readonly ClientAuth[] = ['nocert', 'request', 'require', 'verify_if_given', 'require_and_verify'];

export default definePlugin<TlsConfig>({
  name: 'tls',
  api: '^1',
  once: true,
  parse(d) {
    d.next();
    const args = d.remainingArgs();
    if (args.length === 0) throw d.err('automatic certificates (acme) are not supported: give CERT KEY [CA]');
    if (args.length < 2 || args.length > 3) throw d.argErr();
    const cfg: TlsConfig = { cert: args[0]!, key: args[1]!, ...(args[2] !== undefined ? { ca: args[2] } : {}), clientAuth: 'nocert' };
    while (d.nextBlock()) {
      switch (d.val()) {
        case 'client_auth': {
          const a = d.remainingArgs();
          if (a.length !== 1) throw d.argErr();
          if (!AUTH.includes(a[0] as ClientAuth)) throw d.err(`unknown authentication type '${a[0]}'`);
          cfg.clientAuth = a[0] as ClientAuth;
          break;
        }
        case 'keylog':
          throw d.err("'keylog' is not supported");
        default:
          throw d.err(`unknown option '${d.val()}'`);
      }
    }
    return cfg;
  },
  setup(cfg, ctx) {
    const read = (f: string, what: string): string => {
      const file = path.isAbsolute(f) ? f : path.join(ctx.root, f);
      try {
        return readFileSync(file, 'utf8');
      } catch (e) {
        throw new Error(`could not read the ${what} '${file}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    };
    const cert = read(cfg.cert, 'certificate');
    const key = read(cfg.key, 'key');
    const ca = cfg.ca === undefined ? undefined : read(cfg.ca, 'CA');
    try {
      // a key that does not match the certificate, or PEM that does not parse, fails here, not at the first client
      tls.createSecureContext({ cert, key, ...(ca !== undefined ? { ca } : {}) });
    } catch (e) {
      throw new Error(`bad certificate, key or CA: ${(e as Error).message}`);
    }
    if (ctx.server.scheme === 'dns') ctx.log.warn('has no effect in a dns:// block: use tls://, https:// or grpc:// keys');
    ctx.listen.tls = { cert, key, ...(ca !== undefined ? { ca } : {}), clientAuth: cfg.clientAuth };
    return {};
  },
});
