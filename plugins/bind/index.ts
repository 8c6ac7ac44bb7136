// bind: the addresses (or interface names) a server block listens on, with `except`.
import net from 'node:net';
import os from 'node:os';
import { definePlugin } from '../../src/plugin/api.js';

export interface BindConfig {
  addresses: string[];
  except: string[];
}

function expand(arg: string): string[] | undefined {
  if (net.isIP(arg)) return [arg];
  const iface = os.networkInterfaces()[arg];
  if (iface === undefined) return undefined;
  return iface.map((a) => a.address);
}

export default definePlugin<BindConfig>({
  name: 'bind',
  api: '^1',
  parse(d) {
    const cfg: BindConfig = { addresses: [], except: [] };
    while (d.next()) {
      const args = d.remainingArgs();
      if (args.length === 0) throw d.argErr();
      for (const a of args) {
        const ips = expand(a);
        if (ips === undefined) throw d.err(`not a valid IP address or interface name: '${a}'`);
        cfg.addresses.push(...ips);
      }
      while (d.nextBlock()) {
        if (d.val() !== 'except') throw d.unknownProperty();
        const ex = d.remainingArgs();
        if (ex.length === 0) throw d.argErr();
        for (const a of ex) {
          const ips = expand(a);
          if (ips === undefined) throw d.err(`not a valid IP address or interface name: '${a}'`);
          cfg.except.push(...ips);
        }
      }
    }
    return cfg;
  },
  setup(cfg, ctx) {
    const except = new Set(cfg.except);
    const addrs = [...new Set(cfg.addresses)].filter((a) => !except.has(a));
    if (addrs.length === 0) throw new Error('all addresses are excluded by except');
    ctx.listen.addresses.push(...addrs);
    ctx.listen.except.push(...cfg.except);
    return {};
  },
});
