// THE order file: the chain order of every built-in plugin (CoreDNS's plugin.cfg). A plugin
// feels the effects of every plugin after it; it must not care what the plugins before it do.
// The order in the Corefile does not matter. External plugins (-plugin) are placed with
// before/after one of these names.
//
// To add a plugin: one array entry, at its place, with a comment on why there.
//
// Each entry is the plugin's name and how to import it: a server imports only the plugins its
// Corefile names (PluginRegistry.load, before the plugins' parsers run), so a hosts-only
// Corefile does not pay the start time and memory of kubernetes, dnssec or forward. Every
// definition at once, imported: plugins/all.ts.
import type { LazyPlugin } from '../src/plugin/registry.js';
import type { PluginDefinition } from '../src/plugin/types.js';

/** A built-in: its name (the folder's, which is the directive) and its module's default export. */
function lazy(name: string, load: () => Promise<{ default: PluginDefinition<any> }>): LazyPlugin {
  return { name, load: async () => (await load()).default };
}

export const builtinOrder: readonly LazyPlugin[] = [
  lazy('metadata', () => import('./metadata/index.js')), // starts each query's metadata and asks every plugin of the block to publish: before all
  lazy('https', () => import('./https/index.js')), // DoH listener options of an https:// block; not in the chain
  lazy('cancel', () => import('./cancel/index.js')), // a deadline per query; nothing is sent once it has passed
  lazy('timeouts', () => import('./timeouts/index.js')), // read/write/idle timeouts of the block's connection listeners; not in the chain
  lazy('reload', () => import('./reload/index.js')), // watches the Corefile; not in the chain
  lazy('nsid', () => import('./nsid/index.js')), // first in the chain: adds NSID to whatever reply comes back
  lazy('bufsize', () => import('./bufsize/index.js')), // everything below sees (and forwards) the capped EDNS0 size
  lazy('bind', () => import('./bind/index.js')), // listen addresses; not in the chain
  lazy('debug', () => import('./debug/index.js')), // turns on debug logging for the block; not in the chain
  lazy('ready', () => import('./ready/index.js')), // /ready from every plugin's ready(); not in the chain
  lazy('health', () => import('./health/index.js')), // /health; not in the chain
  lazy('explain', () => import('./explain/index.js')), // GET /explain: runs a query through the chains with a trace; not in the chain
  lazy('prometheus', () => import('./prometheus/index.js')), // measures everything below it
  lazy('errors', () => import('./errors/index.js')), // logs what everything below throws
  lazy('log', () => import('./log/index.js')), // one line per query, after everything below answered
  lazy('dnstap', () => import('./dnstap/index.js')), // client queries and replies to a dnstap collector, as log sees them
  lazy('local', () => import('./local/index.js')), // localhost. and the loopback reverse zones, answered here so they never go out
  lazy('dns64', () => import('./dns64/index.js')), // AAAA from A for IPv6-only clients (NAT64): sees the reply of everything below
  lazy('any', () => import('./any/index.js')), // RFC 8482: a short HINFO for qtype ANY, before any data plugin sees it
  lazy('chaos', () => import('./chaos/index.js')), // CH TXT version.bind and friends, before any data plugin sees them
  lazy('loadbalance', () => import('./loadbalance/index.js')), // shuffles the answers produced below it
  lazy('rewrite', () => import('./rewrite/index.js')), // before acl and cache: both see the rewritten name (CVE-2026-26017 order)
  lazy('acl', () => import('./acl/index.js')), // allow/block/filter/drop by client and type
  lazy('cache', () => import('./cache/index.js')), // above every data plugin
  lazy('tls', () => import('./tls/index.js')), // the certificate of a tls:// or https:// block; not in the chain (plugin.cfg's place)
  lazy('header', () => import('./header/index.js')), // sets/clears flags of the query passed down and of the reply coming up
  lazy('dnssec', () => import('./dnssec/index.js')), // signs the replies of every data plugin below it; cache above keeps them signed
  lazy('autopath', () => import('./autopath/index.js')), // completes a pod's search path on the server, asking the data plugins below
  lazy('minimal', () => import('./minimal/index.js')), // strips replies from below to their answers; cache above stores them stripped
  lazy('template', () => import('./template/index.js')), // answers from templates
  lazy('transfer', () => import('./transfer/index.js')), // AXFR/IXFR out of the zones of the data plugins below it (plugin.cfg's place)
  lazy('hosts', () => import('./hosts/index.js')), // /etc/hosts
  lazy('k8s_external', () => import('./k8s_external/index.js')), // Services' external addresses in a public zone, from the kubernetes plugin's data
  lazy('kubernetes', () => import('./kubernetes/index.js')), // the cluster
  lazy('sign', () => import('./sign/index.js')), // signs zone files; not in the chain. Before file (plugin.cfg: after whoami) so that
  //   its setup writes db.<zone>.signed before file's setup reads it
  lazy('file', () => import('./file/index.js')), // authoritative zone files
  lazy('auto', () => import('./auto/index.js')), // authoritative zone files from a folder (plugin.cfg: right after file)
  lazy('secondary', () => import('./secondary/index.js')), // zones transferred in from a primary (after file, as in plugin.cfg)
  lazy('loop', () => import('./loop/index.js')), // just above forward: sees its own probe come back
  lazy('forward', () => import('./forward/index.js')), // everything else goes upstream
  lazy('whoami', () => import('./whoami/index.js')), // a responder of last resort: answers everything it sees
  lazy('view', () => import('./view/index.js')), // routing between blocks on one zone and port (filter()); not in the chain
];
