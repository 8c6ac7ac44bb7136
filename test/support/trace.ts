// A query's own trace, to say what a plugin did rather than how long it took: a block with
// `explain { edns0 65300 }` (TRACE_BLOCK) answers a query carrying that EDNS(0) option with one TXT
// line per step in the additional section (plugins/explain/README.md), e.g. forward's
// `attempt 1: 127.0.0.1:5300 over udp failed after 2001.3 ms: i/o timeout`.
import dnsPacket from 'dns-packet';
import { exchangeRaw, rcodeOfWire } from '../../src/testing/index.js';

export const TRACE_OPT = 65300;

/** The lines to put in a server block for traced(). */
export const TRACE_BLOCK = `explain {\n  edns0 ${TRACE_OPT}\n }`;

export interface Traced {
  rcode: number;
  /** The trace, one step a line (over UDP in 4096 bytes: a few dozen steps fit). */
  trace: string[];
}

/** Ask `name` `type` with the trace option (over UDP unless `tcp`); throws when no reply comes within `timeout` ms. */
export async function traced(port: number, name: string, type: string, o: { tcp?: boolean; timeout?: number } = {}): Promise<Traced> {
  const wire = dnsPacket.encode({
    type: 'query',
    id: 4343,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: type as 'A', class: 'IN' }],
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096, options: [{ code: TRACE_OPT, data: Buffer.alloc(0) }] } as never],
  });
  const buf = await exchangeRaw(port, wire, { tcp: o.tcp === true, timeout: o.timeout ?? 5000 });
  if (buf === undefined) throw new Error(`no reply to ${name} ${type} within ${o.timeout ?? 5000} ms`);
  const m = dnsPacket.decode(buf);
  const trace = (m.additionals ?? []).filter((a) => a.type === 'TXT').map((a) => (a as { data: Buffer[] }).data.map((b) => b.toString()).join(''));
  return { rcode: rcodeOfWire(buf), trace };
}

/** The trace lines of one plugin, without the leading time and name (`forward · attempt 1: …` → `attempt 1: …`). */
export function notesOf(t: Traced, plugin: string): string[] {
  const out: string[] = [];
  const mark = ` ${plugin} · `;
  for (const l of t.trace) {
    const i = l.indexOf(mark);
    if (i >= 0) out.push(l.slice(i + mark.length));
  }
  return out;
}
