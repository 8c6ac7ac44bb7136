// Owner names with escapes (RFC 1035 5.1): a '.' inside a label (`has\.dot`, `has\046dot`), a
// control character (`a\009b`). Loaded, answered with the label's bytes on the wire (one label
// "has.dot", not two), found whichever way the file spelled them (CoreDNS's escape_test.go), and
// transferred out by AXFR the same way (read back with dig and kdig, which print `\.`).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalName } from '../../src/dns/names.js';
import { sortAndCheck, startServer, type TestServer } from '../../src/testing/index.js';
import { transferFrom } from '../transfer/xfr-client.js';
import { zoneFilesPerTest } from '../../test/support/zone-files.js';
import { hasTool } from '../../test/support/tools.js';

const run = promisify(execFile);
const hasDig = hasTool('dig', '-v');
const hasKdig = hasTool('kdig', '--version');

// escape_test.go's dbEscapeOwner, and more of the same
const DB = `campus.edu.              500 IN SOA ns1.outside.edu. root.campus.edu. 8 6048 4000 2419200 6048
campus.edu.              500 IN NS  ns1.outside.edu.
has\\046dot.campus.edu.   500 IN A   192.0.2.2
b\\.c.campus.edu.         500 IN A   192.0.2.3
alias.campus.edu.        500 IN CNAME b\\.c.campus.edu.
a\\009b.campus.edu.       500 IN TXT "tab"
x\\.y.sub.campus.edu.     500 IN TXT "below an empty non-terminal"
`;

const { zoneFile } = zoneFilesPerTest('typedns-escape-');
let srv: TestServer;
beforeAll(async () => {
  srv = await startServer(`campus.edu:0 {\n bind 127.0.0.1\n file ${zoneFile(DB)}\n transfer {\n  to 127.0.0.1\n }\n}`);
});
afterAll(async () => srv?.close());

/** A raw UDP query for `wireName` (its labels as given), and the reply's bytes. */
function rawQuery(labels: string[], qtype: number): Promise<Buffer> {
  const name = Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])), Buffer.from([0])]);
  const q = Buffer.concat([Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]), name, Buffer.from([0, qtype, 0, 1])]);
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => {
      s.close();
      reject(new Error('no reply'));
    }, 5000);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      resolve(m);
    });
    s.send(q, srv.port, '127.0.0.1');
  });
}

describe('escaped owner names', () => {
  it('TestCanonicalEscape: one spelling per name', () => {
    expect(canonicalName('has\\046dot.campus.edu.')).toBe('has\\.dot.campus.edu.');
    expect(canonicalName('has\\.dot.campus.edu.')).toBe('has\\.dot.campus.edu.');
    expect(canonicalName('plain.campus.edu.')).toBe('plain.campus.edu.');
    expect(canonicalName('a\\009b.campus.edu.')).toBe('a\\009b.campus.edu.');
  });

  it('TestLookupOwnerNameWithDecimalEscape: has\\046dot in the file answers has\\.dot (one label on the wire)', async () => {
    sortAndCheck((await srv.query('has\\.dot.campus.edu', 'A')).msg, {
      rcode: 'NOERROR',
      aa: true,
      answer: ['has\\.dot.campus.edu. 500 IN A 192.0.2.2'],
      ns: ['campus.edu. 500 IN NS ns1.outside.edu.'],
    });
    // the label "has.dot" (7 bytes) on the wire, the answer's owner a pointer to it
    const r = await rawQuery(['has.dot', 'campus', 'edu'], 1);
    expect(r.readUInt16BE(6)).toBe(1); // one answer
    expect(r.subarray(12, 12 + 20).toString('latin1')).toBe('\x07has.dot\x06campus\x03edu\x00');
    // two labels "has" "dot" are another name: NXDOMAIN
    expect((await rawQuery(['has', 'dot', 'campus', 'edu'], 1))[3]! & 0xf).toBe(3);
  });

  it('a CNAME to an escaped name is followed; a control character in a label; names below an empty non-terminal', async () => {
    sortAndCheck((await srv.query('alias.campus.edu', 'A')).msg, { rcode: 'NOERROR', answer: ['alias.campus.edu. 500 IN CNAME b\\.c.campus.edu.', 'b\\.c.campus.edu. 500 IN A 192.0.2.3'], ns: ['campus.edu. 500 IN NS ns1.outside.edu.'] });
    const tab = await rawQuery(['a\tb', 'campus', 'edu'], 16);
    expect([tab[3]! & 0xf, tab.readUInt16BE(6)]).toEqual([0, 1]);
    expect((await srv.query('x\\.y.sub.campus.edu', 'TXT')).msg.answers).toHaveLength(1);
    sortAndCheck((await srv.query('sub.campus.edu', 'TXT')).msg, { rcode: 'NOERROR', answer: [], ns: ['campus.edu. 500 IN SOA ns1.outside.edu. root.campus.edu. 8 6048 4000 2419200 6048'] });
  });

  it('AXFR carries the escaped names with their labels intact', async () => {
    const r = await transferFrom(srv.port, 'campus.edu.');
    // (the tab byte read as dig prints it: \009)
    expect(r.records.map((a) => a.name).sort()).toEqual(['a\\009b.campus.edu', 'alias.campus.edu', 'b\\.c.campus.edu', 'campus.edu', 'campus.edu', 'campus.edu', 'has\\.dot.campus.edu', 'x\\.y.sub.campus.edu'].sort());
  });

  it.skipIf(!hasDig)('dig: the answer and the transfer print \\. inside the label', async () => {
    const a = await run('dig', ['@127.0.0.1', '-p', String(srv.port), 'has\\.dot.campus.edu', 'A', '+noall', '+answer']);
    expect(a.stdout).toMatch(/^has\\\.dot\.campus\.edu\.\s+500\s+IN\s+A\s+192\.0\.2\.2$/m);
    const x = await run('dig', ['@127.0.0.1', '-p', String(srv.port), 'campus.edu', 'AXFR', '+nocmd', '+nostats']);
    expect(x.stdout).toMatch(/^has\\\.dot\.campus\.edu\.\s+500\s+IN\s+A\s+192\.0\.2\.2$/m);
    expect(x.stdout).toMatch(/^b\\\.c\.campus\.edu\.\s+500\s+IN\s+A\s+192\.0\.2\.3$/m);
    expect(x.stdout).toMatch(/^alias\.campus\.edu\.\s+500\s+IN\s+CNAME\s+b\\\.c\.campus\.edu\.$/m);
    expect(x.stdout).toMatch(/^a\\009b\.campus\.edu\.\s+500\s+IN\s+TXT\s+"tab"$/m);
  });

  it.skipIf(!hasKdig)('kdig AXFR: the same names', async () => {
    const x = await run('kdig', ['@127.0.0.1', '-p', String(srv.port), 'campus.edu', 'AXFR', '+nostats']);
    expect(x.stdout).toMatch(/^has\\\.dot\.campus\.edu\.\s+500\s+IN\s+A\s+192\.0\.2\.2$/m);
    expect(x.stdout).toMatch(/^x\\\.y\.sub\.campus\.edu\.\s+500\s+IN\s+TXT\s+"below an empty non-terminal"$/m);
  });
});
