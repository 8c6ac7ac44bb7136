// External plugins as users load them: the real CLI (dist/src/cli.js) started as a child process
// with -plugin by path and by package name, answering through real sockets; start-up errors for
// modules that cannot be used; and a plugin that throws.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RCODE } from '../../src/plugin/api.js';
import { freePort, query, responder, sortAndCheck, startServer } from '../../src/testing/index.js';
import { ensureBuilt, linkTypedns, ROOT } from '../support/build.js';
import { cliRun, startCli } from '../support/cli.js';

const SPLIT = path.join(ROOT, 'examples/plugins/split');
let dir: string;

beforeAll(async () => {
  await ensureBuilt();
  linkTypedns(SPLIT); // what `npm install` in the example's folder does
  dir = mkdtempSync(path.join(tmpdir(), 'typedns-plugins-'));
  // An application folder that installed typedns and typedns-plugin-split from npm.
  const pkg = path.join(dir, 'app/node_modules/typedns-plugin-split');
  mkdirSync(pkg, { recursive: true });
  for (const f of ['index.js', 'index.d.ts', 'package.json']) copyFileSync(path.join(SPLIT, f), path.join(pkg, f));
  symlinkSync(ROOT, path.join(dir, 'app/node_modules/typedns'), 'dir');
  // Modules that must not load.
  const mod = (name: string, body: string): string => {
    const f = path.join(dir, name);
    writeFileSync(f, body);
    return f;
  };
  mod('clash.mjs', "export default { name: 'whoami', api: '^1', position: { before: 'whoami' }, parse() { return {}; }, setup() { return {}; } };\n");
  mod('badpos.mjs', "export default { name: 'nowhere', api: '^1', position: { after: 'no_such_plugin' }, parse() { return {}; }, setup() { return {}; } };\n");
  mod('nopos.mjs', "export default { name: 'nopos', api: '^1', parse() { return {}; }, setup() { return {}; } };\n");
  mod('oldapi.mjs', "export default { name: 'oldapi', api: '^0.3', position: { before: 'whoami' }, parse() { return {}; }, setup() { return {}; } };\n");
  mod('notaplugin.mjs', 'export const x = 1;\n');
  mod('syntax.mjs', 'export default {\n');
}, 60_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const corefile = (port: number): string => `example.org:${port} {
    bind 127.0.0.1
    split {
        net 127.0.0.0/8 {
            app.example.org 127.0.0.10
        }
        net 0.0.0.0/0 {
            app.example.org 192.0.2.10
        }
        fallthrough
    }
    whoami
}
`;

describe('an external plugin loaded by the CLI', () => {
  it('by path (-plugin ./examples/plugins/split/index.js): answers over UDP and TCP, falls through to whoami', async () => {
    const port = await freePort();
    const conf = path.join(dir, 'Corefile.path');
    writeFileSync(conf, corefile(port));
    const s = await startCli(['-conf', conf, '-plugin', './examples/plugins/split/index.js'], ROOT);
    try {
      expect(s.out()).toContain(`example.org.:${port}`);
      const udp = await query(port, 'app.example.org', 'A');
      sortAndCheck(udp.msg, { rcode: 'NOERROR', aa: true, answer: ['app.example.org. 30 IN A 127.0.0.10'] });
      const tcp = await query(port, 'APP.example.org', 'A', { tcp: true });
      sortAndCheck(tcp.msg, { rcode: 'NOERROR', answer: ['app.example.org. 30 IN A 127.0.0.10'] });
      // not in the view: fallthrough → whoami answers with the client's address
      const other = await query(port, 'other.example.org', 'A');
      expect(other.rcode).toBe(RCODE.NOERROR);
      expect(other.msg.answers).toEqual([]);
      expect(other.msg.additionals?.some((r) => r.type === 'A' && r.data === '127.0.0.1')).toBe(true);
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });

  it('by package name (-plugin typedns-plugin-split) from an app folder with node_modules', async () => {
    const port = await freePort();
    const app = path.join(dir, 'app');
    writeFileSync(path.join(app, 'Corefile'), corefile(port));
    const s = await startCli(['-plugin', 'typedns-plugin-split'], app); // ./Corefile by default
    try {
      const r = await query(port, 'app.example.org', 'A');
      sortAndCheck(r.msg, { rcode: 'NOERROR', aa: true, answer: ['app.example.org. 30 IN A 127.0.0.10'] });
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });

  it('by a -plugins-config file, relative to the file', async () => {
    const port = await freePort();
    const app = path.join(dir, 'app');
    writeFileSync(path.join(app, 'plugins.yaml'), 'plugins:\n  - typedns-plugin-split   # split horizon\n');
    writeFileSync(path.join(app, 'Corefile.cfg'), corefile(port));
    const s = await startCli(['-conf', 'Corefile.cfg', '-plugins-config', 'plugins.yaml'], app);
    try {
      const r = await query(port, 'app.example.org', 'A');
      sortAndCheck(r.msg, { rcode: 'NOERROR', answer: ['app.example.org. 30 IN A 127.0.0.10'] });
    } finally {
      await s.stop();
    }
  });

  it('-plugins shows it at its declared position (after log)', async () => {
    const r = await cliRun(['-plugin', './examples/plugins/split/index.js', '-plugins']);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('  dns.'));
    const names = lines.map((l) => l.trim().split(/\s+/)[0]!.slice(4));
    expect(names.indexOf('split')).toBe(names.indexOf('log') + 1);
    expect(lines.find((l) => l.includes('dns.split'))).toContain('(external: ./examples/plugins/split/index.js)');
    // without -plugin it is not there
    expect((await cliRun(['-plugins'])).stdout).not.toContain('dns.split');
  });

  it('without -plugin, a Corefile using split is a start-up error naming the line', async () => {
    const conf = path.join(dir, 'Corefile.unknown');
    writeFileSync(conf, corefile(await freePort()));
    const r = await cliRun(['-conf', conf]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${conf}:3 - Error during parsing: unknown directive 'split'`);
  });
});

describe('modules that cannot be used are clear start-up errors', () => {
  const cases: Array<[string, (d: string) => string, RegExp]> = [
    ['a module that does not exist', () => './no/such/plugin.js', /could not load plugin module '\.\/no\/such\/plugin\.js'/],
    ['a package that is not installed', () => 'typedns-plugin-nope', /could not load plugin module 'typedns-plugin-nope'/],
    ['a module with a syntax error', (d) => path.join(d, 'syntax.mjs'), /could not load plugin module '.*syntax\.mjs'/],
    ['a module without a plugin definition', (d) => path.join(d, 'notaplugin.mjs'), /notaplugin\.mjs: not a plugin definition/],
    ['a name that clashes with a built-in', (d) => path.join(d, 'clash.mjs'), /plugin name 'whoami' clashes with a built-in plugin/],
    ['a position relative to an unknown plugin', (d) => path.join(d, 'badpos.mjs'), /plugin 'nowhere' is placed relative to 'no_such_plugin', which is not a built-in plugin/],
    ['no position', (d) => path.join(d, 'nopos.mjs'), /plugin 'nopos' must declare position/],
    ['an API range this typedns does not satisfy', (d) => path.join(d, 'oldapi.mjs'), /plugin 'oldapi' wants typedns\/plugin API '\^0\.3', this is 1\./],
  ];
  it.each(cases)('%s', async (_what, spec, msg) => {
    const port = await freePort();
    const conf = path.join(dir, `Corefile.${port}`);
    writeFileSync(conf, `.:${port} {\n bind 127.0.0.1\n whoami\n}\n`);
    const r = await cliRun(['-conf', conf, '-plugin', spec(dir)]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(msg);
    expect(r.stdout).not.toContain('typedns-'); // never got to serving
  });

  it('the same plugin twice clashes with the first one loaded', async () => {
    const r = await cliRun(['-plugin', './examples/plugins/split/index.js', '-plugin', path.join(SPLIT, 'index.js'), '-plugins']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("plugin name 'split' clashes with the plugin loaded from ./examples/plugins/split/index.js");
  });
});

describe('a plugin that throws', () => {
  const boom = responder('boom', (req, w, next) => {
    if (req.name.startsWith('sync.')) throw new Error('sync failure');
    if (req.name.startsWith('async.')) return Promise.reject(new Error('async failure'));
    if (req.name.startsWith('late.')) return new Promise<number>((_, reject) => setTimeout(() => reject(new Error('late failure')), 5));
    return next(req, w);
  });

  it('gets SERVFAIL for that query, counts coredns_panics_total, and the next query is served', async () => {
    const srv = await startServer('.:0 {\n bind 127.0.0.1\n boom\n whoami\n}', { plugins: [boom] });
    const panics = async (): Promise<number> => {
      const m = srv.metrics.registry.getSingleMetric('coredns_panics_total');
      const v = await m!.get();
      return v.values[0]?.value ?? 0;
    };
    try {
      expect(await panics()).toBe(0);
      let n = 0;
      for (const [name, tcp] of [['sync.example.', false], ['async.example.', false], ['late.example.', true], ['sync.example.', true]] as const) {
        const r = await srv.query(name, 'A', { tcp });
        expect(r.rcode, name).toBe(RCODE.SERVFAIL);
        expect(r.msg.questions?.[0]?.name).toBe(name.slice(0, -1));
        expect(await panics()).toBe(++n);
        const ok = await srv.query('fine.example.', 'A', { tcp });
        expect(ok.rcode).toBe(RCODE.NOERROR);
        expect(ok.msg.additionals?.some((a) => a.type === 'A' && a.data === '127.0.0.1')).toBe(true);
      }
      expect(srv.log.lines.some((l) => l.includes('recovered from panic') && l.includes('sync failure'))).toBe(true);
    } finally {
      await srv.close();
    }
  });
});
