// dnstap to a Frame Streams collector on a unix socket: the collector here does the handshake and
// writes what it receives as a dnstap file, which BIND's dnstap-read decodes. Also: a collector that
// is down does not stop the answers, and the stream starts once it comes up.
import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parsePlugin, startServer, waitFor, type TestServer } from '../../src/testing/index.js';
import dnsPacket from 'dns-packet';
import { startUpstream, type Upstream } from '../../test/support/upstream.js';
import { controlFrame, CONTENT_TYPE } from './framestream.js';
import { decodeDnstap } from './decode.js';
import { CLIENT_QUERY, CLIENT_RESPONSE, FORWARDER_QUERY, FORWARDER_RESPONSE, INET, UDP } from './encode.js';
import dnstap from './index.js';

const hasDnstapRead = spawnSync('dnstap-read', ['-h']).error === undefined;
if (!hasDnstapRead) console.warn('dnstap.test.ts: dnstap-read tests skipped: no dnstap-read (Debian bind9-dnsutils)');

/** A Frame Streams collector: handshake, then every data frame kept in `frames`. */
class Collector {
  readonly frames: Buffer[] = [];
  stopped = false;
  private server: net.Server;
  constructor(readonly sockPath: string) {
    this.server = net.createServer((s) => {
      let acc = Buffer.alloc(0);
      let started = false;
      s.on('data', (d: Buffer) => {
        acc = Buffer.concat([acc, d]);
        for (;;) {
          if (acc.length < 4) return;
          const len = acc.readUInt32BE(0);
          if (len === 0) {
            if (acc.length < 8) return;
            const clen = acc.readUInt32BE(4);
            if (acc.length < 8 + clen) return;
            const type = acc.readUInt32BE(8);
            acc = acc.subarray(8 + clen);
            if (type === 4) s.write(controlFrame(1, CONTENT_TYPE)); // READY → ACCEPT
            else if (type === 2) started = true; // START
            else if (type === 3) {
              this.stopped = true; // STOP → FINISH
              s.end(controlFrame(5));
            }
            continue;
          }
          if (acc.length < 4 + len) return;
          if (started) this.frames.push(acc.subarray(4, 4 + len));
          acc = acc.subarray(4 + len);
        }
      });
      s.on('error', () => {});
    });
  }
  listen(): Promise<void> {
    return new Promise((r) => this.server.listen(this.sockPath, r));
  }
  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
  /** The frames as a dnstap file (uni-directional Frame Streams: START, data frames, STOP). */
  writeFile(file: string): void {
    const parts = [controlFrame(2, CONTENT_TYPE)];
    for (const f of this.frames) {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(f.length, 0);
      parts.push(len, f);
    }
    parts.push(controlFrame(3));
    writeFileSync(file, Buffer.concat(parts));
  }
}

const dirs: string[] = [];
const servers: TestServer[] = [];
const collectors: Collector[] = [];
const upstreams: Upstream[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  for (const u of upstreams.splice(0)) await u.stop();
  for (const c of collectors.splice(0)) await c.close();
});
const tmp = (): string => {
  const d = mkdtempSync(path.join(tmpdir(), 'typedns-dnstap-'));
  dirs.push(d);
  return d;
};

describe('dnstap parse', () => {
  it('takes a socket path, unix:// or tcp://, full, identity, version and extra', () => {
    expect(parsePlugin(dnstap, 'dnstap /tmp/tap.sock full {\n identity me\n version v1\n extra x\n}')).toEqual({ endpoint: { path: '/tmp/tap.sock' }, full: true, identity: 'me', version: 'v1', extra: 'x' });
    expect(parsePlugin(dnstap, 'dnstap tcp://127.0.0.1:6000')).toEqual({ endpoint: { host: '127.0.0.1', port: 6000 }, full: false });
    expect(() => parsePlugin(dnstap, 'dnstap tcp://localhost')).toThrow(/invalid dnstap endpoint/);
    expect(() => parsePlugin(dnstap, 'dnstap /tmp/x.sock half')).toThrow(/expected 'full'/);
  });
});

describe('dnstap to a unix socket', () => {
  it.skipIf(!hasDnstapRead)('sends CLIENT_QUERY and CLIENT_RESPONSE with the wire messages that dnstap-read decodes', async () => {
    const dir = tmp();
    const c = new Collector(path.join(dir, 'tap.sock'));
    collectors.push(c);
    await c.listen();
    const srv = await startServer(`.:0 {\n bind 127.0.0.1\n dnstap ${c.sockPath} full {\n  identity tap-test\n }\n whoami\n}\n`);
    servers.push(srv);
    await srv.query('tapped.example.org', 'A');
    await srv.query('tapped.example.org', 'AAAA', { tcp: true });
    await waitFor(() => c.frames.length >= 4, { what: 'four dnstap frames' });
    await srv.close();
    await waitFor(() => c.stopped, { what: 'the STOP frame on shutdown' });
    const file = path.join(dir, 'tap.dnstap');
    c.writeFile(file);
    const short = spawnSync('dnstap-read', [file], { encoding: 'utf8' });
    expect(short.status, short.stderr).toBe(0);
    const lines = short.stdout.trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/ CQ 127\.0\.0\.1:\d+ -> .* UDP \d+b tapped\.example\.org\/IN\/A$/);
    expect(lines[1]).toMatch(/ CR 127\.0\.0\.1:\d+ <- .* UDP \d+b tapped\.example\.org\/IN\/A$/);
    expect(lines[2]).toMatch(/ CQ .* TCP \d+b tapped\.example\.org\/IN\/AAAA$/);
    expect(lines[3]).toMatch(/ CR .* TCP \d+b tapped\.example\.org\/IN\/AAAA$/);
    const yaml = spawnSync('dnstap-read', ['-y', file], { encoding: 'utf8' }).stdout;
    expect(yaml).toMatch(/identity: tap-test/);
    expect(yaml).toMatch(/type: CLIENT_RESPONSE/);
    // the reply as sent: whoami's _udp SRV in the additional section
    expect(yaml).toMatch(/_udp\.tapped\.example\.org\./);
  });

  it('answers while the collector is down, and starts the stream when it comes up', async () => {
    const dir = tmp();
    const sockPath = path.join(dir, 'late.sock');
    const srv = await startServer(`.:0 {\n bind 127.0.0.1\n dnstap ${sockPath}\n whoami\n}\n`);
    servers.push(srv);
    expect((await srv.query('early.example', 'A')).rcode).toBe(0);
    const c = new Collector(sockPath);
    collectors.push(c);
    await c.listen();
    // the queued messages of the early query arrive after the reconnect, then the new ones
    await waitFor(() => c.frames.length >= 2, { timeout: 8000, what: 'the queued frames' });
    expect((await srv.query('late.example', 'A')).rcode).toBe(0);
    await waitFor(() => c.frames.length >= 4, { what: 'the new frames' });
  });
});

describe('dnstap of forward', () => {
  // CoreDNS's forward sends each attempt to the block's dnstap as FORWARDER_QUERY, and its reply as
  // FORWARDER_RESPONSE, with the upstream's address as the response address.
  const setup = async (): Promise<{ c: Collector; up: Upstream; srv: TestServer; dir: string }> => {
    const dir = tmp();
    const c = new Collector(path.join(dir, 'fwd.sock'));
    collectors.push(c);
    await c.listen();
    const up = await startUpstream();
    upstreams.push(up);
    up.answer('fwd.example.org.', 'A', ['fwd.example.org. 30 IN A 192.0.2.7']);
    const srv = await startServer(`.:0 {\n bind 127.0.0.1\n dnstap ${c.sockPath} full\n forward . 127.0.0.1:${up.port}\n}\n`);
    servers.push(srv);
    return { c, up, srv, dir };
  };

  it('sends FORWARDER_QUERY and FORWARDER_RESPONSE with the upstream address, decoded by our reader', async () => {
    const { c, up, srv } = await setup();
    expect((await srv.query('fwd.example.org', 'A')).rcode).toBe(0);
    await waitFor(() => c.frames.length >= 4, { what: 'four dnstap frames' });
    const msgs = c.frames.map((f) => decodeDnstap(f).message!);
    // the client's query, forward's query and its reply, then the reply to the client
    expect(msgs.map((m) => m.type)).toEqual([CLIENT_QUERY, FORWARDER_QUERY, FORWARDER_RESPONSE, CLIENT_RESPONSE]);
    const [, fq, fr] = msgs;
    for (const m of [fq!, fr!]) {
      expect(m.family).toBe(INET);
      expect(m.protocol).toBe(UDP);
      expect([...m.responseAddress!]).toEqual([127, 0, 0, 1]);
      expect(m.responsePort).toBe(up.port);
      expect(m.queryTime).toBeGreaterThan(Date.now() / 1000 - 60);
    }
    expect(dnsPacket.decode(Buffer.from(fq!.queryMessage!)).questions![0]!.name).toBe('fwd.example.org');
    expect(fr!.responseTime!).toBeGreaterThanOrEqual(fr!.queryTime!);
    const answer = dnsPacket.decode(Buffer.from(fr!.responseMessage!)).answers![0]!;
    expect(answer).toMatchObject({ name: 'fwd.example.org', type: 'A', data: '192.0.2.7' });
  });

  it('sends FORWARDER_QUERY without a response for an attempt the upstream does not answer', async () => {
    const { c, up, srv } = await setup();
    up.fault = 'drop';
    expect((await srv.query('fwd.example.org', 'A', { timeout: 8000 })).rcode).toBe(2);
    const typesNow = (): Array<number | undefined> => c.frames.map((f) => decodeDnstap(f).message!.type);
    await waitFor(() => typesNow().includes(CLIENT_RESPONSE), { what: 'the CLIENT_RESPONSE frame' });
    const types = typesNow();
    expect(types[0]).toBe(CLIENT_QUERY);
    expect(types.at(-1)).toBe(CLIENT_RESPONSE);
    expect(types.filter((t) => t === FORWARDER_QUERY).length).toBeGreaterThanOrEqual(1);
    expect(types).not.toContain(FORWARDER_RESPONSE);
  });

  it.skipIf(!hasDnstapRead)('dnstap-read shows the forwarder messages as FQ and FR to the upstream', async () => {
    const { c, up, srv, dir } = await setup();
    expect((await srv.query('fwd.example.org', 'A')).rcode).toBe(0);
    await waitFor(() => c.frames.length >= 4, { what: 'four dnstap frames' });
    await srv.close();
    await waitFor(() => c.stopped, { what: 'the STOP frame on shutdown' });
    const file = path.join(dir, 'fwd.dnstap');
    c.writeFile(file);
    const short = spawnSync('dnstap-read', [file], { encoding: 'utf8' });
    expect(short.status, short.stderr).toBe(0);
    const lines = short.stdout.trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[1]).toMatch(new RegExp(` FQ .*-> 127\\.0\\.0\\.1:${up.port} UDP \\d+b fwd\\.example\\.org/IN/A$`));
    expect(lines[2]).toMatch(new RegExp(` FR .*<- 127\\.0\\.0\\.1:${up.port} UDP \\d+b fwd\\.example\\.org/IN/A$`));
    const yaml = spawnSync('dnstap-read', ['-y', file], { encoding: 'utf8' }).stdout;
    expect(yaml).toMatch(/type: FORWARDER_QUERY/);
    expect(yaml).toMatch(/type: FORWARDER_RESPONSE/);
    expect(yaml).toMatch(/response_port: \d+/);
    expect(yaml).toMatch(/fwd\.example\.org\.\s+30\s+IN\s+A\s+192\.0\.2\.7/);
  });
});
