// forward: proxies queries to upstream resolvers over UDP/TCP, with reused sockets, reply
// validation, in-band health checks, policies, max_concurrent, next/failover. Several
// `forward` lines in one block are held by one plugin instance: a query goes to the forwarder
// with the longest matching FROM (Corefile order breaks ties), and `next RCODE` hands it to the
// following matching forwarder in Corefile order.
//   setup.ts   parse (Corefile → ForwardConfig) and setup (metrics, upstreams, forwarders)
//   forward.ts the handler: a Forwarder per line, longest FROM, next, max_concurrent
//   proxy.ts   one upstream: reused sockets, reply validation, health checks
import { definePlugin } from '../../src/plugin/api.js';
import { parseForward, setupForward, type ForwardConfig } from './setup.js';

export type { ForwardConfig, ForwarderConfig } from './setup.js';

export default definePlugin<ForwardConfig>({
  name: 'forward',
  api: '^1',
  parse: parseForward,
  setup: setupForward,
});
