// CoreDNS's own chaos expectations (plugin/chaos: chaos_test.go, setup_test.go) replayed against
// typedns: CH-class queries to the Corefile set up in process (startInProcess, no socket), with a recording plugin after chaos.
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { RCODE } from '../../src/plugin/api.js';
import { parsePlugin, responder, sortAndCheck } from '../../src/testing/index.js';
import { scopedPerTest } from '../../test/support/scoped.js';
import { checkCorefile } from '../../test/support/check-corefile.js';
import chaos from './index.js';

const { inProcess } = scopedPerTest();

async function chaosServer(args: string) {
  const calls: string[] = [];
  const next = responder('nextrec', (req) => {
    calls.push(`${req.name} ${req.qtype}`);
    return RCODE.NOERROR; // test.NextHandler(dns.RcodeSuccess, nil): returns without writing
  });
  const srv = await inProcess(`.:0 {\n  bind 127.0.0.1\n  chaos ${args}\n  nextrec\n}\n`, { plugins: [next] });
  return { calls, query: (name: string, type = 'TXT', qclass = 'CH') => srv.query(name, type, { qclass }) };
}

describe('CoreDNS chaos_test.go (TestChaos: Version CoreDNS-001, Authors [Miek Gieben])', () => {
  it('version.bind TXT → "CoreDNS-001"', async () => {
    const s = await chaosServer('CoreDNS-001 "Miek Gieben"');
    const r = await s.query('version.bind');
    sortAndCheck(r.msg, { rcode: 'NOERROR', answer: ['version.bind. 0 CH TXT "CoreDNS-001"'] });
    expect(s.calls).toEqual([]);
  });

  it('authors.bind TXT → "Miek Gieben"', async () => {
    const s = await chaosServer('CoreDNS-001 "Miek Gieben"');
    const r = await s.query('authors.bind');
    sortAndCheck(r.msg, { rcode: 'NOERROR', answer: ['authors.bind. 0 CH TXT "Miek Gieben"'] });
  });

  it('authors.bind SRV → the next plugin (NOERROR, nothing written by chaos)', async () => {
    const s = await chaosServer('CoreDNS-001 "Miek Gieben"');
    const r = await s.query('authors.bind', 'SRV');
    expect(r.rcode).toBe(RCODE.NOERROR);
    expect(r.msg.answers).toEqual([]);
    expect(s.calls).toEqual(['authors.bind. 33']);
  });
});

describe('CoreDNS setup_test.go (TestSetupChaos)', () => {
  it.each([
    ['chaos v2', 'v2', undefined],
    ['chaos v3 "Miek Gieben"', 'v3', 'Miek Gieben'],
  ])('%s', async (input, version, author) => {
    expect(checkCorefile(`.:53 {\n  ${input}\n}\n`)).toEqual([]);
    const cfg = parsePlugin(chaos, input);
    expect(cfg.version).toBe(version);
    if (author !== undefined) expect(cfg.authors![0]).toBe(author);
    // and served
    const s = await chaosServer(input.slice('chaos '.length));
    sortAndCheck((await s.query('version.server')).msg, { answer: [`version.server. 0 CH TXT "${version}"`] });
  });

  it('chaos v2 { unknown } → unknown property', () => {
    expect(checkCorefile('.:53 {\n  chaos v2 {\n    unknown\n  }\n}\n')).toEqual(["Corefile:3: plugin/chaos: unknown property 'unknown'"]);
  });
});

describe('README: the names chaos answers', () => {
  it('hostname.bind and id.server carry the host name; other CH names and IN TXT go on', async () => {
    const s = await chaosServer('CoreDNS-001 info@coredns.io');
    for (const n of ['hostname.bind', 'id.server']) {
      sortAndCheck((await s.query(n)).msg, { answer: [`${n}. 0 CH TXT "${os.hostname()}"`] });
    }
    await s.query('other.bind');
    await s.query('version.bind', 'TXT', 'IN');
    expect(s.calls).toEqual(['other.bind. 16', 'version.bind. 16']);
  });

  it('authors come back deduplicated and sorted, in a random order per query', async () => {
    const s = await chaosServer('v1 c b a b');
    const seen = new Set<string>();
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      const r = await s.query('authors.bind');
      const got = r.msg.answers!.map((a) => String((a as { data: Buffer[] }).data[0]));
      expect([...got].sort()).toEqual(['a', 'b', 'c']);
      seen.add(got.join(','));
    }
    expect(seen.size).toBe(2);
  });

  it('without arguments: typedns-<version> and the default authors; a case-changed name still matches', async () => {
    const s = await chaosServer('');
    const r = await s.query('VERSION.bind');
    expect(String((r.msg.answers![0] as { data: Buffer[] }).data[0])).toMatch(/^typedns-\d+\.\d+\.\d+/);
    expect(r.msg.answers![0]!.name).toBe('VERSION.bind');
  });

  it('a value over 255 bytes is cut to 255', async () => {
    const s = await chaosServer('x'.repeat(300));
    const r = await s.query('version.bind');
    expect(String((r.msg.answers![0] as { data: Buffer[] }).data[0])).toBe('x'.repeat(255));
  });
});
