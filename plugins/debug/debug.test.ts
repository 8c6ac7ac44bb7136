import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { dispense, startServer, type TestServer, waitFor } from '../../src/testing/index.js';
import { parseConfig } from '../../src/config/compile.js';
import { PluginRegistry } from '../../src/plugin/registry.js';
import { builtinPlugins } from '../all.js';
import debug from './index.js';
import { definePlugin } from '../../src/plugin/api.js';

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('debug', () => {
  it('takes no arguments', () => {
    expect(debug.parse(dispense('debug'), ['.'])).toEqual({});
    expect(() => debug.parse(dispense('debug on'), ['.'])).toThrow(/Wrong argument count/i);
    expect(() => debug.parse(dispense('debug {\n x\n}'), ['.'])).toThrow(/unknown property/i);
  });

  it('turns on [DEBUG] lines for its block only', async () => {
    const s = await startServer('a.:0 {\n bind 127.0.0.1\n debug\n loop\n whoami\n}\nb.:0 {\n bind 127.0.0.1\n loop\n whoami\n}');
    servers.push(s);
    const loops = s.server.generation!.blocks.map((b) => b.plugins.find((p) => p.name === 'loop')!.plugin as unknown as { disabled: boolean; probe: string });
    await waitFor(() => loops.every((l) => l.disabled), 5000);
    const dbg = s.log.lines.filter((l) => l.startsWith('[DEBUG]'));
    expect(dbg).toContain(`[DEBUG] plugin/loop: probe ${loops[0]!.probe} answered, loop detection off`);
    expect(dbg.join('\n')).not.toContain(loops[1]!.probe);
  });

  it('is a capability any plugin declares (debugLog), not a name the core knows', async () => {
    const verbose = definePlugin<Record<string, never>>({
      name: 'verbose',
      api: '^1',
      debugLog: true,
      position: { before: 'whoami' },
      parse: (d) => (d.next(), {}),
      setup: () => ({}),
    });
    const s = await startServer('a.:0 {\n bind 127.0.0.1\n verbose\n loop\n whoami\n}\nb.:0 {\n bind 127.0.0.1\n loop\n whoami\n}', { plugins: [verbose] });
    servers.push(s);
    const loops = s.server.generation!.blocks.map((b) => b.plugins.find((p) => p.name === 'loop')!.plugin as unknown as { disabled: boolean; probe: string });
    await waitFor(() => loops.every((l) => l.disabled), 5000);
    const dbg = s.log.lines.filter((l) => l.startsWith('[DEBUG]'));
    expect(dbg).toContain(`[DEBUG] plugin/loop: probe ${loops[0]!.probe} answered, loop detection off`);
    expect(dbg.join('\n')).not.toContain(loops[1]!.probe);
  });
});

describe('README examples of the operations plugins', () => {
  const registry = new PluginRegistry(builtinPlugins);
  for (const name of ['debug', 'health', 'loop', 'prometheus', 'ready', 'reload']) {
    const text = readFileSync(path.join(__dirname, '..', name, 'README.md'), 'utf8');
    const examples = [...text.matchAll(/~~~ corefile\n([\s\S]*?)~~~/g)].map((m) => m[1]!);
    it(`${name}: has the CoreDNS README sections and valid Corefile examples`, () => {
      for (const h of ['## Name', '## Description', '## Syntax', '## Examples', '## Metrics']) expect(text).toContain(`\n${h}\n`);
      expect(examples.length).toBeGreaterThan(0);
      for (const ex of examples) expect(() => parseConfig({ text: ex, file: `${name}/README.md` }, registry, 53)).not.toThrow();
    });
  }
});
