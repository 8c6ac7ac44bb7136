// Explain one query: route it as the server does (serve.ts: the listener's RouteTable, lookup, then
// select when views share the zone), run it through the block's real chain with a trace on the
// request, and return every step and the reply. No socket is involved: the reply's bytes are kept.
// `typedns explain` runs it on a configuration it loaded; the explain plugin on the running one.
import { performance } from 'node:perf_hooks';
import dnsPacket from 'dns-packet';
import type { Client, MaybePromise, Rcode } from '../plugin/types.js';
import { DROP, QCLASS, QTYPE, RCODE, rcodeName, typeFromName, typeName } from '../dns/constants.js';
import { emptyReply, Parse, parseQuery, QueryHead } from '../dns/wire.js';
import { DnsRequest } from '../request/request.js';
import { CoreWriter } from '../request/writer.js';
import { settle } from '../plugin/chain.js';
import { QueryTrace, type TraceStep } from '../plugin/trace.js';
import type { Block, Route, RouteTable } from '../server/route.js';
import { digLines } from './format.js';

export interface ExplainQuery {
  /** The query name (a trailing dot is added). */
  name: string;
  /** Type name or number; A by default. */
  type?: string;
  /** The client's address (127.0.0.1 by default): acl, view and the like read it. */
  from?: string;
  tcp?: boolean;
  /** Set the EDNS0 DO bit (the query carries an OPT record whenever this is set). */
  do?: boolean;
  /** The port whose listener takes the query (the only or first one by default). */
  port?: number;
}

/** What the server is made of, as explain needs it (a Generation). */
export interface ExplainTarget {
  readonly blocks: readonly Block[];
  readonly parsed: { readonly blocks: ReadonlyArray<{ readonly block: { readonly keys: ReadonlyArray<{ readonly text: string }>; readonly file: string; readonly line: number } }> };
  listeners(): Map<string, { host: string; port: number; table: RouteTable }>;
}

export interface ExplainBlock {
  /** Index of the block in the Corefile (0-based). */
  readonly index: number;
  /** Its keys as written. */
  readonly keys: string[];
  readonly file: string;
  readonly line: number;
  readonly view: string;
  readonly plugins: string[];
}

export interface ExplainResult {
  readonly query: { name: string; type: string; class: 'IN'; from: string; transport: 'udp' | 'tcp'; do: boolean; id: number };
  /** The listener the query was routed on ("127.0.0.1:1053", "*:53" for all interfaces). */
  readonly listener: string;
  /** The block that served it (null: none, REFUSED). */
  readonly block: ExplainBlock | null;
  /** The zone it was routed to ('' when none). */
  readonly zone: string;
  /** Routing, then one step per plugin event, in order. */
  readonly steps: TraceStep[];
  /** The reply the client would get (null: dropped, no reply). */
  readonly reply: { rcode: string; by: string; bytes: number; base64: string; dig: string[] } | null;
  /** Milliseconds from routing to the reply. */
  readonly ms: number;
}

let seq = 0;

/** Run `q` through `target` (a loaded or running configuration) and tell what happened. */
export async function explainQuery(target: ExplainTarget, q: ExplainQuery, defaultListener?: { host: string; port: number }): Promise<ExplainResult> {
  const name = q.name.endsWith('.') ? q.name : `${q.name}.`;
  const typeText = (q.type ?? 'A').toUpperCase();
  const qtype = /^\d+$/.test(typeText) ? Number(typeText) : typeFromName(typeText);
  if (qtype === undefined || qtype <= 0 || qtype > 65535) throw new ExplainError(`unknown type '${q.type}'`);
  const from = q.from ?? '127.0.0.1';
  if (!/^[0-9.]+$/.test(from) && !from.includes(':')) throw new ExplainError(`--from wants an IP address, got '${from}'`);
  const transport = q.tcp ? 'tcp' : 'udp';
  const id = (0x4000 + seq++) & 0xffff;
  let wire: Buffer;
  try {
    wire = dnsPacket.encode({
      type: 'query',
      id,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ name, type: typeName(qtype) as 'A', class: 'IN' }],
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: q.do ? dnsPacket.DNSSEC_OK : 0, flag_do: !!q.do, options: [] } as never],
    });
  } catch (e) {
    throw new ExplainError(`cannot make a query for '${q.name}': ${(e as Error).message}`);
  }
  const h = new QueryHead();
  if (parseQuery(wire, h) !== Parse.OK) throw new ExplainError(`'${q.name}' is not a query name the server accepts`);

  const trace = new QueryTrace();
  const route = (text: string): void => trace.note(text);
  const listeners = [...target.listeners().values()];
  const ports = [...new Set(listeners.map((l) => l.port))];
  const port = q.port ?? defaultListener?.port ?? ports[0];
  const onPort = listeners.filter((l) => l.port === port);
  const query = { name, type: typeName(qtype), class: 'IN' as const, from, transport: transport as 'udp' | 'tcp', do: !!q.do, id };
  if (onPort.length === 0) {
    throw new ExplainError(port === undefined ? 'the configuration serves no port' : `no server block listens on port ${port} (ports: ${ports.join(', ')})`);
  }
  const l = onPort.find((x) => defaultListener !== undefined && x.host === defaultListener.host) ?? onPort[0]!;
  const host = l.host === '*' ? '' : l.host;
  const listener = `${l.host === '*' ? '*' : l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}`;
  const why = q.port !== undefined ? 'asked with --port' : ports.length === 1 ? 'the only port served' : `the first of ports ${ports.join(', ')} (choose with --port)`;
  route(`listener ${listener} (${why})${onPort.length > 1 ? `; ${onPort.length - 1} other address(es) on this port` : ''}`);
  const zonesHere = [...new Set([...l.table.routes()].map((r) => r.zone))];
  route(`zones on this listener: ${zonesHere.join(' ')}`);

  const t0 = performance.now();
  const client: Client = { ip: from, port: 53000, family: from.includes(':') ? 6 : 4 };
  const local = { ip: host === '' ? (client.family === 6 ? '::1' : '127.0.0.1') : host, port: l.port };
  let found: Route | undefined = h.qclass === QCLASS.IN || h.qclass === QCLASS.CH ? l.table.lookup(h.name, h.qtype) : undefined;
  const refused = (why: string): ExplainResult => {
    route(why);
    const bytes = emptyReply(wire, h.questionEnd, RCODE.REFUSED, 0, h.edns, h.do);
    return { query, listener, block: null, zone: '', steps: trace.steps, reply: replyOf(bytes, ''), ms: round(performance.now() - t0) };
  };
  if (found === undefined || found.block.entry === undefined) {
    return refused(found === undefined ? `no zone on this listener contains ${name} (or a reverse CIDR key excludes it): REFUSED` : 'the block has no plugin that serves: REFUSED');
  }
  route(zoneWhy(found.zone, h.qtype, zonesHere));
  let req = new DnsRequest(wire, h.id, h.qname, h.name, h.qtype, h.qclass, h.questionEnd, found.zone, transport, client, local, h.edns, h.bufsize, h.do, h.flags, t0);
  req.trace = trace;
  if (found.filtered) {
    route(`blocks on zone ${found.zone} have views: each block's filter is asked in Corefile order`);
    const chosen = l.table.select(h.name, h.qtype, req);
    if (chosen === undefined || chosen.block.entry === undefined) return refused('no view takes the query: REFUSED');
    if (chosen.zone !== req.zone) {
      route(`zone ${chosen.zone}: a view of the parent zone took it`);
      req = new DnsRequest(wire, h.id, h.qname, h.name, h.qtype, h.qclass, h.questionEnd, chosen.zone, transport, client, local, h.edns, h.bufsize, h.do, h.flags, t0);
      req.trace = trace;
    }
    found = chosen;
  }
  const b = describeBlock(target, found.block);
  route(`block ${b.keys.join(' ')} (${b.file}:${b.line})${b.view ? ` view ${b.view}` : ''}: chain ${b.plugins.join(' → ') || '(empty)'}`);

  let sent: Buffer | undefined;
  let by = '';
  const w = new CoreWriter(req, {
    send: (buf, cw) => {
      sent = Buffer.from(buf);
      by = cw.by;
    },
  });
  let rc: Rcode;
  try {
    const r: MaybePromise<Rcode> = found.block.entry!(req, w);
    rc = r instanceof Promise ? await r : r;
  } catch (e) {
    trace.phase = 'server';
    trace.note(`a plugin threw: ${e instanceof Error ? e.message : String(e)}: SERVFAIL`);
    if (!w.written) w.write(emptyReply(req.wire, req.questionEnd, RCODE.SERVFAIL, 0, req.edns, req.do));
    rc = RCODE.SERVFAIL;
  }
  trace.phase = 'server';
  if (!w.written) {
    if (rc === DROP) trace.note('the chain returned DROP: no reply is sent');
    else trace.note(`nothing was written: the server replies ${rcodeName(typeof rc === 'number' && rc >= 0 && rc < 4096 ? rc : RCODE.SERVFAIL)} with no records`);
  }
  settle(req, w, rc);
  const ms = round(performance.now() - t0);
  return { query, listener, block: b, zone: found.zone, steps: trace.steps, reply: sent === undefined ? null : replyOf(sent, by), ms };
}

export class ExplainError extends Error {}

function zoneWhy(zone: string, qtype: number, zones: readonly string[]): string {
  const longer = zones.filter((z) => z !== zone && z !== '.' && z.length > zone.length);
  if (qtype === QTYPE.DS && longer.length > 0) return `zone ${zone}: a DS query is answered by the parent zone's block`;
  if (zone === '.') return 'zone .: the root, no other zone on this listener contains the name';
  return `zone ${zone}: the longest zone on this listener that contains the name`;
}

function describeBlock(target: ExplainTarget, block: Block): ExplainBlock {
  const index = target.blocks.indexOf(block);
  const pb = target.parsed.blocks[index]?.block;
  return {
    index,
    keys: pb?.keys.map((k) => k.text) ?? [...block.zones],
    file: pb?.file ?? '',
    line: pb?.line ?? 0,
    view: block.view,
    plugins: block.plugins.filter((p) => typeof p.plugin.serve === 'function').map((p) => p.name),
  };
}

function replyOf(bytes: Buffer, by: string): NonNullable<ExplainResult['reply']> {
  const rcode = rcodeName(bytes.length >= 4 ? bytes[3]! & 0xf : RCODE.SERVFAIL);
  return { rcode, by, bytes: bytes.length, base64: bytes.toString('base64'), dig: digLines(bytes) };
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;
