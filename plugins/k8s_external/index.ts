// k8s_external: Services' external addresses (externalIPs, load-balancer ingress) and, with
// `headless`, headless Services' endpoints, in a zone of their own (CoreDNS's k8s_external). The
// data is the kubernetes plugin's of the same block, found at startup through ctx.plugin().
import { definePlugin } from '../../src/plugin/api.js';
import { K8sExternal, isExternaler } from './external.js';
import { parseK8sExternal, type K8sExternalConfig } from './setup.js';

export type { Externaler, ExternalRecord } from './external.js';

export default definePlugin<K8sExternalConfig>({
  name: 'k8s_external',
  api: '^1',
  parse: parseK8sExternal,
  setup(cfg, ctx) {
    // The data comes from the block's kubernetes plugin (a setup error without it, as CoreDNS ≥ 1.11).
    if (!ctx.chain.includes('kubernetes')) throw new Error('kubernetes plugin not loaded');
    const h = new K8sExternal(cfg, ctx.lookup);
    // Every plugin of the block is set up by now (CoreDNS does this in OnStartup too).
    ctx.onStartup(() => {
      const p = ctx.plugin('kubernetes');
      if (p === undefined) throw new Error('kubernetes plugin not loaded');
      if (!isExternaler(p)) throw new Error('kubernetes plugin does not implement the Externaler interface');
      h.ext = p;
    });
    return { serve: (req, w, next) => h.serve(req, w, next) };
  },
});
