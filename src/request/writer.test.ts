import { describe, expect, it } from 'vitest';
import { fakeRequest, Recorder } from '../testing/index.js';
import { FLAG } from '../dns/constants.js';

describe('the core writer', () => {
  it('keeps a TC bit the plugin set (e.g. a truncated upstream answer passed on), sets QR, copies RD and the ID', () => {
    const req = fakeRequest('a.example.', 'A', { id: 777 });
    const rec = new Recorder(req);
    rec.write({ type: 'response', flags: FLAG.TC | FLAG.AA, answers: [] });
    const m = rec.msg!;
    expect(m.flag_tc).toBe(true);
    expect(m.flag_aa).toBe(true);
    expect(m.flag_qr).toBe(true);
    expect(m.flag_rd).toBe(true);
    expect(m.id).toBe(777);
  });

  it('writes once: a second write is ignored', () => {
    const rec = new Recorder(fakeRequest('a.example.', 'A'));
    rec.write({ type: 'response', flags: 3, answers: [] });
    rec.write({ type: 'response', flags: 0, answers: [] });
    expect(rec.rcode).toBe(3);
  });
});
