// The query path shared by UDP and TCP: read header and question from the wire, route to a
// block, run its chain, catch anything thrown (SERVFAIL + coredns_panics_total), and write an
// empty reply with the returned rcode when the chain wrote nothing.
import { performance } from 'node:perf_hooks';
import type { Client, MaybePromise, Rcode } from '../plugin/types.js';
import { DROP, FLAG, QCLASS, RCODE } from '../dns/constants.js';
import { emptyReply, Parse, parseQuery, QueryHead } from '../dns/wire.js';
import { DnsRequest, type LocalAddr } from '../request/request.js';
import { CoreWriter, type Sender } from '../request/writer.js';
import { settle } from '../plugin/chain.js';
import { wasLogged } from '../plugin/errors.js';
import type { RouteTable } from './route.js';
import type { Logger } from '../observe/log.js';
import type { Counter } from '../observe/metrics.js';

/** What a listener needs from the process: the current routes and the panic counter. */
export interface ServeContext {
  table: RouteTable;
  readonly log: Logger;
  readonly panics: Counter;
  /** Queries being answered right now (graceful shutdown waits for 0). */
  inflight: number;
}

const head = new QueryHead();

/**
 * Answer one query. `send` receives the reply bytes. Never throws. Returns undefined when the
 * query is finished (replied, or dropped) on return, or a promise that settles once the chain
 * that went asynchronous has finished (TCP waits for it before closing a half-closed connection).
 */
export function serveQuery(ctx: ServeContext, buf: Buffer, client: Client, local: LocalAddr, transport: 'udp' | 'tcp', sender: Sender): Promise<void> | undefined {
  const h = head;
  let status: Parse;
  try {
    status = parseQuery(buf, h);
  } catch {
    status = Parse.FORMERR;
  }
  if (status !== Parse.OK) {
    if (status === Parse.DROP || status === Parse.IGNORE) {
      sender.unanswered?.(undefined);
      return;
    }
    const rcode = status === Parse.NOTIMP ? RCODE.NOTIMP : status === Parse.BADVERS ? RCODE.BADVERS : RCODE.FORMERR;
    const qend = status === Parse.FORMERR ? 12 : h.questionEnd;
    const reply = emptyReply(buf, qend, rcode, 0, h.edns || status === Parse.BADVERS, h.do);
    sendRaw(sender, reply, buf, h, client, local, transport, qend);
    return;
  }
  const route = h.qclass === QCLASS.IN || h.qclass === QCLASS.CH ? ctx.table.lookup(h.name, h.qtype) : undefined;
  let entry = route?.block.entry;
  if (route === undefined || entry === undefined) {
    sendRaw(sender, emptyReply(buf, h.questionEnd, RCODE.REFUSED, 0, h.edns, h.do), buf, h, client, local, transport, h.questionEnd);
    return;
  }
  let req = new DnsRequest(buf, h.id, h.qname, h.name, h.qtype, h.qclass, h.questionEnd, route.zone, transport, client, local, h.edns, h.bufsize, h.do, h.flags, performance.now());
  if (route.filtered) {
    // views: the blocks' filters read the request; the first block that takes it serves
    const chosen = ctx.table.select(h.name, h.qtype, req);
    entry = chosen?.block.entry;
    if (chosen === undefined || entry === undefined) {
      sendRaw(sender, emptyReply(buf, h.questionEnd, RCODE.REFUSED, 0, h.edns, h.do), buf, h, client, local, transport, h.questionEnd);
      return;
    }
    if (chosen.zone !== req.zone) req = new DnsRequest(buf, h.id, h.qname, h.name, h.qtype, h.qclass, h.questionEnd, chosen.zone, transport, client, local, h.edns, h.bufsize, h.do, h.flags, req.start);
  }
  const w = new CoreWriter(req, sender);
  let r: MaybePromise<Rcode>;
  ctx.inflight++;
  try {
    r = entry(req, w);
  } catch (e) {
    panic(ctx, req, w, e);
    ctx.inflight--;
    return;
  }
  if (r !== null && typeof r === 'object' && typeof (r as Promise<Rcode>).then === 'function') {
    return (r as Promise<Rcode>).then(
      (rc) => {
        ctx.inflight--;
        finish(req, w, rc);
      },
      (e: unknown) => {
        ctx.inflight--;
        panic(ctx, req, w, e);
      },
    );
  }
  ctx.inflight--;
  finish(req, w, r as Rcode);
  return undefined;
}

function finish(req: DnsRequest, w: CoreWriter, rc: Rcode): void {
  settle(req, w, rc); // DROP: the chain asked for no reply at all
  if (!w.written) w.unanswered();
}

function panic(ctx: ServeContext, req: DnsRequest, w: CoreWriter, e: unknown): void {
  ctx.panics.inc();
  if (!wasLogged(e)) {
    const msg = e instanceof Error ? (e.stack ?? e.message) : String(e);
    ctx.log.error(`recovered from panic in plugin chain for "${req.name}" ${req.qtype}: ${msg}`);
  }
  if (!w.written) {
    try {
      w.write(emptyReply(req.wire, req.questionEnd, RCODE.SERVFAIL, 0, req.edns, req.do));
    } catch {
      // a wrapper that throws on write: nothing more we can do for this query
    }
  }
  if (!w.written) w.unanswered();
}

/** Send a reply built before any request object exists (FORMERR, NOTIMP, REFUSED). */
function sendRaw(sender: Sender, reply: Buffer, buf: Buffer, h: QueryHead, client: Client, local: LocalAddr, transport: 'udp' | 'tcp', qend: number): void {
  const req = new DnsRequest(buf, h.id, h.qname, h.name, h.qtype, h.qclass, qend, '', transport, client, local, h.edns, h.bufsize, h.do, h.flags, 0);
  const w = new CoreWriter(req, sender);
  w.write(reply);
}

export { FLAG };
