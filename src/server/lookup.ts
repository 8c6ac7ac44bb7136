// A query of the server's own (CoreDNS's upstream.Lookup): a plugin asks the whole server — every
// block on the listener the client's query came in on, routed by zone — and gets the reply back
// instead of sending it. The file plugin resolves a CNAME whose target is outside its zone so.
import { RCODE } from '../dns/constants.js';
import { CaptureWriter } from '../plugin/wrapped-writer.js';
import type { Message, Request } from '../plugin/types.js';
import type { DnsRequest } from '../request/request.js';
import type { RouteTable } from './route.js';

/** Lookups inside lookups (a CNAME in one zone to another zone's CNAME …) stop here. */
export const MAX_LOOKUP_DEPTH = 8;

const depthOf = new WeakMap<Request, number>();

const empty = (name: string, qtype: number, qclass: number, rcode: number): Message => ({
  type: 'response',
  flags: rcode & 0xf,
  questions: [{ name: name.replace(/\.$/, '') || '.', type: qtype as never, class: qclass as never }],
  answers: [],
  authorities: [],
  additionals: [],
});

export async function lookupThrough(table: RouteTable | undefined, req: Request, name: string, qtype: number): Promise<Message> {
  const depth = (depthOf.get(req) ?? 0) + 1;
  if (depth > MAX_LOOKUP_DEPTH) throw new Error(`lookup of ${name} nested more than ${MAX_LOOKUP_DEPTH} deep`);
  const fq = name.endsWith('.') ? name.toLowerCase() : `${name.toLowerCase()}.`;
  let route = table?.lookup(fq, qtype);
  if (route === undefined || route.block.entry === undefined) return empty(fq, qtype, req.qclass, RCODE.REFUSED);
  let sub = (req as DnsRequest).withQuestion(fq, qtype, req.qclass, route.zone);
  if (route.filtered) {
    route = table!.select(fq, qtype, sub);
    if (route === undefined || route.block.entry === undefined) return empty(fq, qtype, req.qclass, RCODE.REFUSED);
    if (route.zone !== sub.zone) sub = (req as DnsRequest).withQuestion(fq, qtype, req.qclass, route.zone);
  }
  const entry = route.block.entry;
  sub.slots = null; // a query of its own: no plugin's per-query state carries over
  depthOf.set(sub, depth);
  const cap = new CaptureWriter();
  const rc = await entry(sub, cap);
  if (cap.msg !== undefined) return cap.msg;
  return empty(fq, qtype, req.qclass, typeof rc === 'number' && rc >= 0 && rc < 16 ? rc : RCODE.SERVFAIL);
}
