import { afterEach, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import { RCODE } from '../../src/plugin/api.js';
import { dispense, responder, startServer, type TestServer, waitFor } from '../../src/testing/index.js';
import loop, { type LoopPlugin } from './index.js';

// `selffwd`: forwards every query over UDP to the address it arrived on — a forwarder whose
// upstream is this very server (a resolv.conf pointing at the node's own DNS).
const selffwd = responder('selffwd', (req, w) => {
  return new Promise<number>((resolve) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => {
      s.close();
      resolve(RCODE.SERVFAIL);
    }, 1000);
    s.on('message', (msg) => {
      clearTimeout(t);
      s.close();
      w.write(msg);
      resolve(msg[3]! & 0xf);
    });
    s.send(req.wire, req.local.port, req.local.ip);
  });
}, { position: { after: 'loop' } });

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function loopOf(s: TestServer): LoopPlugin {
  return s.server.generation!.blocks[0]!.plugins.find((x) => x.name === 'loop')!.plugin as LoopPlugin;
}

describe('loop parse', () => {
  it('takes no arguments', () => {
    expect(loop.parse(dispense('loop'), ['.'])).toEqual({});
    expect(() => loop.parse(dispense('loop now'), ['.'])).toThrow(/Wrong argument count/i);
    expect(() => loop.parse(dispense('loop {\n a\n}'), ['.'])).toThrow(/unknown property/i);
  });
});

describe('loop', () => {
  it('detects a server forwarding to itself and reports it as fatal', async () => {
    const s = await startServer('.:0 {\n bind 127.0.0.1\n loop\n selffwd\n}', { plugins: [selffwd] });
    servers.push(s);
    const l = loopOf(s);
    await waitFor(() => s.server.fatalMessage !== undefined, 5000);
    const probe = l.probe!;
    expect(l.disabled).toBe(true);
    expect(probe).toMatch(/^\d+\.\d+\.$/);
    const msg = s.server.fatalMessage!;
    expect(msg).toMatch(/^plugin\/loop: Loop \(127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+\) detected for zone "\.", see https:\/\/coredns\.io\/plugins\/loop#troubleshooting\. Query: "HINFO \d+\.\d+\."$/);
    expect(msg).toContain(`-> 127.0.0.1:${s.port})`);
    expect(msg).toContain(`"HINFO ${probe}"`);
    expect(s.log.lines).toContain(`[FATAL] ${msg}`);
    // the default fatal handler stops the server
    await waitFor(() => s.server.shuttingDown, 2000);
    await expect(s.query('example.org.', 'A', { timeout: 300 })).rejects.toThrow();
  });

  it('probes under the first zone, sees the probe once without a loop, then turns itself off', async () => {
    const s = await startServer('example.org.:0 example.net.:0 {\n bind 127.0.0.1\n loop\n whoami\n}');
    servers.push(s);
    const l = loopOf(s);
    await waitFor(() => l.disabled, 5000);
    expect(l.probe).toMatch(/^\d+\.\d+\.example\.org\.$/);
    expect(s.server.fatalMessage).toBeUndefined();
    expect((await s.query('a.example.org.', 'A')).rcode).toBe(0);
  });

  it('uses different random names each time', async () => {
    const names = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const s = await startServer('.:0 {\n bind 127.0.0.1\n loop\n whoami\n}');
      servers.push(s);
      await waitFor(() => loopOf(s).probe !== undefined, 2000);
      names.add(loopOf(s).probe!);
    }
    expect(names.size).toBe(3);
  });
});
