// ListDecoder: a list body cut into chunks anywhere gives the same items and metadata as
// JSON.parse of the whole; metadata is reported before the first item when it comes first;
// malformed or truncated bodies throw.
import { describe, expect, it } from 'vitest';
import { ListDecoder } from './list-decoder.js';

function decode(chunks: Buffer[]): { meta: unknown[]; items: unknown[]; order: string[] } {
  const out = { meta: [] as unknown[], items: [] as unknown[], order: [] as string[] };
  const d = new ListDecoder({
    meta: (m) => {
      out.meta.push(m);
      out.order.push('meta');
    },
    item: (o) => {
      out.items.push(o);
      out.order.push('item');
    },
  });
  for (const c of chunks) d.write(c);
  d.end();
  return out;
}

/** Every split of `text` into three chunks (two cut points), stepping by `step`. */
function* splits(text: string, step: number): Generator<Buffer[]> {
  const b = Buffer.from(text, 'utf8');
  for (let i = 0; i <= b.length; i += step) {
    for (let j = i; j <= b.length; j += step * 7) yield [b.subarray(0, i), b.subarray(i, j), b.subarray(j)];
  }
}

const tricky = {
  kind: 'ServiceList',
  apiVersion: 'v1',
  metadata: { resourceVersion: '42', continue: 'eyJydiI6NDIsInN0YXJ0IjoiYS9iIn0' },
  items: [
    { metadata: { name: 'a', namespace: 'x', annotations: { note: 'braces } ] { [ and "quotes" and \\ backslashes \\\\" end' } }, spec: { ports: [{ port: 80 }] } },
    { metadata: { name: 'b', namespace: 'x', labels: { 'ünïcødé': '✓ 日本語', emoji: '😀' } }, spec: { clusterIP: 'None', list: [[], {}, [{}]] } },
    { metadata: { name: 'c', namespace: 'x' }, spec: { n: -1.5e3, t: true, f: false, z: null, s: '\u0000\n\t"' } },
  ],
};

describe('ListDecoder', () => {
  it('gives the items and metadata of JSON.parse for every way of cutting the body', () => {
    const text = JSON.stringify(tricky);
    let runs = 0;
    for (const chunks of splits(text, 3)) {
      const r = decode(chunks);
      expect(r.meta).toEqual([tricky.metadata]);
      expect(r.items).toEqual(tricky.items);
      runs++;
    }
    expect(runs).toBeGreaterThan(1000);
    // byte by byte, with whitespace between the tokens (an indented body)
    const pretty = Buffer.from(JSON.stringify(tricky, null, 2));
    const r = decode([...pretty].map((x) => Buffer.from([x])));
    expect(r.items).toEqual(tricky.items);
    expect(r.meta).toEqual([tricky.metadata]);
  });

  it('reports metadata before the first item when the server writes it first, after the items otherwise', () => {
    expect(decode([Buffer.from(JSON.stringify(tricky))]).order).toEqual(['meta', 'item', 'item', 'item']);
    const late = { kind: 'ServiceList', items: tricky.items, metadata: { resourceVersion: '7' } };
    const r = decode([Buffer.from(JSON.stringify(late))]);
    expect(r.order).toEqual(['item', 'item', 'item', 'meta']);
    expect(r.meta).toEqual([{ resourceVersion: '7' }]);
  });

  it('takes an empty list, a null list and a list without metadata', () => {
    expect(decode([Buffer.from('{"kind":"ServiceList","metadata":{"resourceVersion":"1"},"items":[]}')])).toMatchObject({ items: [], meta: [{ resourceVersion: '1' }] });
    expect(decode([Buffer.from('{"kind":"ServiceList","metadata":{},"items":null}')]).items).toEqual([]);
    expect(decode([Buffer.from('{"items":[{"a":1}]}')])).toMatchObject({ items: [{ a: 1 }], meta: [{}] });
  });

  it('throws on truncated and malformed bodies', () => {
    const text = JSON.stringify(tricky);
    for (const cut of [1, 10, 100, text.length - 1]) {
      expect(() => decode([Buffer.from(text.slice(0, cut))]), `cut at ${cut}`).toThrow();
    }
    expect(() => decode([Buffer.from('[1,2]')])).toThrow(/not an object/);
    expect(() => decode([Buffer.from('{"items":[1]}')])).toThrow(/not an object/);
    expect(() => decode([Buffer.from('{"items":[{"a":1,}]}')])).toThrow();
    expect(() => decode([Buffer.from('{"items":[]}}')])).toThrow();
    expect(() => decode([Buffer.from('{"items":[]} x')])).toThrow(/after the end/);
  });
});
