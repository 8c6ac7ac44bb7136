// `kubeconfig FILE [CONTEXT]`: client-node's KubeConfig reads the file and applies its credentials
// (client certificates, tokens, exec plugins, auth providers) to each request. Imported only for
// this option; `npm run build` bundles it with client-node (esbuild, tree-shaken: only KubeConfig
// and what it needs) to dist/plugins/kubernetes/watch/kubeconfig.js, which halves the import's cost.
import type http from 'node:http';
import type https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import type { Transport } from './transport.js';

export function kubeconfigTransport(file: string, context: string | undefined): Transport {
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  if (context) {
    if (!kc.getContextObject(context)) throw new Error(`context "${context}" not found in ${file}`);
    kc.setCurrentContext(context);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error(`no current cluster in ${file}`);
  const agents: http.Agent[] = [];
  return {
    server: cluster.server.replace(/\/+$/, ''),
    async options() {
      const o: https.RequestOptions = {};
      await kc.applyToHTTPSOptions(o);
      const agent = o.agent as http.Agent;
      agents.push(agent);
      if (agents.length > 16) agents.shift();
      const headers: Record<string, string> = { ...(o.headers as Record<string, string> | undefined) };
      if (o.auth) headers['Authorization'] = `Basic ${Buffer.from(o.auth).toString('base64')}`;
      return { agent, headers };
    },
    close() {
      for (const a of agents) a.destroy();
    },
  };
}
