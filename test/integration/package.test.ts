// typedns as a plugin author gets it (docs/PLUGINS.md, section 0): `npm pack` of this repository,
// `npm install` of the tarball into an empty folder, and the guide's own hello plugin, Corefile and
// commands, run through the package's `typedns` command as npm links it (node_modules/.bin, a
// symlink), through npx and through a global-style link; the guide's plugin as TypeScript checked
// by tsc against the installed declarations (moduleResolution node16 and bundler) and tested with
// typedns/testing under vitest; and the native UDP module shipped in the package when it was built
// for another Node (its stamp) or does not load.
//
// Slow (one npm install, ~6 s from the npm cache): everything shares one install. npm fetches only
// what its cache lacks, from the configured registry; the servers bind 127.0.0.1 only.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, query, waitFor } from '../../src/testing/index.js';
import { ensureBuilt, ROOT } from '../support/build.js';
import { hasTool as has } from '../support/tools.js';

const run = promisify(execFile);
const NPM = has('npm', '--version');
const NPX = has('npx', '--version');
const DIG = has('dig', '-v');
// test/support/global-setup.ts compiled the native module unless this machine has no compiler
const NATIVE = existsSync(path.join(ROOT, 'build/typedns_udp.node'));

/** The guide's section 0: its hello plugin (```js), Corefile (```corefile) and commands (```sh). */
function guide(): { plugin: string; corefile: string; commands: string[] } {
  const md = readFileSync(path.join(ROOT, 'docs/PLUGINS.md'), 'utf8');
  const section = md.slice(md.indexOf('## 0.'), md.indexOf('## 1.'));
  const block = (lang: string): string => {
    const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(section);
    if (m === null) throw new Error(`docs/PLUGINS.md section 0 has no \`\`\`${lang} block`);
    return m[1]!;
  };
  return { plugin: block('js'), corefile: block('corefile'), commands: block('sh').trim().split('\n') };
}

/** npm's environment for the children: none of the calling npm's run-script variables (package, lifecycle, prefixes). */
function npmEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^npm_/i.test(k) && !/^npm_config_(cache|registry|userconfig)$/i.test(k)) delete env[k];
  return env;
}

/** The children's environment: the node running the tests first on PATH (the bin's `#!/usr/bin/env node`). */
function childEnv(extraPath: string[] = []): NodeJS.ProcessEnv {
  const env = npmEnv();
  delete env.TYPEDNS_NATIVE_UDP;
  env.PATH = [...extraPath, path.dirname(process.execPath), env.PATH ?? ''].join(path.delimiter);
  return env;
}

let work = '';
let app = ''; // the author's folder: npm install of the tarball, hello.mjs, Corefile
let installed = ''; // app/node_modules/typedns
let port = 0;
const docs = guide();

beforeAll(async () => {
  if (!NPM) return;
  await ensureBuilt();
  work = mkdtempSync(path.join(tmpdir(), 'typedns-package-'));
  app = path.join(work, 'app');
  mkdirSync(app);
  // No lifecycle scripts: a `prepare`/`prepack` script must not rebuild dist/ under the other tests.
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT, env: npmEnv(), timeout: 60_000 });
  const tarball = path.join(work, (JSON.parse(packed.stdout) as Array<{ filename: string }>)[0]!.filename);
  // The guide's first command, from the tarball (it says so for a checkout).
  expect(docs.commands[0]).toBe('npm install typedns');
  await run('npm', ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', tarball], { cwd: app, env: npmEnv(), timeout: 150_000 });
  installed = path.join(app, 'node_modules/typedns');
  port = await freePort();
  writeFileSync(path.join(app, 'hello.mjs'), docs.plugin);
  writeFileSync(path.join(app, 'Corefile'), docs.corefile.replaceAll('1053', String(port)));
}, 180_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
}, 60_000);

interface Served {
  out(): string;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** Start a long-running command and wait for the last line of the start banner (`udp: …`). */
async function serve(cmd: string, args: string[], cwd = app): Promise<Served> {
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: childEnv() });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let gone = false;
  void exited.then(() => (gone = true));
  await waitFor(() => gone || /^udp: .*\n/m.test(out), { timeout: 20_000, what: `${cmd} to start: ${out}` });
  if (gone) throw new Error(`${cmd} ${args.join(' ')} exited: ${out}`);
  return {
    out: () => out,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** The hello plugin's answer for hi.hello.test, through the project's DNS client. */
async function helloAnswer(): Promise<string[]> {
  const r = await query(port, 'hi.hello.test', 'A');
  return (r.msg.answers ?? []).map((a) => `${a.name} ${a.type} ${a.type === 'A' ? a.data : '?'}`);
}

/** A command run to its exit. */
async function exec(cmd: string, args: string[], cwd = app, extraPath: string[] = [], timeout = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(cmd, args, { cwd, env: childEnv(extraPath), timeout });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe.skipIf(!NPM)('the packed package, installed into an empty folder', () => {
  it('holds the built CLI, the native sources and build script, the stamp beside the module; no tests, no install scripts', () => {
    for (const f of ['dist/src/bin.js', 'dist/src/cli.js', 'dist/src/plugin/api.d.ts', 'dist/src/testing/index.d.ts', 'dist/plugins/order.js', 'native/udp.c', 'scripts/build-native.mjs', 'Corefile.example']) {
      expect(existsSync(path.join(installed, f)), f).toBe(true);
    }
    if (NATIVE) for (const f of ['build/typedns_udp.node', 'build/typedns_udp.json']) expect(existsSync(path.join(installed, f)), f).toBe(true);
    const tests: string[] = [];
    for (const top of ['src', 'plugins', 'dist']) {
      const walk = (d: string): void => {
        for (const e of readdirSync(d, { withFileTypes: true })) {
          if (e.isDirectory()) walk(path.join(d, e.name));
          else if (/\.test\.(ts|js)$/.test(e.name)) tests.push(path.join(d, e.name));
        }
      };
      walk(path.join(installed, top));
    }
    expect(tests).toEqual([]);
    const pkg = JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8')) as { scripts?: Record<string, string>; bin: Record<string, string> };
    for (const s of ['preinstall', 'install', 'postinstall', 'prepare']) expect(pkg.scripts?.[s], s).toBeUndefined();
    expect(pkg.bin.typedns).toBe('dist/src/bin.js');
    // the repository's lockfile never names a registry host
    expect(readFileSync(path.join(ROOT, '.npmrc'), 'utf8')).toMatch(/^omit-lockfile-registry-resolved=true$/m);
  });

  it("the guide's commands: typedns -plugin ./hello.mjs through node_modules/.bin (npm's symlink) serves the plugin; dig gets its answer", async () => {
    expect(docs.commands).toHaveLength(3);
    const [, start, dig] = docs.commands as [string, string, string];
    expect(start).toMatch(/^npx typedns /);
    const bin = path.join(app, 'node_modules/.bin/typedns');
    expect(lstatSync(bin).isSymbolicLink()).toBe(true);
    const s = await serve(bin, start.split(/\s+/).slice(2));
    try {
      expect(s.out()).toContain(`hello.test.:${port} on 127.0.0.1`);
      expect(s.out()).toMatch(/^typedns-0\.1\.0$/m);
      expect(await helloAnswer()).toEqual(['hi.hello.test A 192.0.2.53']);
      if (DIG) {
        const args = dig.split(/\s+/).slice(1).map((a) => (a === '1053' ? String(port) : a));
        const r = await exec('dig', [...args, '+tries=1', '+time=2']);
        expect(r.stdout.trim()).toBe('192.0.2.53');
      } else {
        console.warn('package.test.ts: dig not installed, the answer was checked with the project DNS client only');
      }
    } finally {
      expect(await s.stop()).toBe(0);
    }
    expect(s.out()).toContain('SIGTERM: shutting down');
  }, 60_000);

  it.skipIf(!NPX)('npx typedns -version', async () => {
    // --offline: never download a package; typedns must come from the folder's node_modules
    const r = await exec('npx', ['--offline', 'typedns', '-version']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^typedns-0\.1\.0\n/);
  });

  it('the bin runs through a global-style link on PATH, by absolute and relative path, and the CLI module directly', async () => {
    // npm install -g links <prefix>/bin/typedns to the bin inside the package: a symlink elsewhere
    const globalBin = path.join(work, 'global/bin');
    mkdirSync(globalBin, { recursive: true });
    symlinkSync(path.relative(globalBin, path.join(installed, 'dist/src/bin.js')), path.join(globalBin, 'typedns'));
    const runs: Array<[string, string[], string[]]> = [
      ['typedns', ['-version'], [globalBin]],
      [path.join(installed, 'dist/src/bin.js'), ['-version'], []],
      ['./node_modules/.bin/typedns', ['-version'], []],
      [process.execPath, ['node_modules/typedns/dist/src/bin.js', '-version'], []],
      [process.execPath, ['node_modules/typedns/dist/src/cli.js', '-version'], []],
      [process.execPath, ['node_modules/typedns/dist/src/cli', '-version'], []],
      [process.execPath, ['node_modules/.bin/typedns', '-version'], []],
    ];
    for (const [cmd, args, extra] of runs) {
      const r = await exec(cmd, args, app, extra);
      expect({ cmd, args, code: r.code, stdout: r.stdout.split('\n')[0] }).toEqual({ cmd, args, code: 0, stdout: 'typedns-0.1.0' });
    }
  }, 60_000);

  it('a bin that cannot start says why and exits 1 (a dependency missing from the install)', async () => {
    const pino = path.join(app, 'node_modules/pino');
    renameSync(pino, `${pino}.away`);
    try {
      const r = await exec(path.join(app, 'node_modules/.bin/typedns'), ['-version']);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^typedns: cannot start: .*'pino'/);
    } finally {
      renameSync(`${pino}.away`, pino);
    }
  });

  describe('a TypeScript plugin project', () => {
    let ts = '';
    beforeAll(() => {
      if (!installed) return;
      // app/ts: its own package.json ("type": "module"), typedns resolved from app/node_modules
      ts = path.join(app, 'ts');
      mkdirSync(ts, { recursive: true });
      writeFileSync(path.join(ts, 'package.json'), '{ "private": true, "type": "module" }\n');
      // the guide: "the same code is a valid hello.ts"
      writeFileSync(path.join(ts, 'hello.ts'), docs.plugin);
      writeFileSync(
        path.join(ts, 'checks.ts'),
        `import hello from './hello.js';
import { definePlugin, RCODE, type PluginDefinition, type Request } from 'typedns/plugin';
import { startServer, type TestServer } from 'typedns/testing';

// parse's return type is setup's config type
export const typed: PluginDefinition<{ address: string }> = hello;
// @ts-expect-error the config is { address: string }, not a number
export const wrong: PluginDefinition<number> = hello;

export const other = definePlugin({
  name: 'other',
  api: '^1',
  position: { after: 'log' },
  parse: () => 5,
  setup(n) {
    // @ts-expect-error the config is a number
    n.toUpperCase();
    return {
      serve(req: Request, w, next) {
        // @ts-expect-error a reply is a Message or wire bytes
        w.write(42);
        return req.qtype === 1 ? RCODE.NOERROR : next(req, w);
      },
    };
  },
});

export const start = (corefile: string): Promise<TestServer> => startServer(corefile, { plugins: [hello] });
`,
      );
    });

    it.each([
      // the full check, declaration files included, once; bundler set-ups usually skip them
      ['node16', 'node16', false],
      ['bundler', 'esnext', true],
    ])('type-checks with tsc against the installed declarations (moduleResolution %s)', async (resolution, module, skipLibCheck) => {
      const cfg = `tsconfig.${resolution}.json`;
      const options = { strict: true, target: 'es2022', module, moduleResolution: resolution, noEmit: true, skipLibCheck, types: ['node'] };
      // broken.ts: the checks do check (a config used as the wrong type is an error), and nothing else is
      writeFileSync(path.join(ts, 'broken.ts'), `import hello from './hello.js';\nexport const n: number = hello.parse(null as never, []).address;\n`);
      writeFileSync(path.join(ts, cfg), JSON.stringify({ compilerOptions: options, files: ['hello.ts', 'checks.ts', 'broken.ts'] }));
      const r = await exec(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', cfg], ts, [], 150_000);
      expect(r.stderr).toBe('');
      expect(r.stdout.trim()).toBe("broken.ts(2,14): error TS2322: Type 'string' is not assignable to type 'number'.");
      expect(r.code).toBe(2);
    }, 180_000);

    it("typedns/testing runs the plugin under the project's vitest", async () => {
      // the author's own vitest: app/node_modules/vitest (this repository's copy, linked)
      const vitest = path.join(app, 'node_modules/vitest');
      if (!existsSync(vitest)) symlinkSync(path.join(ROOT, 'node_modules/vitest'), vitest, 'dir');
      writeFileSync(
        path.join(ts, 'hello.test.ts'),
        `import { expect, it } from 'vitest';
import { sortAndCheck, startServer } from 'typedns/testing';
import hello from '../hello.mjs';

it('answers A with its address', async () => {
  const srv = await startServer('hello.test:0 {\\n bind 127.0.0.1\\n hello 192.0.2.53\\n}\\n', { plugins: [hello] });
  try {
    const r = await srv.query('hi.hello.test', 'A');
    sortAndCheck(r.msg, { rcode: 'NOERROR', aa: true, answer: ['hi.hello.test. 60 IN A 192.0.2.53'] });
    expect(r.msg.answers).toHaveLength(1);
  } finally {
    await srv.close();
  }
});
`,
      );
      const env = Object.fromEntries(Object.entries(childEnv()).filter(([k]) => !/^VITEST|^TEST$/.test(k)));
      const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
        const c = spawn(process.execPath, [path.join(vitest, 'vitest.mjs'), 'run', '--pool', 'threads', 'hello.test.ts'], { cwd: ts, env, stdio: ['ignore', 'pipe', 'pipe'] });
        children.push(c);
        let out = '';
        c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
        c.stderr!.on('data', (d: Buffer) => (out += d.toString()));
        c.once('exit', (code) => resolve({ code, out }));
      });
      expect(r.out).toMatch(/1 passed/);
      expect(r.code).toBe(0);
    }, 60_000);
  });

  describe('the native UDP module in the package, on a Node it was not built for', () => {
    let build = '';
    let stamp = '';
    const here = { node: process.versions.node, modules: process.versions.modules, platform: process.platform, arch: process.arch };
    beforeAll(() => {
      build = path.join(installed, 'build');
      stamp = path.join(build, 'typedns_udp.json');
      mkdirSync(build, { recursive: true });
    });

    async function banner(): Promise<string> {
      const s = await serve(path.join(app, 'node_modules/.bin/typedns'), ['-plugin', './hello.mjs', '-conf', 'Corefile']);
      try {
        expect(await helloAnswer()).toEqual(['hi.hello.test A 192.0.2.53']); // served either way
        return /^udp: .*$/m.exec(s.out())![0];
      } finally {
        expect(await s.stop()).toBe(0);
      }
    }

    it.skipIf(!NATIVE)('a module whose stamp names another Node ABI is not loaded: node:dgram, and the banner says why', async () => {
      writeFileSync(stamp, JSON.stringify({ ...here, node: '99.0.0', modules: '999' }));
      const b = await banner();
      expect(b).toBe(
        `udp: node:dgram (build/typedns_udp.node was built for Node ABI 999 ${here.platform}/${here.arch} (Node 99.0.0), ` +
          `this is Node ABI ${here.modules} ${here.platform}/${here.arch} (Node ${here.node}); run \`npx typedns build-native\`)`,
      );
      writeFileSync(stamp, JSON.stringify({ ...here, arch: 'mips' }));
      expect(await banner()).toMatch(/^udp: node:dgram \(build\/typedns_udp\.node was built for Node ABI \d+ \w+\/mips /);
      rmSync(stamp);
      expect(await banner()).toMatch(/^udp: node:dgram \(build\/typedns_udp\.node has no readable build stamp/);
    }, 60_000);

    it('a module that throws when loaded (as one built for another Node does) falls back to node:dgram, saying why', async () => {
      // a stub: not a shared object at all, so dlopen throws
      writeFileSync(path.join(build, 'typedns_udp.node'), 'not a shared object\n');
      chmodSync(path.join(build, 'typedns_udp.node'), 0o755);
      writeFileSync(stamp, JSON.stringify(here));
      expect(await banner()).toMatch(/^udp: node:dgram \(build\/typedns_udp\.node did not load: .+; run `npx typedns build-native`\)$/);
    }, 60_000);

    it.skipIf(!NATIVE)('npx typedns build-native compiles it for this Node: the banner says native again', async () => {
      const r = await exec(path.join(app, 'node_modules/.bin/typedns'), ['build-native']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`typedns: built build/typedns_udp.node for Node ${here.node} (ABI ${here.modules}) ${here.platform}/${here.arch}`);
      expect(JSON.parse(readFileSync(stamp, 'utf8'))).toMatchObject(here);
      expect(await banner()).toBe('udp: native recvmmsg/sendmmsg batches');
    }, 90_000);

    it.skipIf(NATIVE)('without a C compiler, build-native says why and exits 1', async () => {
      const r = await exec(path.join(app, 'node_modules/.bin/typedns'), ['build-native']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/native UDP not built \(/);
    });
  });
});
