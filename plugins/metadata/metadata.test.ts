// metadata: CoreDNS's setup tables (plugin/metadata/setup_test.go) as data; then through real
// servers: the kubernetes labels read by log's {/label} placeholders, nothing without the plugin,
// and view expressions reading metadata before routing (CoreDNS test/view_test.go, metadata rows).
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispense, parsePlugin, sortAndCheck, startServer, type TestServer } from '../../src/testing/index.js';
import metadata from './index.js';

const cluster = path.resolve(import.meta.dirname, '../../examples/cluster');

describe('metadata: setup (CoreDNS TestSetup, TestSetupHealth)', () => {
  it.each([
    ['metadata', ['.']],
    ['metadata example.com.', ['example.com.']],
    ['metadata example.com. net.', ['example.com.', 'net.']],
  ])('%j', (input, zones) => {
    expect(parsePlugin(metadata, input).zones).toEqual(zones);
  });
  it('rejects a block and a second stanza', async () => {
    expect(() => metadata.parse(dispense('metadata example.com. {\n some_param\n}'), ['.'])).toThrow(/Testfile:2 .*unknown property 'some_param'/);
    await expect(startServer('.:0 {\n bind 127.0.0.1\n metadata\n metadata\n whoami\n}')).rejects.toThrow(/Corefile:4.*only be used once/);
  });
});

describe('metadata through a real server', () => {
  const corefile = (meta: boolean): string => `cluster.local:0 {
  bind 127.0.0.1
  ${meta ? 'metadata' : ''}
  log . "{name} kind={/kubernetes/kind} ns={/kubernetes/namespace} svc={/kubernetes/service} port={/kubernetes/port-name} proto={/kubernetes/protocol} none={/no/such}"
  kubernetes cluster.local {
    manifests ${cluster}
  }
}`;
  let on: TestServer;
  let off: TestServer;
  beforeAll(async () => {
    on = await startServer(corefile(true));
    off = await startServer(corefile(false));
  });
  afterAll(async () => {
    await on?.close();
    await off?.close();
  });

  it('kubernetes publishes the parts of the name; log reads them', async () => {
    await on.query('web.shop.svc.cluster.local.', 'A');
    await on.query('_http._tcp.web.shop.svc.cluster.local.', 'SRV');
    const lines = on.log.lines.filter((l) => l.includes('kind='));
    expect(lines.some((l) => l.includes('web.shop.svc.cluster.local. kind=svc ns=shop svc=web port= proto= none=-'))).toBe(true);
    expect(lines.some((l) => l.includes('_http._tcp.web.shop.svc.cluster.local. kind=svc ns=shop svc=web port=http proto=tcp none=-'))).toBe(true);
  });

  it('without the metadata plugin every label is -', async () => {
    await off.query('web.shop.svc.cluster.local.', 'A');
    expect(off.log.lines.some((l) => l.includes('web.shop.svc.cluster.local. kind=- ns=- svc=- port=- proto=- none=-'))).toBe(true);
  });
});

describe('view reads metadata collected before routing (CoreDNS test/view_test.go, metadata rows)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer(`metadata:0 {
  bind 127.0.0.1
  metadata
  view test-view-meta1 {
    expr metadata('view/name') == 'not-the-view-name'
  }
  hosts {
    1.1.1.1 test.metadata
  }
}
metadata:0 {
  bind 127.0.0.1
  view test-view-meta2 {
    expr metadata('view/name') == 'test-view-meta2'
  }
  hosts {
    2.2.2.2 test.metadata
  }
}
metadata:0 {
  bind 127.0.0.1
  metadata
  view test-view-meta3 {
    expr metadata('view/name') == 'test-view-meta3'
  }
  hosts {
    2.2.2.2 test.metadata
  }
}
metadata:0 {
  bind 127.0.0.1
  hosts {
    3.3.3.3 test.metadata
  }
}`);
  });
  afterAll(() => s?.close());

  it('the third view (metadata on, its own name) serves: 2.2.2.2', async () => {
    sortAndCheck((await s.query('test.metadata.', 'A')).msg, { rcode: 'NOERROR', answer: ['test.metadata. 3600 IN A 2.2.2.2'] });
  });
});

describe('forward publishes forward/upstream', () => {
  it('names the upstream that answered', async () => {
    const { startUpstream } = await import('../../test/support/upstream.js');
    const up = await startUpstream();
    up.answer('a.example.', 'A', ['a.example. 60 IN A 192.0.2.1']);
    const s = await startServer(`.:0 {\n bind 127.0.0.1\n metadata\n log . "{name} up={/forward/upstream}"\n forward . ${up.addr}\n}`);
    try {
      await s.query('a.example.', 'A');
      expect(s.log.lines.some((l) => l.includes(`a.example. up=${up.addr}`))).toBe(true);
    } finally {
      await s.close();
      await up.stop();
    }
  });
});
