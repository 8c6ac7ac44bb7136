// whoami: answers every query with the client's address (A or AAAA) and port (SRV _udp/_tcp) in
// the additional section, as CoreDNS's whoami does.
import { definePlugin } from '../../src/plugin/api.js';
import type { RR } from '../../src/dns/message.js';

export default definePlugin({
  name: 'whoami',
  api: '^1',
  once: true,
  parse(d) {
    d.next();
    if (d.countRemainingArgs() > 0) throw d.argErr();
    return {};
  },
  setup() {
    return {
      serve(req, w) {
        const owner = req.qname === '.' ? '.' : req.qname.slice(0, -1);
        const proto = req.transport === 'tcp' ? '_tcp' : '_udp';
        const extra: RR[] = [
          req.client.family === 6 ? { name: owner, type: 'AAAA', ttl: 0, data: req.client.ip } : { name: owner, type: 'A', ttl: 0, data: req.client.ip.replace(/^::ffff:/, '') },
          { name: owner === '.' ? proto : `${proto}.${owner}`, type: 'SRV', ttl: 0, data: { priority: 0, weight: 0, port: req.client.port, target: '.' } },
        ];
        w.write({ type: 'response', flags: 0x0400, answers: [], authorities: [], additionals: extra });
        return 0;
      },
    };
  },
});
