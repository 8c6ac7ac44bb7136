// CoreDNS's own bufsize expectations (plugin/bufsize: bufsize_test.go, setup_test.go) replayed
// against typedns: the setup table through `typedns check` and the Corefile set up in process (startInProcess), and the request
// sizes a plugin after bufsize sees for UDP queries.
import { describe, expect, it } from 'vitest';
import { RCODE, findOpt, type Request } from '../../src/plugin/api.js';
import { parsePlugin, responder } from '../../src/testing/index.js';
import { scopedPerTest } from '../../test/support/scoped.js';
import { checkCorefile } from '../../test/support/check-corefile.js';
import bufsize from './index.js';

const { inProcess } = scopedPerTest();

interface Seen {
  edns: boolean;
  bufsize: number;
  /** The UDP size in the OPT of the request's wire (what forward sends upstream), or -1. */
  wire: number;
}

/** A server with `bufsize ARGS` in front of a plugin recording what each request looks like. */
async function recording(args: string): Promise<{ query: (edns?: number) => Promise<Seen> }> {
  const seen: Seen[] = [];
  const rec = responder('seen', (req: Request) => {
    const at = findOpt(req.wire);
    seen.push({ edns: req.edns, bufsize: req.bufsize, wire: at < 0 ? -1 : (req.wire[at + 3]! << 8) | req.wire[at + 4]! });
    return RCODE.REFUSED;
  });
  const srv = await inProcess(`.:0 {\n  bind 127.0.0.1\n  bufsize ${args}\n  seen\n}\n`, { plugins: [rec] });
  return {
    async query(edns?: number) {
      await srv.query('.', 'A', edns === undefined ? {} : { edns });
      return seen.pop()!;
    },
  };
}

/** setup_test.go TestSetupBufsize: [input, shouldErr, expected size]. */
const setupTable: Array<[string, boolean, number]> = [
  ['bufsize', false, 1232],
  ['bufsize "1220"', false, 1220],
  ['bufsize "5000"', true, -1],
  ['bufsize "512 512"', true, -1],
  ['bufsize "511"', true, -1],
  ['bufsize "abc123"', true, -1],
];

describe('CoreDNS setup_test.go (TestSetupBufsize)', () => {
  it.each(setupTable)('%s → error %s, size %i', async (input, shouldErr, size) => {
    const errs = checkCorefile(`.:53 {\n  ${input}\n}\n`);
    if (shouldErr) {
      expect(errs).toHaveLength(1);
      // CoreDNS: plugin/bufsize: Wrong argument count or unexpected line ending after '…'
      expect(errs[0]).toMatch(/^Corefile:2: plugin\/bufsize: wrong argument count or unexpected line ending after/);
      return;
    }
    expect(errs).toEqual([]);
    expect(parsePlugin(bufsize, input).size).toBe(size);
    // and a real server caps a 4096-byte EDNS0 request at that size
    const s = await recording(input.slice('bufsize'.length).trim());
    expect(await s.query(4096)).toEqual({ edns: true, bufsize: size, wire: size });
  });
});

describe('CoreDNS bufsize_test.go (TestBufsize, maxBufSize 1024)', () => {
  it('Limit response buffer size: 1152 → 1024', async () => {
    const s = await recording('1024');
    expect(await s.query(1024 + 128)).toEqual({ edns: true, bufsize: 1024, wire: 1024 });
  });

  it('Do not increase response buffer size: 896 stays 896', async () => {
    const s = await recording('1024');
    expect(await s.query(1024 - 128)).toEqual({ edns: true, bufsize: 896, wire: 896 });
  });

  it('Buffer size should not be set: no EDNS0, no OPT added', async () => {
    const s = await recording('1024');
    expect(await s.query()).toEqual({ edns: false, bufsize: 0, wire: -1 });
  });
});
