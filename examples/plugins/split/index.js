// typedns-plugin-split: a split-horizon view. The same name gets a different address depending
// on the network the query comes from:
//
//   split example.org {
//       net 127.0.0.0/8 ::1/128 {
//           app.example.org 127.0.0.10
//       }
//       net 0.0.0.0/0 ::/0 {
//           app.example.org 192.0.2.10 2001:db8::10
//       }
//       ttl 60
//       fallthrough
//   }
//
// Written as an outside author writes a plugin: plain JavaScript (ESM), importing only from
// 'typedns/plugin', with the types in index.d.ts. JSDoc lets `tsc --checkJs` check it too.
// @ts-check
import { definePlugin, Fall, Zones, parseCidr, cidrContains, reply, RCODE, QTYPE } from 'typedns/plugin';

/** @typedef {import('./index.d.ts').SplitConfig} SplitConfig */
/** @typedef {import('./index.d.ts').SplitView} SplitView */

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

export default definePlugin({
  name: 'split',
  api: '^1',
  once: true,
  // Above cache: the cache's key does not include the client's address, so a view's answer
  // must never be cached for everybody. Below log and errors: its queries are logged.
  position: { after: 'log' },

  /**
   * Pure: tokens → config. Every bad input throws d.err(…) so the message names file:line.
   * @param {import('typedns/plugin').Dispenser} d
   * @param {readonly string[]} blockZones
   * @returns {SplitConfig}
   */
  parse(d, blockZones) {
    d.next(); // the directive itself
    const zones = Zones.from(d.remainingArgs(), blockZones);
    /** @type {SplitView[]} */
    const views = [];
    let ttl = 30;
    let fall = Fall.none;
    while (d.nextBlock()) {
      switch (d.val()) {
        case 'net': {
          const args = d.remainingArgs();
          if (args.length === 0) throw d.err('net: expected at least one CIDR, e.g. net 10.0.0.0/8 {');
          const nets = args.map((a) => {
            const c = parseCidr(a);
            if (c === undefined) throw d.err(`net: invalid CIDR '${a}', expected e.g. 10.0.0.0/8 or fd00::/8`);
            return c;
          });
          /** @type {Map<string, string[]>} */
          const records = new Map();
          // the nested block: one "NAME IP [IP...]" per line
          while (d.nextBlock(1)) {
            const name = Zones.fqdn(d.val());
            const ips = d.remainingArgs();
            if (ips.length === 0) throw d.err(`net: '${d.val()}' needs at least one address`);
            for (const ip of ips) {
              const c = parseCidr(ip);
              if (c === undefined || ip.includes('/')) throw d.err(`net: invalid address '${ip}' for '${name}'`);
            }
            if (zones.match(name) === undefined) throw d.err(`net: name '${name}' is outside the plugin's zones`);
            records.set(name, [...(records.get(name) ?? []), ...ips]);
          }
          views.push({ label: args.join(','), nets, records });
          break;
        }
        case 'ttl':
          ttl = d.uint(0, 3600);
          break;
        case 'fallthrough':
          fall = Fall.from(d.remainingArgs());
          break;
        default:
          throw d.unknownProperty();
      }
    }
    if (views.length === 0) throw d.err('expected at least one net block');
    return { zones, views, ttl, fall };
  },

  /**
   * Side effects live here: metric children are bound once, not per query.
   * @param {SplitConfig} cfg
   * @param {import('typedns/plugin').SetupContext} ctx
   */
  setup(cfg, ctx) {
    const answers = ctx.metrics.counter('answers_total', 'Answers served by split, by view.', ['view']);
    const byView = cfg.views.map((v) => answers.labels(v.label));
    ctx.log.debug(`${cfg.views.length} views for ${cfg.zones.list.join(' ')}`);
    return {
      serve(req, w, next) {
        if (cfg.zones.match(req.name) === undefined) return next(req, w);
        // A dual-stack socket shows IPv4 clients as ::ffff:a.b.c.d.
        const ip = req.client.ip.startsWith('::ffff:') && IPV4.test(req.client.ip.slice(7)) ? req.client.ip.slice(7) : req.client.ip;
        const i = cfg.views.findIndex((v) => v.nets.some((n) => cidrContains(n, ip)));
        const view = cfg.views[i];
        const ips = view?.records.get(req.name);
        // req.trace is set only while the query is explained (typedns explain, GET /explain):
        // the note's text is built only then.
        req.trace?.note(view === undefined ? `no view holds ${ip}` : `client ${ip} is in view ${view.label}`);
        if (view === undefined || ips === undefined) {
          const fall = cfg.fall.through(req.name);
          req.trace?.note(`${req.name} is not in this view: ${fall ? 'fallthrough to the next plugin' : 'NXDOMAIN'}`);
          return fall ? next(req, w) : RCODE.NXDOMAIN;
        }
        const v4 = req.qtype === QTYPE.A;
        const type = v4 ? 'A' : 'AAAA';
        const records =
          req.qtype === QTYPE.A || req.qtype === QTYPE.AAAA
            ? ips.filter((a) => IPV4.test(a) === v4).map((data) => ({ name: req.name, type, ttl: cfg.ttl, class: 'IN', data }))
            : []; // the name exists in this view: other types get NODATA
        w.write(reply(req, /** @type {any} */ (records), { aa: true }));
        byView[i]?.inc();
        return RCODE.NOERROR; // in memory: answer synchronously, no promise
      },
    };
  },
});
