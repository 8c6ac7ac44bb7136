// template: answers queries from Go-style templates (a subset, see gotemplate.ts) of zone-file
// records, as CoreDNS's template plugin does. Templates are checked in Corefile order; the first
// whose class, type, zone and a `match` regex fit answers. A template whose zone fits but no regex
// matches answers SERVFAIL unless `fallthrough` covers the name.
import net from 'node:net';
import { definePlugin, Fall, FLAG, QTYPE, RCODE, Zones, className, fqdn, rcodeFromName, reply, rr, typeFromName, typeName } from '../../src/plugin/api.js';
import type { Rcode, Request, ResponseWriter, RR } from '../../src/plugin/api.js';
import { compileTemplate, type CompiledTemplate, type TemplateData } from './gotemplate.js';

export interface TemplateConfig {
  templates: Template[];
}

export interface Template {
  qclass: number; // 255 = ANY
  qtype: number; // 255 = ANY
  zones: Zones;
  regex: RegExp[];
  answer: CompiledTemplate[];
  additional: CompiledTemplate[];
  authority: CompiledTemplate[];
  rcode: number;
  fall: Fall;
}

const CLASSES: Record<string, number> = { IN: 1, CS: 2, CH: 3, HS: 4, NONE: 254, ANY: 255 };
const MAX_REGEX = 10_000;

/** Zone-file text → record; SOA rdata in parentheses is accepted as on one line. */
function parseRR(text: string): RR {
  const r = rr(text.replace(/[()]/g, ' '));
  const data = (r as { data?: unknown }).data;
  if (r.type === 'A' && !net.isIPv4(String(data))) throw new Error(`invalid IPv4 address '${String(data)}'`);
  if (r.type === 'AAAA' && !net.isIPv6(String(data))) throw new Error(`invalid IPv6 address '${String(data)}'`);
  if (!Number.isInteger((r as { ttl?: number }).ttl)) throw new Error('invalid TTL');
  return r;
}

export default definePlugin<TemplateConfig>({
  name: 'template',
  api: '^1',
  parse(d, blockZones) {
    const templates: Template[] = [];
    while (d.next()) {
      const args = d.remainingArgs();
      if (args.length < 2) throw d.err('wrong argument count: expected CLASS TYPE [ZONE...]');
      const qclass = CLASSES[args[0]!.toUpperCase()];
      if (qclass === undefined) throw d.err(`invalid query class '${args[0]}'`);
      const qtype = args[1]!.toUpperCase() === 'ANY' ? 255 : typeFromName(args[1]!);
      if (qtype === undefined) throw d.err(`invalid RR type '${args[1]}'`);
      const t: Template = { qclass, qtype, zones: Zones.from(args.slice(2), blockZones), regex: [], answer: [], additional: [], authority: [], rcode: RCODE.NOERROR, fall: Fall.none };
      while (d.nextBlock()) {
        const key = d.val();
        switch (key) {
          case 'match': {
            const rs = d.remainingArgs();
            if (rs.length === 0) throw d.argErr();
            for (const r of rs) {
              if (r.length > MAX_REGEX) throw d.err(`regex is too long (more than ${MAX_REGEX} characters)`);
              try {
                t.regex.push(new RegExp(r.replace(/\(\?P</g, '(?<')));
              } catch (e) {
                throw d.err(`could not parse regex '${r}': ${(e as Error).message}`);
              }
            }
            break;
          }
          case 'answer':
          case 'additional':
          case 'authority': {
            const rs = d.remainingArgs();
            if (rs.length === 0) throw d.argErr();
            for (const r of rs) {
              try {
                t[key].push(compileTemplate(r));
              } catch (e) {
                throw d.err(`could not compile template '${r}': ${(e as Error).message}`);
              }
            }
            break;
          }
          case 'rcode': {
            const v = d.arg();
            const rc = rcodeFromName(v);
            if (rc === undefined || /^\d+$/.test(v)) throw d.err(`unknown rcode '${v}'`);
            t.rcode = rc;
            d.noMoreArgs();
            break;
          }
          case 'ederror': {
            // accepted for compatibility; typedns replies carry no EDNS0 options, so it is not sent
            const v = d.arg();
            if (!/^\d+$/.test(v) || Number(v) > 24) throw d.err(`invalid extended error code '${v}'`);
            d.remainingArgs();
            break;
          }
          case 'fallthrough':
            t.fall = Fall.from(d.remainingArgs());
            break;
          default:
            throw d.unknownProperty();
        }
      }
      if (t.regex.length === 0) t.regex.push(/.*/);
      templates.push(t);
    }
    return { templates };
  },
  setup(cfg, ctx) {
    const templates = cfg.templates;
    const matches = ctx.metrics.counter('matches_total', 'Counter of template regex matches.', ['server', 'zone', 'view', 'class', 'type']);
    const tplFailures = ctx.metrics.counter('template_failures_total', 'Counter of go template failures.', ['server', 'zone', 'view', 'class', 'type', 'section', 'template']);
    const rrFailures = ctx.metrics.counter('rr_failures_total', 'Counter of mis-templated RRs.', ['server', 'zone', 'view', 'class', 'type', 'section', 'template']);
    const chase = async (req: Request, w: ResponseWriter, rcode: number, answers: RR[], authorities: RR[], additionals: RR[]): Promise<Rcode> => {
      const out: RR[] = [];
      let tc = false;
      for (const a of answers) {
        out.push(a);
        if (a.type !== 'CNAME') continue;
        try {
          const up = await ctx.lookup(req, fqdn(String(a.data).toLowerCase()), req.qtype);
          tc ||= ((up.flags ?? 0) & FLAG.TC) !== 0;
          out.push(...(up.answers ?? []));
        } catch {
          // nested too deep (a CNAME loop): the CNAME alone, as when CoreDNS's lookup fails
        }
      }
      const m = reply(req, out, { rcode, aa: true, authorities, additionals });
      if (tc) m.flags = (m.flags ?? 0) | FLAG.TC;
      w.write(m);
      return rcode;
    };
    return {
      serve(req, w, next) {
        for (let ti = 0; ti < templates.length; ti++) {
          const t = templates[ti]!;
          const zone = t.zones.match(req.name);
          if (zone === undefined) continue;
          if (t.qclass !== 255 && req.qclass !== 255 && req.qclass !== t.qclass) continue;
          if (t.qtype !== 255 && req.qtype !== 255 && req.qtype !== t.qtype) continue;
          let m: RegExpExecArray | null = null;
          for (const re of t.regex) if ((m = re.exec(req.name)) !== null) break;
          if (m === null) {
            req.trace?.note(`template #${ti + 1} (${className(t.qclass)} ${typeName(t.qtype)}): no match regex matches${t.fall.through(req.name) ? ', fallthrough' : ': SERVFAIL'}`);
            if (t.fall.through(req.name)) continue;
            return RCODE.SERVFAIL;
          }
          req.trace?.note(`template #${ti + 1} (${className(t.qclass)} ${typeName(t.qtype)} ${zone}): regex ${t.regex.find((re) => re.exec(req.name) !== null)?.source ?? ''} matches`);
          const cls = className(req.qclass);
          const typ = typeName(req.qtype);
          const group: Record<string, string> = {};
          m.forEach((g, i) => (group[String(i)] = g ?? ''));
          for (const [k, v] of Object.entries(m.groups ?? {})) group[k] = v ?? '';
          const q = { Name: req.qname, Qtype: req.qtype, Qclass: req.qclass };
          const data: TemplateData = {
            Name: req.name,
            Zone: zone,
            Class: cls,
            Type: typ,
            Remote: req.client.ip,
            Match: Array.from(m, (g) => g ?? ''),
            Group: group,
            Question: q,
            Message: { Id: req.id, Question: [q] },
          };
          matches.labels(ctx.server.label, zone, '', cls, typ).inc();
          const build = (section: 'answer' | 'additional' | 'authority'): RR[] | null => {
            const out: RR[] = [];
            for (const tpl of t[section]) {
              let text: string;
              try {
                text = tpl.execute(data);
              } catch (e) {
                tplFailures.labels(ctx.server.label, zone, '', cls, typ, section, tpl.source).inc();
                ctx.log.error(`template ${section} '${tpl.source}' failed for ${req.name}: ${(e as Error).message}`);
                return null;
              }
              try {
                out.push(parseRR(text));
              } catch (e) {
                rrFailures.labels(ctx.server.label, zone, '', cls, typ, section, tpl.source).inc();
                ctx.log.error(`template ${section} produced an invalid record '${text}': ${(e as Error).message}`);
                return null;
              }
            }
            return out;
          };
          const answers = build('answer');
          const authorities = build('authority');
          const additionals = build('additional');
          if (answers === null || authorities === null || additionals === null) return RCODE.SERVFAIL;
          // An A/AAAA query answered with a CNAME: the target is looked up through the server and
          // its answer appended (TC copied from it), as CoreDNS's template does with its upstream.
          req.trace?.note(`made ${answers.length} answer, ${authorities.length} authority, ${additionals.length} additional record(s), rcode ${t.rcode}`);
          if ((req.qtype === QTYPE.A || req.qtype === QTYPE.AAAA) && answers.some((a) => a.type === 'CNAME')) return chase(req, w, t.rcode, answers, authorities, additionals);
          w.write(reply(req, answers, { rcode: t.rcode, aa: true, authorities, additionals }));
          return t.rcode;
        }
        req.trace?.note('no template for this class, type and zone: next plugin');
        return next(req, w);
      },
    };
  },
});
