// deploy/overlays/nodelocal/nodelocal-net.sh — the address and NOTRACK setup of the node-local
// cache — run for real inside a network namespace this test creates (`ip netns add`), with typedns
// serving the overlay's NodeLocal DNSCache Corefile on 169.254.20.10 in that namespace:
//   run: the interface holds the address, the raw-table NOTRACK and filter ACCEPT rules are in
//        place, typedns answers a query sent to 169.254.20.10:53 (forwarding to an upstream
//        typedns on the namespace's loopback) and /health on 169.254.20.10:8080;
//   the sidecar's re-check puts back a rule that was deleted; setup twice adds nothing twice;
//   SIGTERM: the interface and every rule are gone, the process exits 0.
// Needs root, ip (iproute2) and iptables (.ci/run installs them); skips, saying why, otherwise.
// No traffic leaves the namespace: it has only its own loopback and the test's interface.
import { afterAll, describe, expect, it } from 'vitest';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../support/build.js';
import { CLI } from '../support/cli.js';
import { waitFor } from '../../src/testing/wait.js';

const run = promisify(execFile);
const SCRIPT = path.join(ROOT, 'deploy/overlays/nodelocal/nodelocal-net.sh');
const NS = `tdns-nl-${process.pid}`;
const LOCAL_IP = '169.254.20.10';

function unavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root: network namespaces and iptables need root';
  for (const tool of ['ip', 'iptables']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} not found (apt-get install iproute2 iptables)`;
  }
  const add = spawnSync('ip', ['netns', 'add', NS], { encoding: 'utf8' });
  if (add.status !== 0) return `ip netns add failed: ${add.stderr.trim()}`;
  const lo = spawnSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up'], { encoding: 'utf8' });
  if (lo.status !== 0) return `loopback in the namespace: ${lo.stderr.trim()}`;
  const ipt = spawnSync('ip', ['netns', 'exec', NS, 'iptables', '-w', '-t', 'raw', '-S'], { encoding: 'utf8' });
  if (ipt.status !== 0) return `iptables in a network namespace: ${ipt.stderr.trim()}`;
  return undefined;
}
const skipReason = unavailable();
if (skipReason) console.warn(`node-local setup tests skipped: ${skipReason}`);

const children: ChildProcess[] = [];
const dir = mkdtempSync(path.join(tmpdir(), 'typedns-nodelocal-'));
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
  spawnSync('ip', ['netns', 'del', NS]);
  rmSync(dir, { recursive: true, force: true });
});

/** A process inside the namespace; its output collected. */
function inNs(cmd: string[], env: Record<string, string> = {}): { child: ChildProcess; out: () => string; exited: Promise<number | null> } {
  const child = spawn('ip', ['netns', 'exec', NS, ...cmd], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, out: () => out, exited };
}

async function nsRun(...cmd: string[]): Promise<string> {
  const r = await run('ip', ['netns', 'exec', NS, ...cmd], { timeout: 20_000 });
  return r.stdout;
}
const rules = async (): Promise<string[]> =>
  [...(await nsRun('iptables', '-w', '-t', 'raw', '-S')).split('\n'), ...(await nsRun('iptables', '-w', '-t', 'filter', '-S')).split('\n')].filter((l) => l.includes(LOCAL_IP));
const addrs = async (): Promise<string> => (await run('ip', ['-n', NS, '-4', '-o', 'addr', 'show'])).stdout;

/** One DNS query from inside the namespace (the project's test client, run there by node). */
async function nsQuery(name: string, type: string, tcp = false): Promise<{ rcode: number; answers: string[] }> {
  const client = path.join(ROOT, 'dist/src/testing/client.js');
  const js = `import { query } from ${JSON.stringify(client)};
const r = await query(53, ${JSON.stringify(name)}, ${JSON.stringify(type)}, { host: ${JSON.stringify(LOCAL_IP)}, tcp: ${tcp}, timeout: 2000 });
console.log(JSON.stringify({ rcode: r.rcode, answers: (r.msg.answers ?? []).map((a) => String(a.data)) }));`;
  return JSON.parse(await nsRun(process.execPath, '--input-type=module', '-e', js)) as { rcode: number; answers: string[] };
}

describe.skipIf(skipReason !== undefined)(`nodelocal-net.sh in a network namespace${skipReason ? ` (skipped: ${skipReason})` : ''}`, { timeout: 90_000 }, () => {
  let keeper: ReturnType<typeof inNs>;

  it('run: the interface holds 169.254.20.10 and the NOTRACK/ACCEPT rules are in place', async () => {
    expect(await rules()).toEqual([]);
    keeper = inNs(['sh', SCRIPT, 'run'], { LOCAL_IPS: LOCAL_IP, SYNC_SECONDS: '1' });
    await waitFor(() => /ready: nodelocaldns holds/.test(keeper.out()) || keeper.child.exitCode !== null, { timeout: 20_000, what: 'the setup' });
    expect(keeper.out()).toMatch(`ready: nodelocaldns holds ${LOCAL_IP}`);
    expect(await addrs()).toMatch(new RegExp(`nodelocaldns\\s+inet ${LOCAL_IP.replace(/\./g, '\\.')}/32`));
    const r = await rules();
    for (const proto of ['udp', 'tcp']) {
      expect(r).toContain(`-A PREROUTING -d ${LOCAL_IP}/32 -p ${proto} -m ${proto} --dport 53 -j NOTRACK`);
      expect(r).toContain(`-A OUTPUT -s ${LOCAL_IP}/32 -p ${proto} -m ${proto} --sport 53 -j NOTRACK`);
      expect(r).toContain(`-A OUTPUT -d ${LOCAL_IP}/32 -p ${proto} -m ${proto} --dport 53 -j NOTRACK`);
      expect(r).toContain(`-A INPUT -d ${LOCAL_IP}/32 -p ${proto} -m ${proto} --dport 53 -j ACCEPT`);
      expect(r).toContain(`-A OUTPUT -s ${LOCAL_IP}/32 -p ${proto} -m ${proto} --sport 53 -j ACCEPT`);
    }
    expect(r).toContain(`-A PREROUTING -d ${LOCAL_IP}/32 -p tcp -m tcp --dport 8080 -j NOTRACK`);
    expect(r).toHaveLength(13);
  });

  it('typedns with the overlay Corefile answers on 169.254.20.10:53 (UDP and TCP) and /health on :8080', async () => {
    // an upstream on the namespace's loopback stands in for kube-dns-upstream and for the node's resolv.conf
    const up = path.join(dir, 'upstream.Corefile');
    writeFileSync(up, '.:5301 {\n    bind 127.0.0.1\n    hosts {\n        192.0.2.44 web.shop.svc.cluster.local\n        192.0.2.55 example.org\n    }\n}\n');
    const upstream = inNs([process.execPath, CLI, '-conf', up]);
    // the overlay's Corefile, minus the kube-dns address (no traffic to 10.x here) and with the
    // upstream in place of /etc/resolv.conf
    const text = readFileSync(path.join(ROOT, 'deploy/overlays/nodelocal/Corefile'), 'utf8')
      .replaceAll(` ${LOCAL_IP} 10.96.0.10`, ` ${LOCAL_IP}`)
      .replaceAll('forward . /etc/resolv.conf', 'forward . 127.0.0.1:5301');
    expect(text).not.toMatch(/10\.96\.0\.10|resolv\.conf/);
    const conf = path.join(dir, 'Corefile');
    writeFileSync(conf, text);
    const cache = inNs([process.execPath, CLI, '-conf', conf], { KUBE_DNS_UPSTREAM_SERVICE_HOST: '127.0.0.1:5301' });
    await waitFor(() => (/typedns-\d/.test(upstream.out()) && /typedns-\d/.test(cache.out())) || upstream.child.exitCode !== null || cache.child.exitCode !== null, {
      timeout: 20_000,
      what: 'both servers started',
    });
    expect(cache.child.exitCode, cache.out()).toBeNull();
    expect(cache.out()).toContain(LOCAL_IP);
    const a = await nsQuery('web.shop.svc.cluster.local', 'A');
    expect(a).toEqual({ rcode: 0, answers: ['192.0.2.44'] });
    expect(await nsQuery('example.org', 'A', true)).toEqual({ rcode: 0, answers: ['192.0.2.55'] });
    const health = await nsRun(process.execPath, '-e', `fetch('http://${LOCAL_IP}:8080/health').then(async (r) => console.log(r.status, await r.text()))`);
    expect(health.trim()).toBe('200 OK');
  });

  it('the sidecar re-check restores a deleted rule; setup again adds nothing twice', async () => {
    const rule = ['-t', 'raw', '-D', 'PREROUTING', '-d', `${LOCAL_IP}/32`, '-p', 'udp', '-m', 'udp', '--dport', '53', '-j', 'NOTRACK'];
    // iptables -D fails when the rule is not there: its success shows the rule was taken away
    // (the sidecar's re-check may put it back before the rules could be listed here)
    await nsRun('iptables', '-w', ...rule);
    await waitFor(async () => (await rules()).length === 13, { timeout: 20_000, what: 'the deleted rule restored' });
    await run('ip', ['netns', 'exec', NS, 'sh', SCRIPT, 'setup'], { env: { ...process.env, LOCAL_IPS: LOCAL_IP } });
    expect(await rules()).toHaveLength(13);
    expect((await addrs()).match(/inet 169\.254\.20\.10\//g)).toHaveLength(1);
  });

  it('SIGTERM: the interface and every rule are removed, and the process exits 0', async () => {
    keeper.child.kill('SIGTERM');
    expect(await keeper.exited).toBe(0);
    expect(keeper.out()).toContain('removed nodelocaldns and its rules');
    expect(await rules()).toEqual([]);
    expect(await addrs()).not.toContain(LOCAL_IP);
    expect(spawnSync('ip', ['-n', NS, 'link', 'show', 'nodelocaldns']).status).not.toBe(0);
  });
});
