// any: RFC 8482 minimal answers to qtype ANY. Such a query gets one synthesised HINFO record
// ("ANY obsoleted" "See RFC 8482", TTL 8482, as CoreDNS's any) instead of everything the name has;
// every other query goes on. The record is encoded once, its owner a pointer to the question.
import { definePlugin, pack, packedReply, QTYPE, RCODE } from '../../src/plugin/api.js';

export default definePlugin<Record<string, never>>({
  name: 'any',
  api: '^1',
  parse(d) {
    d.next();
    if (d.nextArg()) throw d.argErr();
    if (d.nextBlock()) throw d.unknownProperty();
    return {};
  },
  setup() {
    const hinfo = pack([{ name: '.', type: 'HINFO', class: 'IN', ttl: 8482, data: { cpu: 'ANY obsoleted', os: 'See RFC 8482' } }]);
    return {
      serve(req, w, next) {
        if (req.qtype !== QTYPE.ANY) return next(req, w);
        w.write(packedReply(req, 0, RCODE.NOERROR, hinfo));
        return RCODE.NOERROR;
      },
    };
  },
});
