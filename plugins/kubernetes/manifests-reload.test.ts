// The manifests source with a large file: it is parsed off the query path (a client asking every
// 10 ms never waits long), the previous objects answer until the new ones are in, and editing one
// file parses only that file. Parses are counted through the debug log ("parsing manifest file").
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startServer, waitFor, type TestServer } from '../../src/testing/index.js';
import type { ManifestCache } from './manifests.js';
import { serviceDocs, serviceIp } from '../../test/support/service-manifest.mjs';
import { threadCpuMs } from '../../test/support/thread-cpu.js';

/** About `mb` MB of Services in multi-document YAML; svc-1000 in ns-0 has `ip`. */
const bigManifest = (mb: number, ip: string): string => [...serviceDocs(mb * 1e6, { note: ip, ipOf: (i) => (i === 1000 ? ip : serviceIp(i)) })].join('');

const small = (ip: string): string => `apiVersion: v1\nkind: Service\nmetadata:\n  name: other\n  namespace: ns-1\nspec:\n  clusterIP: ${ip}\n`;

describe('manifests: a large file edited while answering', () => {
  let dir: string;
  let srv: TestServer;
  const big = (): string => path.join(dir, 'big.yaml');
  const parsesOf = (file: string): number => srv.log.lines.filter((l) => l.includes(`parsing manifest file ${file}`)).length;
  const ipOf = async (name: string): Promise<string> => {
    const r = await srv.query(name, 'A', { timeout: 30_000 });
    const a = r.msg.answers?.[0];
    return a?.type === 'A' ? a.data : `rcode ${r.rcode}`;
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-manifests-'));
    fs.writeFileSync(big(), bigManifest(10, '10.200.0.1'));
    fs.writeFileSync(path.join(dir, 'small.yaml'), small('10.201.0.1'));
    srv = await startServer(`cluster.local:0 {
  bind 127.0.0.1
  debug
  kubernetes {
    manifests ${dir}
    startup_timeout 300s
  }
}`);
  }, 300_000);
  afterAll(async () => {
    await srv?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves the old objects while the edited file is parsed, then the new; no long gap; only that file parsed', { timeout: 300_000 }, async () => {
    const name = 'svc-1000.ns-0.svc.cluster.local';
    expect(await ipOf(name)).toBe('10.200.0.1');
    expect(parsesOf(big())).toBe(1);
    const edited = bigManifest(10, '10.200.0.2'); // made before the clock starts

    // the most CPU time this thread (the one that answers) spent between two answers: a long
    // stretch of work that held the answers back, told apart from a wait for a core on a loaded
    // machine (which the wall clock between answers counts too)
    let stop = false;
    let maxGap = 0;
    let maxWall = 0;
    const seen: string[] = [];
    const client = (async () => {
      let last = threadCpuMs();
      let lastWall = Date.now();
      while (!stop) {
        const ip = await ipOf(name);
        const now = threadCpuMs();
        maxGap = Math.max(maxGap, now - last);
        last = now;
        maxWall = Math.max(maxWall, Date.now() - lastWall);
        lastWall = Date.now();
        if (seen[seen.length - 1] !== ip) seen.push(ip);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    try {
      // replace the file in one step; the write itself goes through the thread pool
      await fs.promises.writeFile(`${big()}.tmp`, edited);
      await fs.promises.rename(`${big()}.tmp`, big());
      await waitFor(() => seen.includes('10.200.0.2'), { timeout: 240_000, what: 'the new address' });
    } finally {
      stop = true;
      await client;
    }
    // the old address until the new one, never anything else, never back
    expect(seen).toEqual(['10.200.0.1', '10.200.0.2']);
    // The limit leaves room for GC pauses; parsing on this thread stopped the answers for the
    // whole parse (seconds of its CPU for 10 MB).
    expect(maxGap, `most CPU ms of the answering thread between two answers (longest wall-clock wait ${maxWall} ms)`).toBeLessThan(400);
    expect(parsesOf(big())).toBe(2);
    expect(parsesOf(path.join(dir, 'small.yaml'))).toBe(1);

    // editing the small file parses only the small file
    fs.writeFileSync(path.join(dir, 'small.yaml.tmp'), small('10.201.0.2'));
    fs.renameSync(path.join(dir, 'small.yaml.tmp'), path.join(dir, 'small.yaml'));
    await waitFor(async () => (await ipOf('other.ns-1.svc.cluster.local')) === '10.201.0.2', { timeout: 30_000, what: 'the small file' });
    expect(parsesOf(path.join(dir, 'small.yaml'))).toBe(2);
    expect(parsesOf(big())).toBe(2);
    expect(await ipOf(name)).toBe('10.200.0.2');
  });
});

describe('manifests: a Corefile reload', () => {
  it('takes the objects of unchanged files without parsing them again; a file changed after the reload is still picked up', { timeout: 60_000 }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-manifests-reload-'));
    const a = path.join(dir, 'a.yaml');
    const b = path.join(dir, 'b.yaml');
    fs.writeFileSync(a, small('10.201.0.1'));
    fs.writeFileSync(b, small('10.201.0.9').replace('name: other', 'name: second'));
    const port = await freePort();
    const cf = (extra = ''): string => `cluster.local:${port} {\n bind 127.0.0.1\n debug\n${extra} kubernetes {\n  manifests ${dir}\n }\n}`;
    const srv = await startServer(cf());
    try {
      const parses = (): number => srv.log.lines.filter((l) => l.includes('parsing manifest file')).length;
      const ip = async (name: string): Promise<string | undefined> => {
        const r = await srv.query(name, 'A');
        const x = r.msg.answers?.[0];
        return x?.type === 'A' ? x.data : undefined;
      };
      expect(parses()).toBe(2);
      expect(await srv.server.reload('test', { text: cf(' log\n'), file: 'Corefile' })).toBe(true);
      expect(parses()).toBe(2);
      expect(srv.log.lines.filter((l) => /manifest file .* unchanged: the objects already parsed are used/.test(l))).toHaveLength(2);
      expect(await ip('other.ns-1.svc.cluster.local')).toBe('10.201.0.1');
      expect(await ip('second.ns-1.svc.cluster.local')).toBe('10.201.0.9');
      // one copy of each file's objects, held by the running configuration
      const cache = srv.server.shared<ManifestCache>('kubernetes/manifests', () => {
        throw new Error('no manifest cache in this process');
      });
      expect(cache.size).toBe(2);
      // an edit after the reload: the new configuration parses that file only
      fs.writeFileSync(`${a}.tmp`, small('10.201.0.2'));
      fs.renameSync(`${a}.tmp`, a);
      await waitFor(async () => (await ip('other.ns-1.svc.cluster.local')) === '10.201.0.2', { timeout: 30_000, what: 'the edited file' });
      expect(parses()).toBe(3);
      await waitFor(() => cache.size === 2, { what: 'the old objects of a.yaml given back' });
      // and the next reload takes the edited file as it is
      expect(await srv.server.reload('test', { text: cf(), file: 'Corefile' })).toBe(true);
      expect(parses()).toBe(3);
      expect(await ip('other.ns-1.svc.cluster.local')).toBe('10.201.0.2');
    } finally {
      await srv.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
