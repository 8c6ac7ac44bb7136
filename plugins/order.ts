// THE order file: the chain order of every built-in plugin (CoreDNS's plugin.cfg). A plugin
// feels the effects of every plugin after it; it must not care what the plugins before it do.
// The order in the Corefile does not matter. External plugins (-plugin) are placed with
// before/after one of these names.
//
// To add a plugin: one import and one array entry, at its place, with a comment on why there.
import type { PluginDefinition } from '../src/plugin/types.js';
import acl from './acl/index.js';
import any from './any/index.js';
import bind from './bind/index.js';
import bufsize from './bufsize/index.js';
import cache from './cache/index.js';
import chaos from './chaos/index.js';
import debug from './debug/index.js';
import header from './header/index.js';
import health from './health/index.js';
import loop from './loop/index.js';
import prometheus from './prometheus/index.js';
import ready from './ready/index.js';
import reload from './reload/index.js';
import errors from './errors/index.js';
import file from './file/index.js';
import auto from './auto/index.js';
import hosts from './hosts/index.js';
import kubernetes from './kubernetes/index.js';
import forward from './forward/index.js';
import loadbalance from './loadbalance/index.js';
import local from './local/index.js';
import log from './log/index.js';
import minimal from './minimal/index.js';
import nsid from './nsid/index.js';
import rewrite from './rewrite/index.js';
import template from './template/index.js';
import whoami from './whoami/index.js';
import view from './view/index.js';
import autopath from './autopath/index.js';
import metadata from './metadata/index.js';
import tls from './tls/index.js';
import https from './https/index.js';
import dnstap from './dnstap/index.js';
import cancel from './cancel/index.js';
import dns64 from './dns64/index.js';
import explain from './explain/index.js';
import transfer from './transfer/index.js';
import secondary from './secondary/index.js';
import timeouts from './timeouts/index.js';
import k8sExternal from './k8s_external/index.js';
import dnssec from './dnssec/index.js';
import sign from './sign/index.js';

export const builtinPlugins: PluginDefinition<any>[] = [
  metadata, //    starts each query's metadata and asks every plugin of the block to publish: before all
  https, //       DoH listener options of an https:// block; not in the chain
  cancel, //      a deadline per query; nothing is sent once it has passed
  timeouts, //    read/write/idle timeouts of the block's connection listeners; not in the chain
  reload, //      watches the Corefile; not in the chain
  nsid, //        first in the chain: adds NSID to whatever reply comes back
  bufsize, //     everything below sees (and forwards) the capped EDNS0 size
  bind, //        listen addresses; not in the chain
  debug, //       turns on debug logging for the block; not in the chain
  ready, //       /ready from every plugin's ready(); not in the chain
  health, //      /health; not in the chain
  explain, //     GET /explain: runs a query through the chains with a trace; not in the chain
  prometheus, //  measures everything below it
  errors, //      logs what everything below throws
  log, //         one line per query, after everything below answered
  dnstap, //      client queries and replies to a dnstap collector, as log sees them
  local, //       localhost. and the loopback reverse zones, answered here so they never go out
  dns64, //       AAAA from A for IPv6-only clients (NAT64): sees the reply of everything below
  any, //         RFC 8482: a short HINFO for qtype ANY, before any data plugin sees it
  chaos, //       CH TXT version.bind and friends, before any data plugin sees them
  loadbalance, // shuffles the answers produced below it
  rewrite, //     before acl and cache: both see the rewritten name (CVE-2026-26017 order)
  acl, //         allow/block/filter/drop by client and type
  cache, //      above every data plugin
  tls, //         the certificate of a tls:// or https:// block; not in the chain (plugin.cfg's place)
  header, //      sets/clears flags of the query passed down and of the reply coming up
  dnssec, //      signs the replies of every data plugin below it; cache above keeps them signed
  autopath, //    completes a pod's search path on the server, asking the data plugins below
  minimal, //     strips replies from below to their answers; cache above stores them stripped
  template, //    answers from templates
  transfer, //    AXFR/IXFR out of the zones of the data plugins below it (plugin.cfg's place)
  hosts, //       /etc/hosts
  k8sExternal, // Services' external addresses in a public zone, from the kubernetes plugin's data
  kubernetes, //  the cluster
  sign, //        signs zone files; not in the chain. Before file (plugin.cfg: after whoami) so that
  //              its setup writes db.<zone>.signed before file's setup reads it
  file, //        authoritative zone files
  auto, //        authoritative zone files from a folder (plugin.cfg: right after file)
  secondary, //   zones transferred in from a primary (after file, as in plugin.cfg)
  loop, //        just above forward: sees its own probe come back
  forward, //    everything else goes upstream
  whoami, //      a responder of last resort: answers everything it sees
  view, //        routing between blocks on one zone and port (filter()); not in the chain
];
