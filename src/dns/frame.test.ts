import { describe, expect, it } from 'vitest';
import { FrameReader, frame } from './frame.js';

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
