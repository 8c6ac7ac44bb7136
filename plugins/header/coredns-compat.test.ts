// CoreDNS's own header expectations (plugin/header: header_test.go, setup_test.go) replayed
// against typedns: the Corefile set up in process (startInProcess, no socket) with header rules in front of a plugin that records
// the request's flags and writes a reply, and the setup table through `typedns check`.
import { describe, expect, it } from 'vitest';
import { FLAG, RCODE, reply } from '../../src/plugin/api.js';
import { responder } from '../../src/testing/index.js';
import { scopedPerTest } from '../../test/support/scoped.js';
import { checkCorefile } from '../../test/support/check-corefile.js';

const { inProcess } = scopedPerTest();

/** A server with `header { RULE }` before a backend; returns the flags the backend saw and the reply's. */
async function run(rule: string, backendFlags = 0, rd = true): Promise<{ query: number; reply: number }> {
  const seen: number[] = [];
  const backend = responder('backend', (req, w) => {
    seen.push((req.wire[2]! << 8) | req.wire[3]!);
    w.write({ ...reply(req, []), flags: backendFlags });
    return RCODE.NOERROR;
  });
  const srv = await inProcess(`.:0 {\n  bind 127.0.0.1\n  header {\n    ${rule}\n  }\n  backend\n}\n`, { plugins: [backend] });
  const r = await srv.query('example.org', 'A', { rd });
  return { query: seen[0]!, reply: r.wire.readUInt16BE(2) };
}

describe('CoreDNS header_test.go', () => {
  // TestHeaderResponseRules: [rule, flag, expected]; the backend writes the opposite state first
  it.each([
    ['response set ra', FLAG.RA, true],
    ['response clear ra', FLAG.RA, false],
    ['response set rd', FLAG.RD, true],
    ['response set aa', FLAG.AA, true],
  ] as const)('TestHeaderResponseRules: %s', async (rule, bit, want) => {
    const { reply: f } = await run(rule, want ? 0 : bit, false);
    expect((f & bit) !== 0).toBe(want);
  });

  // TestHeaderQueryRules: the request the next plugin sees
  it.each([
    ['query set ra', FLAG.RA, true, false],
    ['query set rd', FLAG.RD, true, false],
    ['query clear rd', FLAG.RD, false, true],
    ['query set aa', FLAG.AA, true, false],
  ] as const)('TestHeaderQueryRules: %s', async (rule, bit, want, rd) => {
    const { query: f } = await run(rule, 0, rd);
    expect((f & bit) !== 0).toBe(want);
  });
});

describe('CoreDNS setup_test.go (TestSetupHeader)', () => {
  const table: Array<[string, string | null]> = [
    ['header {}', "Corefile:2: plugin/header: wrong argument count or unexpected line ending after '{}'"], // one token, as in Caddy
    ['header {\n  foo\n}', 'Corefile:3: plugin/header: setting up rule: invalid selector=foo should be query or response'],
    ['header {\n  response set\n}', 'Corefile:3: plugin/header: setting up rule: invalid length for flags, at least one should be provided'],
    ['header {\n  query foo\n}', 'Corefile:3: plugin/header: setting up rule: invalid length for flags, at least one should be provided'],
    ['header {\n  query foo rd\n}', 'Corefile:3: plugin/header: setting up rule: unknown flag action=foo, should be set or clear'],
    ['header {\n  query set rd\n}', null],
    ['header {\n  response set aa\n}', null],
    ['header {\n  response set ra aa\n  query clear rd\n}', null],
  ];
  it.each(table)('%s', (input, err) => {
    expect(checkCorefile(`.:53 {\n${input}\n}\n`)).toEqual(err === null ? [] : [err]);
  });
});
