// -workers N with the kubernetes plugin shares one copy of the cluster: the leader's memfd is
// opened by the other workers as /proc/<leader pid>/fd/<fd> (native/udp.c shmCreate/shmOpen). The
// container image runs node as an unprivileged user with a file capability (Dockerfile: setcap
// cap_net_bind_service on node, USER 65532). Here both sides run that way: a node binary with the
// image's capability, as user 65534, the way the primary forks its workers (the same binary). The
// kernel lets a same-user process open another's fds when the opener's permitted capabilities
// include the target's, so a worker of the same binary maps the segment; a process without the
// capability (a plain node) is refused — which is why the workers must be forks of the one binary.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeUdp } from '../../src/server/udp-native.js';

const commandExists = (tool: string): boolean => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const native = nativeUdp();
const modulePath = path.resolve('build/typedns_udp.node');
const why =
  process.getuid?.() !== 0
    ? 'needs root (to set a file capability and change user)'
    : !commandExists('setcap')
      ? 'no setcap (libcap2-bin)'
      : !commandExists('setpriv')
        ? 'no setpriv (util-linux)'
        : native?.shmCreate === undefined
          ? 'the native module (with shared memory) is not built'
          : '';
if (why !== '') console.warn(`shm-image-user: skipped: ${why}`);

const LEADER = `
const m = require(process.argv[2]);
const [fd, ab] = m.shmCreate(4096);
new Uint8Array(ab).set([0x74, 0x64, 0x6e, 0x73]);
process.stdout.write(JSON.stringify({ pid: process.pid, fd }) + '\\n');
setInterval(() => {}, 1000); // kept alive (and its fd open) until killed
`;
const FOLLOWER = `
const m = require(process.argv[2]);
try {
  const ab = m.shmOpen(process.argv[3]);
  process.stdout.write('read ' + Buffer.from(ab, 0, 4).toString('latin1') + '\\n');
} catch (e) {
  process.stdout.write('error ' + e.message + '\\n');
}
`;

/** Runs `node script args` as user 65534 (setpriv); resolves with the first line it prints. */
function asNobody(node: string, script: string, args: string[]): { line: Promise<string>; kill: () => void } {
  const child = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', node, script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const line = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    child.once('exit', (code) => reject(new Error(`exited ${code} before a line: ${err.trim()}`)));
  });
  return { line, kill: () => child.kill('SIGKILL') };
}

describe.skipIf(why !== '')('shared memory segment under the image user and capability', () => {
  let dir = '';
  let capNode = '';
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'typedns-shm-user-'));
    chmodSync(dir, 0o755);
    capNode = path.join(dir, 'node');
    copyFileSync(process.execPath, capNode);
    chmodSync(capNode, 0o755);
    const r = spawn('setcap', ['cap_net_bind_service=+ep', capNode]);
    return new Promise<void>((resolve, reject) => r.once('exit', (c) => (c === 0 ? resolve() : reject(new Error(`setcap exited ${c}`)))));
  });
  afterAll(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('a worker of the same binary maps the leader segment; a process without the capability is refused', async () => {
    writeFileSync(path.join(dir, 'leader.cjs'), LEADER);
    writeFileSync(path.join(dir, 'follower.cjs'), FOLLOWER);
    const leader = asNobody(capNode, path.join(dir, 'leader.cjs'), [modulePath]);
    try {
      const { pid, fd } = JSON.parse(await leader.line) as { pid: number; fd: number };
      const segment = `/proc/${pid}/fd/${fd}`;
      const same = await asNobody(capNode, path.join(dir, 'follower.cjs'), [modulePath, segment]).line;
      expect(same).toBe('read tdns');
      const plain = await asNobody(process.execPath, path.join(dir, 'follower.cjs'), [modulePath, segment]).line;
      expect(plain).toMatch(/^error .*EACCES/);
    } finally {
      leader.kill();
    }
  }, 30_000);
});
