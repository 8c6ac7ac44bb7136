// Real-world Corefiles (CoreDNS reference §1.0: kubeadm, coredns/deployment, NodeLocal DNSCache,
// k3s with its custom imports, OpenShift's cluster-dns-operator default) must be accepted unchanged: `typedns check` on each.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseConfig } from '../../src/config/compile.js';
import { PluginRegistry } from '../../src/plugin/registry.js';
import { builtinPlugins } from '../../plugins/all.js';

const dir = path.join(__dirname, 'realworld');
const registry = new PluginRegistry(builtinPlugins);
const check = (name: string) => {
  const file = path.join(dir, name);
  return parseConfig({ text: readFileSync(file, 'utf8'), file }, registry, 53);
};
const summary = (name: string) => check(name).blocks.map((b) => ({ zones: b.keys.map((k) => `${k.zone}:${k.port}`), plugins: b.directives.map((d) => d.def.name) }));

describe('real-world Corefiles parse unchanged', () => {
  it('kubeadm', () => {
    expect(summary('kubeadm.Corefile')).toEqual([
      { zones: ['.:53'], plugins: ['reload', 'ready', 'health', 'prometheus', 'errors', 'loadbalance', 'cache', 'kubernetes', 'loop', 'forward'] },
    ]);
  });

  it('autopath @kubernetes with pods verified', () => {
    expect(summary('autopath.Corefile')).toEqual([
      { zones: ['.:53'], plugins: ['reload', 'ready', 'health', 'prometheus', 'errors', 'loadbalance', 'cache', 'autopath', 'kubernetes', 'loop', 'forward'] },
    ]);
  });

  it('coredns/deployment with a stub domain block', () => {
    expect(summary('coredns-deployment.Corefile').map((b) => b.zones)).toEqual([['.:53'], ['example.com.:53']]);
  });

  it('NodeLocal DNSCache: four blocks with bind, force_tcp, success/denial capacities', () => {
    const s = summary('nodelocaldns.Corefile');
    expect(s.map((b) => b.zones[0])).toEqual(['cluster.local.:53', 'in-addr.arpa.:53', 'ip6.arpa.:53', '.:53']);
    expect(s[0]!.plugins).toEqual(['reload', 'bind', 'health', 'prometheus', 'errors', 'cache', 'loop', 'forward']);
  });

  it('OpenShift (cluster-dns-operator default): bufsize, log class error, forward policy sequential, cache denial, a chaos block', () => {
    expect(summary('openshift.Corefile')).toEqual([
      { zones: ['.:5353'], plugins: ['reload', 'bufsize', 'ready', 'health', 'prometheus', 'errors', 'log', 'cache', 'kubernetes', 'forward'] },
      { zones: ['hostname.bind.:5353'], plugins: ['chaos'] },
    ]);
  });

  it('k3s: hosts NodeHosts and the custom *.override / *.server imports', () => {
    const s = summary('k3s.Corefile');
    expect(s.map((b) => b.zones)).toEqual([['.:53'], ['example.internal.:53']]);
    expect(s[0]!.plugins).toContain('hosts');
    expect(s[0]!.plugins).toContain('log'); // from custom/debug.override
    expect(check('k3s.Corefile').files.map((f) => path.basename(f)).sort()).toEqual(['debug.override', 'k3s.Corefile', 'stub.server']);
  });
});
