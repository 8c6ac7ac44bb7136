// CoreDNS's own minimal expectations (plugin/minimal: minimal_test.go, setup_test.go) replayed
// against typedns: the Corefile set up in process (startInProcess, no socket) with `minimal` in front of a plugin writing each
// row's reply, once as a Message and once as wire bytes (the path cache hits and forward take).
import dnsPacket from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { RCODE, rr, type Request } from '../../src/plugin/api.js';
import { responder, sortAndCheck } from '../../src/testing/index.js';
import { scopedPerTest } from '../../test/support/scoped.js';
import { checkCorefile } from '../../test/support/check-corefile.js';

const { inProcess } = scopedPerTest();

const baseAnswer = ['example.com.  293 IN A 142.250.76.46'];
const baseNs = ['example.com.  157127 IN NS ns2.example.com.', 'example.com.  157127 IN NS ns1.example.com.', 'example.com.  157127 IN NS ns3.example.com.', 'example.com.  157127 IN NS ns4.example.com.'];
const baseExtra = [
  'ns2.example.com. 316273 IN A 216.239.34.10',
  'ns2.example.com. 157127 IN AAAA 2001:4860:4802:34::a',
  'ns3.example.com. 316274 IN A 216.239.36.10',
  'ns3.example.com. 157127 IN AAAA 2001:4860:4802:36::a',
  'ns1.example.com. 165555 IN A 216.239.32.10',
  'ns1.example.com. 165555 IN AAAA 2001:4860:4802:32::a',
  'ns4.example.com. 190188 IN A 216.239.38.10',
  'ns4.example.com. 157127 IN AAAA 2001:4860:4802:38::a',
];

interface Sections {
  answer: string[];
  ns: string[];
  extra: string[];
  rcode: number;
}

/** TestMinimizeResponse: [row, original, minimal]. */
const table: Array<[string, Sections, Sections]> = [
  ['minimization possible NoError case', { answer: baseAnswer, ns: [], extra: baseExtra, rcode: 0 }, { answer: baseAnswer, ns: [], extra: [], rcode: 0 }],
  ['delegate response case', { answer: [], ns: baseNs, extra: baseExtra, rcode: 0 }, { answer: [], ns: baseNs, extra: baseExtra, rcode: 0 }],
  ['negative response case', { answer: baseAnswer, ns: baseNs, extra: baseExtra, rcode: 2 }, { answer: baseAnswer, ns: baseNs, extra: baseExtra, rcode: 2 }],
];

function backend(orig: Sections, wire: boolean) {
  return responder('backend', (req: Request, w) => {
    const m = { type: 'response' as const, flags: orig.rcode, answers: orig.answer.map(rr), authorities: orig.ns.map(rr), additionals: orig.extra.map(rr) };
    if (!wire) w.write(m);
    else {
      // a finished reply, as forward passes it on: with an OPT when the query had one
      const opt = { type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] } as dnsPacket.Answer;
      const additionals = req.edns ? [...m.additionals, opt] : m.additionals;
      w.write(dnsPacket.encode({ ...m, additionals, id: req.id, flags: orig.rcode | dnsPacket.RECURSION_DESIRED, questions: [{ name: req.qname, type: 'A', class: 'IN' }] }));
    }
    return RCODE.NOERROR;
  });
}

describe('CoreDNS minimal_test.go (TestMinimizeResponse)', () => {
  for (const wire of [false, true]) {
    it.each(table)(`%s (${wire ? 'wire bytes' : 'Message'})`, async (_name, orig, want) => {
      const srv = await inProcess('example.com:0 {\n  bind 127.0.0.1\n  minimal\n  backend\n}\n', { plugins: [backend(orig, wire)] });
      for (const edns of [undefined, 4096]) {
        const r = await srv.query('example.com', 'A', edns === undefined ? {} : { edns });
        sortAndCheck(r.msg, { rcode: want.rcode, answer: want.answer, ns: want.ns, extra: want.extra });
        expect((r.msg.additionals ?? []).some((a) => a.type === 'OPT')).toBe(edns !== undefined);
      }
    });
  }
});

describe('CoreDNS setup_test.go', () => {
  it.each([
    ['minimal', []],
    ['minimal example.org', ["Corefile:2: plugin/minimal: wrong argument count or unexpected line ending after 'example.org'"]],
  ])('%s', (input, errs) => {
    expect(checkCorefile(`.:53 {\n  ${input}\n}\n`)).toEqual(errs);
  });
});
