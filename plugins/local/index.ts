// local: answers "local" names itself so they never leave the server, as CoreDNS's local:
// localhost. (A 127.0.0.1, AAAA ::1, SOA, NS), the reverse zones 0., 127. and 255.in-addr.arpa.
// (only 1.0.0.127.in-addr.arpa. has a PTR: localhost.), every name under .localhost. (RFC 6761)
// and, unless `localhost_prefix off`, every name starting with localhost. (legacy) — those two get
// loopback A/AAAA and are counted. Other names in the zones are NXDOMAIN, other types NODATA,
// both with the zone's SOA. Names outside go on.
import { definePlugin, QTYPE, RCODE, type RR } from '../../src/plugin/api.js';

export interface LocalConfig {
  /** Answer legacy localhost.<domain> names (CoreDNS's default, for backward compatibility). */
  localhostPrefix: boolean;
}

const ZONES = ['localhost.', '0.in-addr.arpa.', '127.in-addr.arpa.', '255.in-addr.arpa.'];
const TTL = 604800;
const LOCALHOST = 'localhost.';

const soa = (origin: string): RR => ({
  name: origin,
  type: 'SOA',
  class: 'IN',
  ttl: TTL,
  data: { mname: 'localhost', rname: 'root.localhost', serial: 1, refresh: 0, retry: 0, expire: 0, minimum: TTL },
});
const a = (name: string): RR => ({ name, type: 'A', class: 'IN', ttl: TTL, data: '127.0.0.1' });
const aaaa = (name: string): RR => ({ name, type: 'AAAA', class: 'IN', ttl: TTL, data: '::1' });

/** The zone of ZONES that `name` (lower case) is in, or ''. */
function zoneOf(name: string): string {
  for (const z of ZONES) if (name === z || name.endsWith('.' + z)) return z;
  return '';
}

export default definePlugin<LocalConfig>({
  name: 'local',
  api: '^1',
  parse(d) {
    const cfg: LocalConfig = { localhostPrefix: true };
    while (d.next()) {
      if (d.nextArg()) throw d.argErr();
      while (d.nextBlock()) {
        switch (d.val()) {
          case 'localhost_prefix': {
            const args = d.remainingArgs();
            if (args.length !== 1) throw d.argErr();
            if (args[0] === 'on') cfg.localhostPrefix = true;
            else if (args[0] === 'off') cfg.localhostPrefix = false;
            else throw d.err(`localhost_prefix expects 'on' or 'off', got "${args[0]}"`);
            break;
          }
          default:
            throw d.unknownProperty();
        }
      }
    }
    return cfg;
  },
  setup(cfg, ctx) {
    // no server label, as CoreDNS: the clients asking are what matters (see the debug log)
    const localhostCount = ctx.metrics.counter('localhost_requests_total', 'Counter of special localhost subdomain requests.').labels();
    return {
      serve(req, w, next) {
        const name = req.name;
        const qname = req.qname;
        const t = req.qtype;
        if (name.length > LOCALHOST.length && (name.endsWith('.localhost.') || (cfg.localhostPrefix && name.startsWith(LOCALHOST)))) {
          ctx.log.debug(`intercepting localhost query for "${name}" ${t}, from ${req.client.ip}`);
          localhostCount.inc();
          if (t === QTYPE.A) w.write({ type: 'response', flags: 0, answers: [a(qname)] });
          else if (t === QTYPE.AAAA) w.write({ type: 'response', flags: 0, answers: [aaaa(qname)] });
          else w.write({ type: 'response', flags: 0, answers: [], authorities: [soa(qname)] });
          return RCODE.NOERROR;
        }
        const zone = zoneOf(name);
        if (zone === '') return next(req, w);
        const origin = qname.slice(qname.length - zone.length); // the zone as the client spelled it
        let answers: RR[] = [];
        let authorities: RR[] = [];
        if (name === zone) {
          const apexHost = name === LOCALHOST;
          if (t === QTYPE.A && apexHost) answers = [a(qname)];
          else if (t === QTYPE.AAAA && apexHost) answers = [aaaa(qname)];
          else if (t === QTYPE.SOA) answers = [soa(qname)];
          else if (t === QTYPE.NS) answers = [{ name: qname, type: 'NS', class: 'IN', ttl: TTL, data: 'localhost' }];
          else authorities = [soa(qname)];
        } else if (name === '1.0.0.127.in-addr.arpa.') {
          if (t === QTYPE.PTR) answers = [{ name: qname, type: 'PTR', class: 'IN', ttl: TTL, data: 'localhost' }];
          else authorities = [soa(origin)];
        }
        let flags = 0;
        if (answers.length === 0 && authorities.length === 0) {
          authorities = [soa(origin)];
          flags = RCODE.NXDOMAIN;
        }
        w.write({ type: 'response', flags, answers, authorities });
        return flags;
      },
    };
  },
});
