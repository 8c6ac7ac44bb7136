import { describe, expect, it } from 'vitest';
import { FrameGather, FrameReader, frame } from './frame.js';

const msgs = (r: FrameReader): string[] => {
  const out: string[] = [];
  for (let m = r.next(); m !== undefined; m = r.next()) out.push(m.toString());
  return out;
};

describe('frame and FrameReader', () => {
  it('frames a message with its length and reads it back', () => {
    expect([...frame(Buffer.from('abc'))]).toEqual([0, 3, 0x61, 0x62, 0x63]);
    const r = new FrameReader();
    r.push(Buffer.concat([frame(Buffer.from('one')), frame(Buffer.alloc(0)), frame(Buffer.from('two'))]));
    expect(msgs(r)).toEqual(['one', '', 'two']);
    expect(r.held).toBe(0);
  });

  it('joins messages cut across chunks, a byte at a time included', () => {
    const all = Buffer.concat([frame(Buffer.from('hello')), frame(Buffer.from('x'.repeat(300)))]);
    const r = new FrameReader();
    const got: string[] = [];
    for (let i = 0; i < all.length; i++) {
      r.push(all.subarray(i, i + 1));
      expect(r.ready).toBe(i === 6 || i === all.length - 1);
      got.push(...msgs(r));
      r.compact(true);
    }
    expect(got).toEqual(['hello', 'x'.repeat(300)]);
    expect(r.held).toBe(0);
  });

  it('holds what is not taken; compact keeps it, as a copy or a view', () => {
    const chunk = Buffer.concat([frame(Buffer.from('a')), frame(Buffer.from('b')), Buffer.from([0, 5, 0x63])]);
    const r = new FrameReader();
    r.push(chunk);
    expect(r.next()!.toString()).toBe('a');
    r.compact(false);
    expect(r.held).toBe(3 + 3);
    expect(r.next()!.toString()).toBe('b');
    r.compact(true);
    chunk.fill(0); // the started message was copied out of the chunk
    expect(r.held).toBe(3);
    expect(r.ready).toBe(false);
    r.push(Buffer.from('defg'));
    expect(msgs(r)).toEqual(['cdefg']);
    r.push(Buffer.from([0]));
    r.clear();
    expect(r.held).toBe(0);
    expect(r.next()).toBeUndefined();
  });
});

describe('FrameGather', () => {
  it('hands out the messages added since the last take as one framed buffer, IDs rewritten on request', () => {
    const g = new FrameGather();
    expect(g.take()).toBeUndefined();
    const q = Buffer.from([0x12, 0x34, 1, 2, 3]);
    g.add(Buffer.from('one'));
    g.add(q, 0xabcd);
    expect(g.length).toBe(5 + 7);
    const first = g.take()!;
    expect([...first]).toEqual([0, 3, 0x6f, 0x6e, 0x65, 0, 5, 0xab, 0xcd, 1, 2, 3]);
    expect([...q]).toEqual([0x12, 0x34, 1, 2, 3]); // the caller's bytes are not touched
    g.add(Buffer.from('two'));
    expect([...g.take()!]).toEqual([0, 3, 0x74, 0x77, 0x6f]);
    expect([...first]).toEqual([0, 3, 0x6f, 0x6e, 0x65, 0, 5, 0xab, 0xcd, 1, 2, 3]); // earlier takes stay as they were
    expect(g.length).toBe(0);
  });

  it('grows for a big turn and for a big message, keeping what was added', () => {
    const g = new FrameGather();
    const msgs = Array.from({ length: 300 }, (_, i) => Buffer.from(`m${i}`.repeat(10)));
    for (const m of msgs) g.add(m);
    g.add(Buffer.alloc(30_000, 7));
    const r = new FrameReader();
    r.push(g.take()!);
    const got: Buffer[] = [];
    for (let m = r.next(); m !== undefined; m = r.next()) got.push(Buffer.from(m));
    expect(got.length).toBe(301);
    expect(got.slice(0, 300).map((m) => m.toString())).toEqual(msgs.map((m) => m.toString()));
    expect(got[300]!.equals(Buffer.alloc(30_000, 7))).toBe(true);
    g.add(Buffer.from('x'));
    g.clear();
    expect(g.take()).toBeUndefined();
  });
});
