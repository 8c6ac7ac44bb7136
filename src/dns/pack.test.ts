import { describe, expect, it } from 'vitest';
import { fakeRequest, Recorder, sortAndCheck } from '../testing/index.js';
import { rr } from './message.js';
import { concatPacked, pack, packedReply } from './pack.js';
import { FLAG, RCODE } from './constants.js';

describe('packed replies', () => {
  it('answers with the question name as asked, and decodes as the same records', () => {
    const req = fakeRequest('WeB.Shop.svc.cluster.local.', 'A', { edns: 4096, do: true });
    const an = concatPacked(pack([rr('x. 30 IN A 10.0.0.1')]), pack([rr('x. 30 IN A 10.0.0.2')]));
    const ar = pack([rr('other.example. 5 IN A 192.0.2.1')], () => false);
    const rec = new Recorder(req);
    rec.write(packedReply(req, FLAG.AA, RCODE.NOERROR, an, undefined, ar));
    const m = rec.msg!;
    expect(m.id).toBe(req.id);
    expect(m.answers!.map((a) => a.name)).toEqual(['WeB.Shop.svc.cluster.local', 'WeB.Shop.svc.cluster.local']);
    sortAndCheck(m, { rcode: 'NOERROR', aa: true, answer: ['web.shop.svc.cluster.local. 30 IN A 10.0.0.1', 'web.shop.svc.cluster.local. 30 IN A 10.0.0.2'], extra: ['other.example. 5 IN A 192.0.2.1'] });
    const opt = m.additionals!.find((a) => a.type === 'OPT') as { flag_do: boolean } | undefined;
    expect(opt?.flag_do).toBe(true);
    expect(rec.rcode).toBe(0);
    expect(rec.answers).toBe(2);
  });

  it('records TTL offsets for in-place TTL patches', () => {
    const p = concatPacked(pack([rr('x. 30 IN A 10.0.0.1')]), pack([rr('o.example. 77 IN TXT "hi"')], () => false));
    const dv = Buffer.from(p.bytes);
    expect(p.ttlOffsets.map((o) => dv.readUInt32BE(o))).toEqual([30, 77]);
  });

  it('carries NXDOMAIN with an SOA in authority, and no OPT without EDNS', () => {
    const req = fakeRequest('nope.example.org.', 'A');
    const ns = pack([rr('example.org. 5 IN SOA ns.example.org. hostmaster.example.org. 1 7200 1800 86400 5')], () => false);
    const rec = new Recorder(req);
    rec.write(packedReply(req, FLAG.AA, RCODE.NXDOMAIN, undefined, ns));
    sortAndCheck(rec.msg, { rcode: 'NXDOMAIN', aa: true, answer: [], ns: ['example.org. 5 IN SOA ns.example.org. hostmaster.example.org. 1 7200 1800 86400 5'] });
    expect(rec.msg!.additionals).toHaveLength(0);
  });

  it('is truncated by the writer when too large for the client', () => {
    const req = fakeRequest('big.example.', 'TXT');
    const recs = Array.from({ length: 20 }, (_, i) => rr(`x. 30 IN TXT "${'y'.repeat(60)}${i}"`));
    const rec = new Recorder(req);
    rec.write(packedReply(req, FLAG.AA, 0, pack(recs)));
    expect(rec.length).toBeLessThanOrEqual(512);
    expect(rec.msg!.flag_tc).toBe(true);
  });
});
