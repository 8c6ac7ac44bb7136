// sign: signs zone files into `db.<zone>.signed` and re-signs them before the signatures expire
// (CoreDNS's sign plugin). Not in the chain: the *file* (or *auto*) plugin serves the signed file.
import path from 'node:path';
import { definePlugin } from '../../src/plugin/api.js';
import { Signer } from './signer.js';
import { parseSign, type SignConfig } from './setup.js';

/** How often the signed files are checked (CoreDNS: every 5 hours) and the clock; tests change them. */
export const signClock = {
  refreshMs: 5 * 3600 * 1000,
  now: (): number => Math.floor(Date.now() / 1000),
  /** Jitter in [0, 1): CoreDNS picks the inception and expiration jitter at random per zone. */
  random: (): number => Math.random(),
};

export default definePlugin<SignConfig>({
  name: 'sign',
  api: '^1',
  parse: (d, zones) => parseSign(d, zones),
  setup(cfg, ctx) {
    const signers: Signer[] = [];
    for (const st of cfg.stanzas) {
      for (const origin of st.origins) {
        signers.push(
          new Signer({
            dbfile: path.resolve(ctx.root, st.dbfile),
            origin,
            directory: path.resolve(ctx.root, st.directory),
            keys: st.keys,
            jitter: { inception: Math.floor(18 * 3600 * signClock.random()), expiration: Math.floor(5 * 86400 * signClock.random()) },
          }),
        );
      }
    }
    const check = (s: Signer): void => {
      const now = signClock.now();
      const why = s.reason(now);
      if (why === undefined) {
        ctx.log.info(`Skipping signing zone "${s.o.origin}" in "${s.signedPath}": signatures are valid`);
        return;
      }
      const t0 = Date.now();
      const out = s.sign(now);
      ctx.log.info(`Signed zone "${s.o.origin}" because ${why}: ${s.signedPath}, key tags ${s.o.keys.map((k) => k.tag).join(', ')}, SOA serial ${out.serial}, ${out.names} names, ${out.signatures} signatures, ${Date.now() - t0} ms`);
    };
    // Signed here, in setup, so that the file plugin (set up after, plugins/order.ts) finds the file.
    for (const s of signers) {
      try {
        check(s);
      } catch (e) {
        throw new Error(`signing zone "${s.o.origin}" from "${s.o.dbfile}": ${(e as Error).message}`);
      }
    }
    let timer: NodeJS.Timeout | undefined;
    ctx.onStartup(() => {
      timer = setInterval(() => {
        for (const s of signers) {
          try {
            check(s);
          } catch (e) {
            ctx.log.warn(`Error signing "${s.o.origin}": ${(e as Error).message}`);
          }
        }
      }, signClock.refreshMs);
      timer.unref();
    });
    ctx.onShutdown(() => clearInterval(timer));
    return {};
  },
});
