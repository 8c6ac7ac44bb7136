#!/usr/bin/env node
// Compiles native/udp.c (the batch UDP socket: recvmmsg/sendmmsg) into build/typedns_udp.node
// with the system C compiler and the headers of the Node.js running this script. No node-gyp:
// one source file, Node-API only, nothing downloaded.
//
// Beside the module it writes build/typedns_udp.json, the Node ABI, platform and architecture it
// was built for: the server loads the module only on a matching Node (src/server/udp-native.ts),
// so a package packed on one Node and installed on another falls back to node:dgram instead of
// loading it blindly; `typedns build-native` (this script, --strict) rebuilds it there.
//
// Not fatal: without a compiler or headers (or off Linux) it says why and exits 0, and the
// server answers UDP with node:dgram instead. `--strict` exits 1.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'native/udp.c');
const out = path.join(root, 'build/typedns_udp.node');
const stampFile = path.join(root, 'build/typedns_udp.json');
// compiled and tried under a temporary name: a running server's module is replaced only by a good one
const tmp = path.join(root, `build/typedns_udp.${process.pid}.node`);
const strict = process.argv.includes('--strict');

function skip(why) {
  // never leave an older build to be loaded
  for (const f of [out, stampFile, tmp]) rmSync(f, { force: true });
  process.stderr.write(`typedns: native UDP not built (${why}); UDP is served with node:dgram\n`);
  process.exit(strict ? 1 : 0);
}

if (process.platform !== 'linux') skip(`recvmmsg/sendmmsg are Linux system calls, this is ${process.platform}`);
const candidates = [path.resolve(path.dirname(process.execPath), '../include/node')];
if (process.env.npm_config_nodedir) candidates.push(path.join(process.env.npm_config_nodedir, 'include/node'));
const include = candidates.find((d) => existsSync(path.join(d, 'node_api.h')) && existsSync(path.join(d, 'uv.h')));
if (include === undefined) skip(`no Node.js headers (node_api.h, uv.h) in ${candidates.join(', ')}`);
mkdirSync(path.dirname(out), { recursive: true });
const args = ['-O2', '-fPIC', '-shared', '-Wall', '-Wextra', '-DNODE_GYP_MODULE_NAME=typedns_udp', '-I', include, src, '-o', tmp];
// $CC, else the first of cc, gcc, clang that exists
const compilers = process.env.CC ? [process.env.CC] : ['cc', 'gcc', 'clang'];
const tried = [];
for (const cc of compilers) {
  const r = spawnSync(cc, args, { encoding: 'utf8' });
  if (r.error) {
    tried.push(`${cc}: ${r.error.code ?? r.error.message}`);
    continue;
  }
  if (r.status !== 0) skip(`${cc} ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  if (r.stderr.trim() !== '') process.stderr.write(r.stderr);
  install();
  process.exit(0);
}
skip(`no C compiler (${tried.join(', ')})`);

/** Load the new module in this Node (the one it is for), then put it and its stamp in place. */
function install() {
  const m = { exports: {} };
  try {
    process.dlopen(m, tmp);
  } catch (e) {
    skip(`the module built does not load: ${e.message}`);
  }
  if (typeof m.exports.open !== 'function') skip('the module built has no open()');
  const stamp = { node: process.versions.node, modules: process.versions.modules, napi: process.versions.napi, platform: process.platform, arch: process.arch };
  rmSync(stampFile, { force: true }); // between the two renames the module is not loaded (no stamp)
  renameSync(tmp, out);
  writeFileSync(`${stampFile}.${process.pid}`, `${JSON.stringify(stamp, null, 2)}\n`);
  renameSync(`${stampFile}.${process.pid}`, stampFile);
  process.stdout.write(`typedns: built build/typedns_udp.node for Node ${stamp.node} (ABI ${stamp.modules}) ${stamp.platform}/${stamp.arch}\n`);
}
