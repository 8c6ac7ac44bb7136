// CoreDNS's own nsid expectations (plugin/nsid: nsid_test.go, setup_test.go) replayed against
// typedns: EDNS0 queries carrying the NSID option to a real server on 127.0.0.1.
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { parsePlugin } from '../../src/testing/index.js';
import { askNsid, nsidOf } from '../../test/support/nsid.js';
import { scopedPerTest } from '../../test/support/scoped.js';
import { checkCorefile } from '../../test/support/check-corefile.js';
import nsid from './index.js';

const { server } = scopedPerTest();

describe('CoreDNS nsid_test.go', () => {
  it('TestNsid: whoami after nsid NSID → the reply OPT carries NSID "NSID"', async () => {
    const srv = await server('.:0 {\n  bind 127.0.0.1\n  nsid NSID\n  whoami\n}\n');
    const m = await askNsid(srv.port);
    expect((m.flags ?? 0) & 0xf).toBe(0);
    expect(nsidOf(m)).toEqual(['NSID']);
  });

  it('TestNsidCache: with cache in the block, the first and the cached reply both carry NSID', async () => {
    const srv = await server('.:0 {\n  bind 127.0.0.1\n  cache\n  nsid NSID\n  whoami\n}\n');
    expect(nsidOf(await askNsid(srv.port))).toEqual(['NSID']);
    expect(nsidOf(await askNsid(srv.port))).toEqual(['NSID']);
  });
});

describe('CoreDNS setup_test.go (TestSetupNsid)', () => {
  const table: Array<[string, boolean, string]> = [
    ['nsid', false, os.hostname()],
    ['nsid "ps0"', false, 'ps0'],
    ['nsid "worker1"', false, 'worker1'],
    ['nsid "tf 2"', false, 'tf 2'],
    ['nsid\n  nsid', true, ''],
  ];
  it.each(table)('%s → error %s, data %s', async (input, shouldErr, data) => {
    const errs = checkCorefile(`.:53 {\n  ${input}\n}\n`);
    if (shouldErr) {
      expect(errs).toEqual(['Corefile:3: plugin/nsid: this plugin can only be used once per Server Block']);
      return;
    }
    expect(errs).toEqual([]);
    // nsidParse
    const cfg = parsePlugin(nsid, input);
    expect(cfg.data ?? os.hostname()).toBe(data);
    // setup: served by a real server
    const srv = await server(`.:0 {\n  bind 127.0.0.1\n  ${input}\n  whoami\n}\n`);
    expect(nsidOf(await askNsid(srv.port))).toEqual([data]);
  });
});
