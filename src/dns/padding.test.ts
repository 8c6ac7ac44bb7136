import dnsPacket, { type Packet } from 'dns-packet';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { padReply, queryWantsPadding, replyMaxAge } from './padding.js';

const opt = (options: Array<{ code: number; data: Buffer }> = []) => ({ type: 'OPT', name: '.', udpPayloadSize: 1232, options }) as never;
const enc = (p: Partial<Packet>): Buffer => dnsPacket.encode({ type: 'response', id: 1, flags: 0, questions: [{ type: 'A', name: 'a.example' }], ...p });
const optionsOf = (b: Uint8Array): Array<{ code: number; data?: Buffer }> =>
  ((dnsPacket.decode(Buffer.from(b)).additionals ?? []).find((a) => a.type === 'OPT') as unknown as { options: Array<{ code: number; data?: Buffer }> }).options;

describe('queryWantsPadding', () => {
  it('is true only when the OPT carries option 12', () => {
    expect(queryWantsPadding(enc({ type: 'query', additionals: [opt([{ code: 12, data: Buffer.alloc(3) }])] }))).toBe(true);
    expect(queryWantsPadding(enc({ type: 'query', additionals: [opt([{ code: 10, data: Buffer.alloc(8) }, { code: 12, data: Buffer.alloc(0) }])] }))).toBe(true);
    expect(queryWantsPadding(enc({ type: 'query', additionals: [opt([{ code: 10, data: Buffer.alloc(8) }])] }))).toBe(false);
    expect(queryWantsPadding(enc({ type: 'query' }))).toBe(false);
    expect(queryWantsPadding(Buffer.alloc(5))).toBe(false);
  });
});

describe('padReply', () => {
  it('pads any reply with an OPT last to a multiple of 468 that still decodes, keeping other options and replacing old padding', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 40 }), fc.boolean(), fc.integer({ min: 0, max: 600 }), (n, cookie, oldPad) => {
        const answers = Array.from({ length: n }, (_, i) => ({ type: 'A' as const, name: 'a.example', ttl: 60, data: `10.0.${i >> 8}.${i & 255}` }));
        const options = [...(cookie ? [{ code: 10, data: Buffer.alloc(8, 7) }] : []), ...(oldPad > 0 ? [{ code: 12, data: Buffer.alloc(oldPad) }] : [])];
        const out = padReply(enc({ answers, additionals: [opt(options)] }));
        expect(out.length % 468).toBe(0);
        const m = dnsPacket.decode(Buffer.from(out));
        expect(m.answers).toHaveLength(n);
        const codes = optionsOf(out).map((o) => o.code);
        expect(codes).toEqual([...(cookie ? [10] : []), 12]);
      }),
    );
  });

  it('leaves a reply without OPT, or with OPT before another record, as it is', () => {
    const none = enc({ answers: [{ type: 'A', name: 'a.example', ttl: 1, data: '1.2.3.4' }] });
    expect(padReply(none)).toBe(none);
    const optFirst = enc({ additionals: [opt(), { type: 'A', name: 'b.example', ttl: 1, data: '1.2.3.4' }] });
    expect(padReply(optFirst)).toBe(optFirst);
  });
});

describe('replyMaxAge', () => {
  const a = (ttl: number) => ({ type: 'A' as const, name: 'a.example', ttl, data: '1.2.3.4' });
  const soa = (ttl: number) => ({ type: 'SOA' as const, name: 'example', ttl, data: { mname: 'ns.example', rname: 'h.example', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 1 } });
  it('is the smallest TTL, OPT aside, at most an hour', () => {
    expect(replyMaxAge(enc({ answers: [a(300), a(42)], additionals: [opt()] }))).toBe(42);
    expect(replyMaxAge(enc({ answers: [a(86400)] }))).toBe(3600);
    expect(replyMaxAge(enc({ flags: 3, authorities: [soa(30)] }))).toBe(30); // NXDOMAIN with its SOA
  });
  it('is 5 s for errors, delegations and replies without records', () => {
    expect(replyMaxAge(enc({ flags: 2, answers: [a(300)] }))).toBe(5);
    expect(replyMaxAge(enc({ additionals: [opt()] }))).toBe(5);
    expect(replyMaxAge(enc({ authorities: [{ type: 'NS', name: 'sub.example', ttl: 300, data: 'ns.sub.example' }] }))).toBe(5);
  });
});
