import dnsPacket from 'dns-packet';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecordCursor, checkName, findOpt, questionsEnd, readName, replyRcode, wellFormedMessage } from './wire.js';

const at12 = (nameWire: number[]): Uint8Array => Uint8Array.from([...new Array<number>(12).fill(0), ...nameWire]);
const read = (bytes: Uint8Array, off = 12): [number, string, string] => {
  const out: [string, string] = ['', ''];
  const end = readName(bytes, off, out);
  return [end, out[0], out[1]];
};
const labels = (...ls: string[]): number[] => [...ls.flatMap((l) => [l.length, ...Buffer.from(l, 'latin1')]), 0];

describe('readName', () => {
  it('reads host names as written and in lower case', () => {
    expect(read(at12(labels('www', 'Example', 'ORG')))).toEqual([12 + 17, 'www.Example.ORG.', 'www.example.org.']);
    expect(read(at12(labels('_http', '_tcp', 'web-1', '*')))).toEqual([12 + 20, '_http._tcp.web-1.*.', '_http._tcp.web-1.*.']);
    expect(read(at12([0]))).toEqual([13, '.', '.']);
  });

  it('escapes bytes that are not host-name characters, in both spellings', () => {
    expect(read(at12(labels('a.b', 'X')))).toEqual([12 + 7, 'a\\.b.X.', 'a\\.b.x.']);
    expect(read(at12([2, 0x41, 0xff, 0]))).toEqual([16, 'A\\255.', 'a\\255.']);
    expect(read(at12([1, 0x20, 0]))).toEqual([15, '\\032.', '\\032.']);
  });

  it('follows pointers backwards and returns the end of the name where it started', () => {
    const buf = Uint8Array.from([...new Array<number>(12).fill(0), ...labels('example', 'org'), 3, 0x57, 0x57, 0x57, 0xc0, 12]);
    expect(read(buf, 25)).toEqual([31, 'WWW.example.org.', 'www.example.org.']);
  });

  it('refuses loops, forward pointers, pointers into the header, truncation and names over 255 bytes', () => {
    expect(read(at12([0xc0, 12]))[0]).toBe(-1);
    expect(read(at12([0xc0, 20, 0, 0, 0, 0, 0, 0, 0]))[0]).toBe(-1);
    expect(read(at12([0xc0, 2]))[0]).toBe(-1);
    expect(read(at12([5, 0x61, 0x62]))[0]).toBe(-1);
    expect(read(at12([0x40, 0]))[0]).toBe(-1);
    const long = labels(...new Array<string>(5).fill('a'.repeat(63)));
    expect(read(at12(long))[0]).toBe(-1);
    const max = labels(...new Array<string>(3).fill('a'.repeat(63)), 'a'.repeat(61));
    expect(read(at12(max))[1]).toHaveLength(254); // 253 characters and the root's dot: a 255-byte wire name
  });

  it('agrees with dns-packet on every name it encodes (property)', () => {
    const label = fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/);
    fc.assert(
      fc.property(fc.array(label, { minLength: 0, maxLength: 6 }), (ls) => {
        const name = ls.join('.');
        const wire = dnsPacket.name.encode(name === '' ? '.' : name) as Buffer;
        const [end, text, lower] = read(at12([...wire]));
        expect(end).toBe(12 + wire.length);
        expect(text).toBe(name === '' ? '.' : `${name}.`);
        expect(lower).toBe(text.toLowerCase());
      }),
      { numRuns: 500 },
    );
  });
});

describe('checkName and wellFormedMessage', () => {
  it('checkName follows pointers, ends where the name started, and refuses loops, forward pointers and long names', () => {
    const buf = Uint8Array.from([...new Array<number>(12).fill(0), ...labels('example', 'org'), 3, 0x57, 0x57, 0x57, 0xc0, 12]);
    expect(checkName(buf, 25)).toBe(31);
    expect(checkName(buf, 12)).toBe(25);
    expect(checkName(at12([0xc0, 12]), 12)).toBe(-1); // itself
    expect(checkName(at12([0xc0, 14, 1, 0x61, 0]), 12)).toBe(-1); // forward
    expect(checkName(at12([0xc0, 2]), 12)).toBe(-1); // into the header
    // a label then a pointer back to that label: each pointer is behind itself, yet it loops
    expect(checkName(at12([1, 0x61, 0xc0, 12]), 12)).toBe(-1);
    expect(checkName(at12([5, 0x61]), 12)).toBe(-1);
    expect(checkName(at12(labels(...new Array<string>(5).fill('a'.repeat(63)))), 12)).toBe(-1);
  });

  it('accepts what dns-packet encodes, and names compressed the way servers do, in owner names and RDATA', () => {
    const m = dnsPacket.encode({
      type: 'response',
      id: 1,
      questions: [{ name: 'example.org', type: 'A' }],
      answers: [
        { name: 'example.org', type: 'CNAME', data: 'www.example.org' },
        { name: 'example.org', type: 'MX', data: { preference: 10, exchange: 'mail.example.org' } },
        { name: '_x._tcp.example.org', type: 'SRV', data: { priority: 1, weight: 1, port: 80, target: 'www.example.org' } },
      ],
      authorities: [{ name: 'example.org', type: 'SOA', data: { mname: 'ns.example.org', rname: 'h.example.org', serial: 1, refresh: 2, retry: 3, expire: 4, minimum: 5 } }],
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232 } as never],
    });
    expect(wellFormedMessage(m)).toBe(true);
    // example.org A → CNAME www.example.org (compressed), www's A with its owner pointing into
    // that RDATA, MX and SOA with compressed names
    const rr = (owner: number[], type: number, rdata: number[]): number[] => [...owner, 0, type, 0, 1, 0, 0, 0, 30, 0, rdata.length, ...rdata];
    const head = [0, 1, 0x81, 0x80, 0, 1, 0, 3, 0, 1, 0, 0];
    const question = [...labels('example', 'org'), 0, 1, 0, 1]; // at 12, 17 bytes
    const cname = rr([0xc0, 12], 5, [3, 0x77, 0x77, 0x77, 0xc0, 12]); // at 29; RDATA at 41
    const a = rr([0xc0, 41], 1, [10, 0, 0, 1]);
    const mx = rr([0xc0, 12], 15, [0, 10, 4, 0x6d, 0x61, 0x69, 0x6c, 0xc0, 12]);
    const soa = rr([0xc0, 12], 6, [2, 0x6e, 0x73, 0xc0, 12, 1, 0x68, 0xc0, 12, ...new Array<number>(20).fill(0)]);
    const wire = Uint8Array.from([...head, ...question, ...cname, ...a, ...mx, ...soa]);
    expect(dnsPacket.decode(Buffer.from(wire)).answers?.[1]).toMatchObject({ name: 'www.example.org', type: 'A' });
    expect(wellFormedMessage(wire)).toBe(true);
  });

  it('returns (true or false, no throw, no endless loop) for any bytes, and true for what dns-packet encodes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), (bytes) => {
        expect(typeof wellFormedMessage(bytes)).toBe('boolean');
      }),
      { numRuns: 2000 },
    );
    const label = fc.stringMatching(/^[a-z0-9-]{1,12}$/);
    const name = fc.array(label, { minLength: 1, maxLength: 4 }).map((ls) => ls.join('.'));
    fc.assert(
      fc.property(name, fc.array(name, { maxLength: 5 }), (q, targets) => {
        const m = dnsPacket.encode({ type: 'response', id: 1, questions: [{ name: q, type: 'A' }], answers: targets.map((t) => ({ name: q, type: 'CNAME' as const, data: t })) });
        expect(wellFormedMessage(m)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses compression loops in owner names and in RDATA, missing records and RDATA that is not exactly its names', () => {
    const head = [0, 7, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, ...labels('a', 'org'), 0, 1, 0, 1]; // question at 12, 11 bytes
    const rr = (owner: number[], type: number, rdata: number[]): number[] => [...owner, 0, type, 0, 1, 0, 0, 0, 30, 0, rdata.length, ...rdata];
    // A with its owner a pointer to itself; CNAME whose target is "x" then a pointer back to "x"
    expect(wellFormedMessage(Uint8Array.from([...head, ...rr([0xc0, 23], 1, [10, 0, 0, 1])]))).toBe(false);
    expect(wellFormedMessage(Uint8Array.from([...head, ...rr([0xc0, 12], 5, [1, 0x78, 0xc0, 35])]))).toBe(false);
    expect(wellFormedMessage(Uint8Array.from([...head, ...rr([0xc0, 12], 5, [1, 0x78, 0xc0, 12])]))).toBe(true);
    const ok = dnsPacket.encode({ type: 'response', id: 1, questions: [{ name: 'a.org', type: 'NS' }], answers: [{ name: 'a.org', type: 'NS', data: 'ns.a.org' }] });
    expect(wellFormedMessage(ok)).toBe(true);
    const more = Buffer.from(ok);
    more[7] = 2; // two answers announced, one there
    expect(wellFormedMessage(more)).toBe(false);
    const longer = Buffer.concat([ok, Buffer.from([0])]);
    expect(wellFormedMessage(longer)).toBe(true); // bytes after the last record are allowed
    // the NS record's RDATA one byte longer than its name: the name does not fill it
    const rdlenAt = 12 + 7 + 4 + 7 + 8; // (dns-packet does not compress)
    expect(ok.readUInt16BE(rdlenAt)).toBe(ok.length - rdlenAt - 2);
    longer.writeUInt16BE(longer.readUInt16BE(rdlenAt) + 1, rdlenAt);
    expect(wellFormedMessage(longer)).toBe(false);
    expect(wellFormedMessage(ok.subarray(0, ok.length - 1))).toBe(false); // truncated RDATA
    expect(wellFormedMessage(ok.subarray(0, 11))).toBe(false);
  });
});

describe('RecordCursor and findOpt', () => {
  const msg = dnsPacket.encode({
    type: 'response',
    id: 1,
    questions: [{ name: 'example.org', type: 'A', class: 'IN' }],
    answers: [{ name: 'example.org', type: 'A', ttl: 30, data: '192.0.2.1' }],
    authorities: [{ name: 'org', type: 'NS', ttl: 60, data: 'ns.org' }],
    additionals: [
      { name: 'ns.org', type: 'A', ttl: 90, data: '192.0.2.2' },
      { type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 1, ednsVersion: 0, flags: 0, options: [] } as never,
    ],
  });

  it('walks every record with its section, type and offsets', () => {
    const c = new RecordCursor();
    expect(c.reset(msg)).toBe(true);
    const seen: string[] = [];
    while (c.next()) seen.push(`${c.index} ${c.type} ${c.authority ? 'ns' : c.additional ? 'ar' : 'an'} ${msg.readUInt32BE(c.at + 4)} ${c.end - c.at - 10}`);
    expect(seen).toEqual(['0 1 an 30 4', '1 2 ns 60 8', '2 1 ar 90 4', '3 41 ar 16777216 0']); // OPT's TTL field: extended rcode 1
    expect(c.ok).toBe(true);
    expect(c.end).toBe(msg.length);
  });

  it('stops with ok false at a record cut short', () => {
    const c = new RecordCursor();
    expect(c.reset(msg.subarray(0, msg.length - 5))).toBe(true);
    let n = 0;
    while (c.next()) n++;
    expect(n).toBe(3);
    expect(c.ok).toBe(false);
    expect(c.reset(msg.subarray(0, 20))).toBe(false);
  });

  it('findOpt finds the OPT record, replyRcode reads its extended bits', () => {
    const at = findOpt(msg);
    expect(at).toBe(msg.length - 11);
    expect(msg[at + 2]).toBe(41);
    expect(findOpt(msg, questionsEnd(msg))).toBe(at);
    expect(replyRcode(msg)).toBe(16);
    expect(findOpt(msg.subarray(0, msg.length - 1))).toBe(-1);
    const noOpt = dnsPacket.encode({ type: 'response', id: 1, questions: [{ name: 'a.', type: 'A', class: 'IN' }] });
    expect(findOpt(noOpt)).toBe(-1);
  });
});
