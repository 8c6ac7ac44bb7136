import { describe, expect, it } from 'vitest';
import dnsPacket, { type Answer } from 'dns-packet';
import { fitReply } from './compress.js';
import { rr } from './message.js';

const Q = '_http._tcp.many.default.svc.cluster.local';
const target = (i: number): string => `10-1-${i >> 8}-${i & 255}.many.default.svc.cluster.local`;

function srvReply(n: number, edns = true): Buffer {
  const answers: Answer[] = [];
  const additionals: Answer[] = [];
  for (let i = 0; i < n; i++) {
    answers.push(rr(`${Q}. 5 IN SRV 0 100 80 ${target(i)}.`));
    additionals.push(rr(`${target(i)}. 5 IN A 10.1.${i >> 8}.${i & 255}`));
  }
  if (edns) additionals.push({ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] } as Answer);
  return dnsPacket.encode({ type: 'response', id: 7, flags: dnsPacket.AUTHORITATIVE_ANSWER, questions: [{ name: Q, type: 'SRV', class: 'IN' }], answers, additionals });
}

/** The records of a message, as comparable text. */
function records(wire: Buffer): string[] {
  const m = dnsPacket.decode(wire);
  return [...(m.answers ?? []), ...(m.authorities ?? []), ...(m.additionals ?? [])].map((a) => JSON.stringify(a));
}

describe('fitReply', () => {
  it('compresses a reply that fits once compressed: every record kept, no TC', () => {
    const wire = srvReply(800);
    expect(wire.length).toBeGreaterThan(65535);
    const out = fitReply(wire, 65535);
    expect(out.length).toBeLessThanOrEqual(65535);
    const m = dnsPacket.decode(out);
    expect(m.flag_tc).toBe(false);
    expect(m.answers).toHaveLength(800);
    // glue as fits after them (owner names compressed too), the OPT last
    const glue = m.additionals!.length - 1;
    expect(glue).toBeGreaterThan(700);
    expect(glue).toBeLessThan(800);
    expect(m.additionals!.at(-1)!.type).toBe('OPT');
    const all = records(wire);
    expect(records(out)).toEqual([...all.slice(0, 800 + glue), all.at(-1)]);
    // everything fits in a larger buffer
    expect(records(fitReply(wire, 70_000))).toEqual(all);
    expect(m.id).toBe(7);
    expect(m.flag_aa).toBe(true);
  });

  it('keeps as many whole answers as fit, sets TC and keeps the OPT', () => {
    const out = fitReply(srvReply(800), 1232);
    expect(out.length).toBeLessThanOrEqual(1232);
    const m = dnsPacket.decode(out);
    expect(m.flag_tc).toBe(true);
    expect(m.additionals!.map((a) => a.type)).toEqual(['OPT']);
    // one more SRV (pointer owner 2 + 10 + 6 + target) would not have fit
    const next = 2 + 10 + 6 + dnsPacket.name.encodingLength(target(m.answers!.length));
    expect(out.length + next).toBeGreaterThan(1232);
    // uncompressed, an SRV record here is 104 bytes: 11 would fit; compressed, 19 do
    expect(m.answers!.length).toBeGreaterThanOrEqual(19);
  });

  it('drops glue before answers, without TC', () => {
    const wire = srvReply(18, false);
    const m = dnsPacket.decode(fitReply(wire, 1232));
    expect(m.flag_tc).toBe(false);
    expect(m.answers).toHaveLength(18);
    expect(m.additionals!.length).toBeLessThan(18);
    expect(m.additionals!.length).toBeGreaterThan(0);
  });

  it('compresses names in RFC 1035 RDATA and decompresses pointers it was given', () => {
    const wire = dnsPacket.encode({
      type: 'response',
      id: 1,
      questions: [{ name: 'www.example.org', type: 'A', class: 'IN' }],
      answers: [rr('www.example.org. 5 IN CNAME web.example.org.'), rr('web.example.org. 5 IN A 192.0.2.1')],
      authorities: [rr('example.org. 5 IN SOA ns.example.org. admin.example.org. 1 2 3 4 5'), rr('example.org. 5 IN NS ns.example.org.')],
      additionals: [rr('example.org. 5 IN MX 10 mail.example.org.'), rr('example.org. 5 IN TXT "a.example.org"')],
    });
    const once = fitReply(wire, 512);
    expect(once.length).toBeLessThan(wire.length);
    expect(records(once)).toEqual(records(wire));
    // its own output (full of pointers) goes through again unchanged
    expect(fitReply(once, 512)).toEqual(once);
  });

  it('throws on a malformed message', () => {
    const wire = srvReply(3);
    expect(() => fitReply(wire.subarray(0, 60), 512)).toThrow(/malformed/);
    const loop = Buffer.from(wire);
    loop[12] = 0xc0;
    loop[13] = 12; // a pointer to itself
    expect(() => fitReply(loop, 512)).toThrow(/malformed/);
  });
});
