// hosts: serves A, AAAA and PTR records from an /etc/hosts-style file and inline entries
// (CoreDNS's hosts plugin).
import { definePlugin } from '../../src/plugin/api.js';
import { createHosts } from './hosts.js';
import { parseHostsConfig, type HostsConfig } from './setup.js';

export default definePlugin<HostsConfig>({
  name: 'hosts',
  api: '^1',
  once: true,
  parse: parseHostsConfig,
  setup(cfg, ctx) {
    return createHosts(cfg, ctx.root, ctx.log, {
      entries: ctx.metrics.gauge('entries', 'The combined number of entries in hosts and Corefile.'),
      reloadTimestamp: ctx.metrics.gauge('reload_timestamp_seconds', 'The timestamp of the last reload of hosts file.'),
    });
  },
});
