// ShareRelay, the primary's side of a shared source: who leads, who is sent what and when
// (workers stood in by objects that record what they are sent; the real processes are in
// test/integration/workers-kubernetes.test.ts).
import type { Worker } from 'node:cluster';
import { describe, expect, it } from 'vitest';
import { ShareRelay } from './share.js';

function worker(): Worker & { got: Array<Record<string, unknown>> } {
  const got: Array<Record<string, unknown>> = [];
  return { got, isConnected: () => true, send: (m: Record<string, unknown>) => void got.push(m) } as unknown as Worker & { got: typeof got };
}

const K = 'kubernetes {"endpoint":"https://api"}';

describe('ShareRelay', () => {
  it('makes the first instance lead, asks it for a snapshot for each later one, then passes its changes to the fed followers', () => {
    const r = new ShareRelay();
    const a = worker();
    const b = worker();
    r.message(a, { type: 'typedns:share:join', key: K, inst: 'a1' });
    expect(a.got).toEqual([{ type: 'typedns:share:role', key: K, lead: true, inst: 'a1' }]);
    r.message(a, { type: 'typedns:share:ops', key: K, inst: 'a1', data: 'S1' }); // no follower yet
    r.message(b, { type: 'typedns:share:join', key: K, inst: 'b1' });
    expect(b.got).toEqual([{ type: 'typedns:share:role', key: K, lead: false, inst: 'b1' }]);
    expect(a.got.at(-1)).toEqual({ type: 'typedns:share:snap', key: K, for: 'b1', inst: 'a1' });
    // changes before the snapshot are in it: not passed on
    r.message(a, { type: 'typedns:share:ops', key: K, inst: 'a1', data: 'S2' });
    expect(b.got).toHaveLength(1);
    r.message(a, { type: 'typedns:share:ops', key: K, inst: 'a1', for: 'b1', data: 'R' });
    r.message(a, { type: 'typedns:share:ops', key: K, inst: 'a1', data: 'S3' });
    expect(b.got.slice(1).map((m) => m['data'])).toEqual(['R', 'S3']); // passed on as they came, not decoded
    // other messages are not the relay's
    expect(r.message(a, { type: 'typedns:ready' } as never)).toBe(false);
  });

  it('hands the lead to a fed follower when the leader leaves or its worker dies, and ignores the old leader', () => {
    const r = new ShareRelay();
    const a = worker();
    const b = worker();
    const c = worker();
    r.message(a, { type: 'typedns:share:join', key: K, inst: 'a1' });
    r.message(b, { type: 'typedns:share:join', key: K, inst: 'b1' });
    r.message(c, { type: 'typedns:share:join', key: K, inst: 'c1' });
    r.message(a, { type: 'typedns:share:ops', key: K, inst: 'a1', for: 'c1', data: '' }); // c fed, b still waiting
    r.gone(a);
    // c (fed) leads, and is asked for b's snapshot
    expect(c.got.slice(-2)).toEqual([
      { type: 'typedns:share:role', key: K, lead: true, inst: 'c1' },
      { type: 'typedns:share:snap', key: K, for: 'b1', inst: 'c1' },
    ]);
    const before = b.got.length;
    r.message(a, { type: 'typedns:share:ops', key: K, inst: 'a1', data: 'S9' }); // from the dead leader
    expect(b.got).toHaveLength(before);
    r.message(c, { type: 'typedns:share:leave', key: K, inst: 'c1' });
    expect(b.got.at(-1)).toEqual({ type: 'typedns:share:role', key: K, lead: true, inst: 'b1' });
    // the last one leaving ends the group: the next to join leads
    r.message(b, { type: 'typedns:share:leave', key: K, inst: 'b1' });
    const d = worker();
    r.message(d, { type: 'typedns:share:join', key: K, inst: 'd1' });
    expect(d.got).toEqual([{ type: 'typedns:share:role', key: K, lead: true, inst: 'd1' }]);
  });
});
