// Table-driven checks (CoreDNS's test.Case + SortAndCheck): records as zone-file text, sections
// compared sorted, header rcode and AA checked.
import type { DecodedPacket } from 'dns-packet';
import { rrText } from '../dns/message.js';
import { rcodeName } from '../dns/constants.js';

export interface Case {
  rcode?: string | number;
  aa?: boolean;
  tc?: boolean;
  answer?: string[];
  ns?: string[];
  extra?: string[];
  /** Compare answers in order instead of sorted (CNAME chains). */
  ordered?: boolean;
}

const norm = (s: string): string => s.trim().replace(/\s+/g, ' ');

/** Throws an Error describing the first difference; returns nothing when the message matches. */
export function sortAndCheck(m: DecodedPacket | undefined, c: Case): void {
  if (m === undefined) throw new Error('no message');
  let rcode = (m.flags ?? 0) & 0xf;
  for (const a of m.additionals ?? []) if (a.type === 'OPT') rcode |= (a.extendedRcode ?? 0) << 4;
  if (c.rcode !== undefined) {
    const want = typeof c.rcode === 'number' ? c.rcode : c.rcode.toUpperCase();
    const got = typeof c.rcode === 'number' ? rcode : rcodeName(rcode);
    if (want !== got) throw new Error(`rcode: got ${got}, want ${want}`);
  }
  if (c.aa !== undefined && m.flag_aa !== c.aa) throw new Error(`AA: got ${m.flag_aa}, want ${c.aa}`);
  if (c.tc !== undefined && m.flag_tc !== c.tc) throw new Error(`TC: got ${m.flag_tc}, want ${c.tc}`);
  const sec = (name: string, got: string[], want: string[] | undefined, ordered: boolean): void => {
    if (want === undefined) return;
    const g = got.map(norm);
    const w = want.map(norm);
    if (!ordered) {
      g.sort();
      w.sort();
    }
    if (JSON.stringify(g) !== JSON.stringify(w)) throw new Error(`${name}:\n  got  ${JSON.stringify(g)}\n  want ${JSON.stringify(w)}`);
  };
  sec('answer', (m.answers ?? []).map(rrText), c.answer, c.ordered ?? false);
  sec('authority', (m.authorities ?? []).map(rrText), c.ns, false);
  sec('additional', (m.additionals ?? []).filter((a) => a.type !== 'OPT').map(rrText), c.extra, false);
}
