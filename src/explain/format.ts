// The text `typedns explain` prints: the query, one aligned line per routing decision and per
// plugin step, and the reply as dig prints it.
import dnsPacket, { type Answer, type DecodedPacket } from 'dns-packet';
import { rcodeName } from '../dns/constants.js';
import { rrText } from '../dns/message.js';
import type { ExplainResult } from './explain.js';
import type { TraceStep } from '../plugin/trace.js';

/** The reply as dig shows it (header, flags, OPT, sections); the bytes' own text when they do not decode. */
export function digLines(bytes: Buffer): string[] {
  let m: DecodedPacket;
  try {
    m = dnsPacket.decode(bytes);
  } catch (e) {
    return [`;; reply does not decode (${(e as Error).message}): ${bytes.toString('hex')}`];
  }
  const flagsWord = bytes.readUInt16BE(2);
  const opt = (m.additionals ?? []).find((a) => a.type === 'OPT') as (Answer & { udpPayloadSize?: number; extendedRcode?: number; ednsVersion?: number; flags?: number }) | undefined;
  const rcode = (flagsWord & 0xf) | ((opt?.extendedRcode ?? 0) << 4);
  const names: Array<[number, string]> = [
    [0x8000, 'qr'],
    [0x0400, 'aa'],
    [0x0200, 'tc'],
    [0x0100, 'rd'],
    [0x0080, 'ra'],
    [0x0020, 'ad'],
    [0x0010, 'cd'],
  ];
  const flags = names.filter(([bit]) => (flagsWord & bit) !== 0).map(([, n]) => n);
  const count = (i: number): number => bytes.readUInt16BE(4 + 2 * i);
  const out = [
    `;; ->>HEADER<<- opcode: QUERY, status: ${rcodeName(rcode)}, id: ${m.id ?? 0}`,
    `;; flags: ${flags.join(' ')}; QUERY: ${count(0)}, ANSWER: ${count(1)}, AUTHORITY: ${count(2)}, ADDITIONAL: ${count(3)}`,
  ];
  if (opt !== undefined) {
    const doBit = ((opt.flags ?? 0) & 0x8000) !== 0;
    out.push('', ';; OPT PSEUDOSECTION:', `; EDNS: version: ${opt.ednsVersion ?? 0}, flags:${doBit ? ' do' : ''}; udp: ${opt.udpPayloadSize ?? 0}`);
  }
  const q = m.questions ?? [];
  if (q.length > 0) {
    out.push('', ';; QUESTION SECTION:');
    for (const x of q) out.push(`;${fq(x.name)}\t\t${x.class ?? 'IN'}\t${x.type}`);
  }
  const section = (title: string, rrs: Answer[] | undefined): void => {
    const list = (rrs ?? []).filter((a) => a.type !== 'OPT');
    if (list.length === 0) return;
    out.push('', `;; ${title} SECTION:`);
    for (const a of list) out.push(digRecord(a));
  };
  section('ANSWER', m.answers);
  section('AUTHORITY', m.authorities);
  section('ADDITIONAL', m.additionals);
  return out;
}

const fq = (n: string): string => (n === '' || n === '.' ? '.' : `${n.replace(/\.$/, '')}.`);

/** One record in dig's layout: owner, TTL, class, type, data, tab-separated. */
function digRecord(a: Answer): string {
  const parts = rrText(a).split(' ');
  // rrText: NAME TTL CLASS TYPE RDATA… (owner lower-cased: dig shows it as sent)
  const rdata = parts.slice(4).join(' ');
  return `${fq(a.name)}\t${parts[1]}\t${parts[2]}\t${parts[3]}\t${rdata}`;
}

/** One step as a line without alignment (the trace of a query asked over DNS, in TXT records). */
export function stepText(s: TraceStep): string {
  const tail = s.kind === 'exit' && s.ms !== undefined ? ` in ${s.ms.toFixed(3)} ms` : '';
  return `${s.t.toFixed(3)} ms ${'  '.repeat(s.depth)}${s.plugin === '' ? 'route' : s.plugin} ${MARK[s.kind]} ${s.text}${tail}`;
}

const MARK = { enter: '→', note: '·', exit: '←' } as const;

/** The whole explanation as text: aligned, one line per step. */
export function renderText(r: ExplainResult): string {
  const lines: string[] = [];
  const q = r.query;
  lines.push(`;; explain ${q.name} ${q.type} ${q.class} from ${q.from} over ${q.transport}${q.do ? ' with DO' : ''}`);
  const label = (s: { plugin: string; depth: number }): string => `${'  '.repeat(s.depth)}${s.plugin === '' ? 'route' : s.plugin}`;
  const width = Math.max(12, ...r.steps.map((s) => label(s).length));
  const mark = { enter: '→', note: '·', exit: '←' } as const;
  for (const s of r.steps) {
    const time = `${s.t.toFixed(3).padStart(8)} ms`;
    const tail = s.kind === 'exit' && s.ms !== undefined ? ` in ${s.ms.toFixed(3)} ms` : '';
    lines.push(`${time}  ${label(s).padEnd(width)}  ${mark[s.kind]} ${s.text}${tail}`);
  }
  lines.push('');
  if (r.reply === null) {
    lines.push(`;; no reply is sent (${r.ms.toFixed(3)} ms)`);
    return `${lines.join('\n')}\n`;
  }
  lines.push(`;; reply: ${r.reply.rcode}, ${r.reply.bytes} bytes, written by ${r.reply.by === '' ? 'the server' : r.reply.by}, ${r.ms.toFixed(3)} ms`);
  lines.push(...r.reply.dig);
  return `${lines.join('\n')}\n`;
}
