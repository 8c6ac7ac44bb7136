// DNS over TLS (RFC 7858) through real clients (kdig, dig +tls) and a node:tls client: answers,
// pipelining with out-of-order replies, EDNS(0) padding, idle timeout, connection cap, cap per
// client address, the bounds on replies queued for a client that does not read them (high-water
// mark, byte cap, write timeout), client certificates under client_auth, and the transport the
// plugins see.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import tls from 'node:tls';
import dnsPacket, { type DecodedPacket } from 'dns-packet';
import { buildQuery, freePort, query, responder, startServer, waitFor, type TestServer } from '../../src/testing/index.js';
import { hasOpenssl, makeTlsPki, type TlsPki } from '../support/tls-pki.js';
import { digMinor, hasTool, runTool } from '../support/tools.js';

const hasKdig = hasTool('kdig', '--version');
const hasDigTls = (digMinor ?? 0) >= 18;
if (!hasOpenssl) console.warn('dot.test.ts skipped: no openssl to make certificates');
if (!hasKdig) console.warn('dot.test.ts: kdig tests skipped: no kdig (Debian knot-dnsutils)');
if (!hasDigTls) console.warn('dot.test.ts: dig +tls tests skipped: no dig 9.18 or later (Debian bind9-dnsutils)');

/** A DoT connection that sends framed queries and collects framed replies in arrival order. */
class DotClient {
  readonly replies: Buffer[] = [];
  private pending = Buffer.alloc(0);
  closed = false;
  constructor(readonly sock: tls.TLSSocket) {
    sock.on('data', (d: Buffer) => {
      this.pending = Buffer.concat([this.pending, d]);
      while (this.pending.length >= 2 && this.pending.length >= 2 + this.pending.readUInt16BE(0)) {
        const n = this.pending.readUInt16BE(0);
        this.replies.push(this.pending.subarray(2, 2 + n));
        this.pending = this.pending.subarray(2 + n);
      }
    });
    sock.on('close', () => (this.closed = true));
    sock.on('error', () => {});
  }

  static connect(port: number, o: tls.ConnectionOptions = {}): Promise<DotClient> {
    return new Promise((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, ...o }, () => resolve(new DotClient(s)));
      s.once('error', reject);
    });
  }

  send(...queries: Buffer[]): void {
    this.sock.write(Buffer.concat(queries.map((q) => Buffer.concat([Buffer.from([q.length >> 8, q.length & 0xff]), q]))));
  }

  /** Whether the server keeps the connection once the handshake is done (a refused client certificate closes it). */
  async answers(q: Buffer): Promise<boolean> {
    this.send(q);
    await waitFor(() => this.closed || this.replies.length > 0, { what: 'a reply or the close' });
    return this.replies.length > 0;
  }

  close(): void {
    this.sock.destroy();
  }
}

const portOf = (s: TestServer, scheme: string): number => s.server.addresses().find((a) => a.scheme === scheme)!.port;

describe.skipIf(!hasOpenssl)('DNS over TLS', () => {
  let pki: TlsPki;
  let srv: TestServer;
  let port: number;
  let release: (() => void) | undefined;

  beforeAll(async () => {
    pki = makeTlsPki();
    // slow.example waits until the test releases it: a later query on the same connection overtakes it
    const slow = responder('slow', (req, w, next) => {
      if (req.name !== 'slow.example.') return next(req, w);
      return new Promise<number>((resolve) => {
        release = () => resolve(next(req, w) as number);
      });
    });
    srv = await startServer(
      `tls://.:0 {\n bind 127.0.0.1\n tls ${pki.serverCertFile} ${pki.serverKeyFile}\n prometheus 127.0.0.1:0\n slow\n whoami\n}\n` +
        `.:0 {\n bind 127.0.0.1\n whoami\n}\n`,
      { plugins: [slow], tcp: { idleTimeout: 1500, maxConnections: 8 } },
    );
    port = portOf(srv, 'tls');
  });
  afterAll(() => srv?.close());

  it.skipIf(!hasKdig)('answers kdig +tls, verified against the test CA', async () => {
    const r = await runTool('kdig', [`@127.0.0.1`, '-p', String(port), '+tls-ca=' + pki.caFile, '+tls-hostname=127.0.0.1', 'example.org', 'A']);
    expect(r.code, r.err + r.out).toBe(0);
    expect(r.out).toMatch(/status: NOERROR/);
    expect(r.out).toMatch(/TLS session \(TLS1\.[23]\)/);
    // whoami: the client's address and a _tcp SRV (DoT is TCP to the plugins, as CoreDNS's request.Proto)
    expect(r.out).toMatch(/example\.org\.\s+0\s+IN\s+A\s+127\.0\.0\.1/);
    expect(r.out).toMatch(/_tcp\.example\.org\.\s+0\s+IN\s+SRV/);
  });

  it.skipIf(!hasKdig)('kdig refuses the server when it trusts another CA', async () => {
    const r = await runTool('kdig', [`@127.0.0.1`, '-p', String(port), '+tls-ca=' + `${pki.dir}/other-ca.crt`, '+tls-hostname=127.0.0.1', 'example.org', 'A']);
    expect(r.out + r.err).not.toMatch(/status: NOERROR/);
  });

  it.skipIf(!hasDigTls)('answers dig +tls', async () => {
    const r = await runTool('dig', [`@127.0.0.1`, '-p', String(port), '+tls', `+tls-ca=${pki.caFile}`, '+tls-hostname=127.0.0.1', 'example.org', 'A']);
    expect(r.code, r.err + r.out).toBe(0);
    expect(r.out).toMatch(/status: NOERROR/);
    expect(r.out).toMatch(/\(TLS\)/);
    expect(r.out).toMatch(/_tcp\.example\.org\.\s+0\s+IN\s+SRV/);
  });

  it('answers pipelined queries as each is ready: a later fast query overtakes an earlier slow one', async () => {
    const c = await DotClient.connect(port, { ca: pki.caPem });
    try {
      const slowQ = buildQuery('slow.example', 'A', { id: 1 });
      const fastQ = buildQuery('fast.example', 'A', { id: 2 });
      c.send(slowQ, fastQ);
      await waitFor(() => c.replies.length === 1 && release !== undefined, { what: 'the fast reply' });
      expect(c.replies[0]!.readUInt16BE(0)).toBe(2);
      release!();
      await waitFor(() => c.replies.length === 2, { what: 'the slow reply' });
      expect(c.replies[1]!.readUInt16BE(0)).toBe(1);
    } finally {
      c.close();
    }
  });

  it('pads a reply to a multiple of 468 bytes when the query carries the padding option, and only then', async () => {
    const c = await DotClient.connect(port, { ca: pki.caPem });
    try {
      const padded = dnsPacket.encode({
        type: 'query', id: 7, flags: dnsPacket.RECURSION_DESIRED,
        questions: [{ type: 'A', name: 'pad.example' }],
        additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, options: [{ code: 12, data: Buffer.alloc(20) }] } as never],
      });
      const plain = buildQuery('nopad.example', 'A', { id: 8, edns: true });
      c.send(padded, plain);
      await waitFor(() => c.replies.length === 2, { what: 'two replies' });
      const byId = new Map(c.replies.map((r) => [r.readUInt16BE(0), r]));
      const p = byId.get(7)!;
      expect(p.length % 468).toBe(0);
      const opt = (dnsPacket.decode(p) as DecodedPacket).additionals!.find((a) => a.type === 'OPT') as unknown as { options: Array<{ code: number }> };
      expect(opt.options.map((o) => o.code)).toContain(12);
      expect(byId.get(8)!.length).toBeLessThan(468);
    } finally {
      c.close();
    }
  });

  it('closes a connection idle for longer than the idle timeout', async () => {
    const c = await DotClient.connect(port, { ca: pki.caPem });
    expect(await c.answers(buildQuery('idle.example', 'A'))).toBe(true);
    const start = Date.now();
    await waitFor(() => c.closed, { timeout: 8000, what: 'the idle connection to close' });
    expect(Date.now() - start).toBeGreaterThanOrEqual(1000);
  });

  it('holds the connection cap while plain DNS keeps answering', async () => {
    const socks: tls.TLSSocket[] = [];
    for (let i = 0; i < 30; i++) {
      const s = tls.connect({ host: '127.0.0.1', port, ca: pki.caPem });
      s.on('error', () => {});
      socks.push(s);
    }
    try {
      await waitFor(() => srv.server.tcpConnections() >= 8, { what: 'the cap to fill' });
      expect(srv.server.tcpConnections()).toBeLessThanOrEqual(8);
      const r = await query(portOf(srv, 'dns'), 'during.flood.example', 'A', { host: '127.0.0.1' });
      expect(r.rcode).toBe(0);
    } finally {
      for (const s of socks) s.destroy();
    }
    await waitFor(() => srv.server.tcpConnections() === 0, { what: 'the connections to go' });
  });

  it('closes connections past the per-client cap, before their handshake; another address is still served', async () => {
    const capped = await startServer(`tls://.:0 {\n bind 127.0.0.1\n tls ${pki.serverCertFile} ${pki.serverKeyFile}\n whoami\n}\n`, { tcp: { maxPerClient: 3, maxConnections: 20 } });
    const p = portOf(capped, 'tls');
    const socks: tls.TLSSocket[] = [];
    try {
      let up = 0;
      let closed = 0;
      for (let i = 0; i < 6; i++) {
        const s = tls.connect({ host: '127.0.0.1', port: p, ca: pki.caPem });
        s.on('error', () => {});
        s.once('secureConnect', () => up++);
        s.once('close', () => closed++);
        socks.push(s);
      }
      await waitFor(() => up === 3 && closed === 3, { what: 'three connections up and three over the cap closed' });
      expect(capped.server.tcpConnections()).toBe(3);
      // a client on another address (127.0.0.2, bound as the source) gets its own share
      // (node:tls hands localAddress to net.connect; its type leaves it out)
      const other = await DotClient.connect(p, { ca: pki.caPem, localAddress: '127.0.0.2' } as tls.ConnectionOptions);
      const r = await other.answers(buildQuery('other.example', 'A'));
      expect(r).toBe(true);
      other.close();
      // a slot given back is free again
      socks.find((s) => s.readyState === 'open')!.destroy();
      await waitFor(() => capped.server.tcpConnections() === 2, { what: 'the closed connection to go' });
      const again = await DotClient.connect(p, { ca: pki.caPem });
      expect(await again.answers(buildQuery('again.example', 'A'))).toBe(true);
      again.close();
    } finally {
      for (const s of socks) s.destroy();
      await capped.close();
    }
  });

  it('counts DoT queries under proto="tcp" and server="tls://…" as CoreDNS does', async () => {
    const c = await DotClient.connect(port, { ca: pki.caPem });
    try {
      expect(await c.answers(buildQuery('metrics.example', 'A'))).toBe(true);
    } finally {
      c.close();
    }
    const text = await srv.metrics.exposition();
    expect(text).toMatch(new RegExp(`coredns_dns_requests_total\\{server="tls://127\\.0\\.0\\.1:0",zone="\\.",view="",proto="tcp",family="1",type="A"\\} [1-9]`));
  });
});

describe.skipIf(!hasOpenssl)('a DoT client that does not read its replies', () => {
  let pki: TlsPki;
  beforeAll(() => {
    pki = makeTlsPki();
  });
  const chunk = 'x'.repeat(250);
  /**
   * TXT replies of `strings` × 250 bytes for names under big.test, at once (`spread` 0) or after 1
   * to `spread` ms (in turn, so they come a few at a time); whoami for the rest.
   */
  const big = (strings: number, spread: number) => {
    let n = 0;
    return responder('big', (req, w, next) => {
      if (!req.name.endsWith('big.test.')) return next(req, w);
      const answer = (): number => {
        w.write({ type: 'response', answers: [{ name: req.name, type: 'TXT', ttl: 0, data: Array<string>(strings).fill(chunk) }] });
        return 0;
      };
      if (spread === 0) return answer();
      return new Promise<number>((resolve) => setTimeout(() => resolve(answer()), 1 + (n++ % spread)));
    });
  };
  const floodQueries = (n: number): Buffer[] => Array.from({ length: n }, (_, i) => buildQuery(`q${i}.big.test`, 'A', { id: i & 0xffff }));

  it('keeps its queued bytes under the cap and is closed at the cap, before any timeout; a client that reads is not; plain DNS keeps answering', async () => {
    const highWater = 16 * 1024;
    const maxQueued = 128 * 1024;
    // replies of ~8 KB come 1 to 64 ms after their query, up to 128 of them outstanding: once the client's
    // buffers are full they pile up past the cap long before any timeout (write and idle: 60 s)
    const srv = await startServer(`tls://.:0 {\n bind 127.0.0.1\n tls ${pki.serverCertFile} ${pki.serverKeyFile}\n big\n whoami\n}\n.:0 {\n bind 127.0.0.1\n whoami\n}\n`, {
      plugins: [big(32, 64)],
      tcp: { highWater, maxQueued, writeTimeout: 60_000, idleTimeout: 60_000, readTimeout: 60_000 },
    });
    // a client that reads gets every reply of its own burst (TLS completes each write after the
    // turn's I/O: the replies of one turn count in full until then, and that is no overflow)
    const reader = await DotClient.connect(portOf(srv, 'tls'), { ca: pki.caPem });
    reader.send(...floodQueries(2000));
    await waitFor(() => reader.replies.length === 2000 || reader.closed, { timeout: 15_000, what: "the reading client's 2,000 replies" });
    expect(reader.replies.length).toBe(2000);
    expect(srv.server.tcpOverflows()).toBe(0);
    reader.close();
    await waitFor(() => srv.server.tcpConnections() === 0, { what: 'the reading client to go' });
    const c = await DotClient.connect(portOf(srv, 'tls'), { ca: pki.caPem });
    try {
      // (the client's handshake can finish before the server's)
      await waitFor(() => srv.server.tcpConnections() === 1, { what: 'the server to take the connection' });
      c.sock.pause(); // never reads
      c.send(...floodQueries(20_000)); // 160 MB of replies if all were answered
      let most = 0;
      let answered = 0;
      await waitFor(
        async () => {
          most = Math.max(most, srv.server.tcpQueuedBytes());
          if (srv.server.tcpConnections() === 0) return true;
          const r = await query(portOf(srv, 'dns'), 'during.example', 'A', { host: '127.0.0.1' });
          expect(r.rcode).toBe(0);
          answered++;
          return false;
        },
        { timeout: 45_000, interval: 5, what: 'the never-reading connection to be closed at the cap' },
      );
      // closed for its unread replies, and not by a timeout (all 60 s): the server counts it as
      // cut for unread replies, which an idle or read timeout is not (counted, not timed)
      expect(srv.server.tcpOverflows()).toBe(1);
      // what was seen queued: at most the cap, the replies of the turn that went over it (at most
      // the 128 outstanding) and one unread chunk of queries
      expect(most).toBeLessThanOrEqual(maxQueued + 128 * 8500 + 128 * 1024);
      expect(answered).toBeGreaterThan(0);
      expect(srv.server.tcpQueuedBytes()).toBe(0);
      c.sock.resume();
      await waitFor(() => c.closed, { what: 'the client to see the close' });
    } finally {
      c.close();
      await srv.close();
    }
  }, 90_000);

  it('is closed within the write timeout once it stops reading, long before the idle timeout', async () => {
    const srv = await startServer(`tls://.:0 {\n bind 127.0.0.1\n tls ${pki.serverCertFile} ${pki.serverKeyFile}\n big\n whoami\n}\n.:0 {\n bind 127.0.0.1\n whoami\n}\n`, {
      plugins: [big(16, 0)],
      tcp: { writeTimeout: 500, idleTimeout: 60_000, readTimeout: 60_000 },
    });
    const c = await DotClient.connect(portOf(srv, 'tls'), { ca: pki.caPem });
    try {
      // a reader first: replies come back
      expect(await c.answers(buildQuery('first.big.test', 'A'))).toBe(true);
      c.sock.pause(); // then it stops reading: ~4 KB replies fill its buffers, then the server's
      const start = Date.now();
      c.send(...floodQueries(20_000));
      let most = 0;
      await waitFor(
        () => {
          most = Math.max(most, srv.server.tcpQueuedBytes());
          return srv.server.tcpConnections() === 0;
        },
        { timeout: 45_000, interval: 5, what: 'the stalled connection to be closed by the write timeout' },
      );
      expect(Date.now() - start).toBeGreaterThanOrEqual(500);
      // by the write timeout, long before the idle and read ones (60 s): the server counts it as cut
      // for unread replies, which they are not (counted, not timed)
      expect(srv.server.tcpOverflows()).toBe(1);
      // held while it waited: over the high-water mark (64 KiB), under the cap (1 MiB) plus one reply and one unread chunk of queries
      expect(most).toBeGreaterThan(64 * 1024);
      expect(most).toBeLessThanOrEqual(1024 * 1024 + 4200 + 128 * 1024);
      expect(srv.server.tcpQueuedBytes()).toBe(0);
      const r = await query(portOf(srv, 'dns'), 'after.example', 'A', { host: '127.0.0.1' });
      expect(r.rcode).toBe(0);
    } finally {
      c.close();
      await srv.close();
    }
  }, 90_000);
});

describe.skipIf(!hasOpenssl)('DoT client certificates (client_auth require_and_verify)', () => {
  let pki: TlsPki;
  let srv: TestServer;
  let port: number;
  beforeAll(async () => {
    pki = makeTlsPki();
    srv = await startServer(`tls://.:0 {\n bind 127.0.0.1\n tls ${pki.serverCertFile} ${pki.serverKeyFile} ${pki.caFile} {\n  client_auth require_and_verify\n }\n whoami\n}\n`);
    port = portOf(srv, 'tls');
  });
  afterAll(() => srv?.close());

  const attempt = async (o: tls.ConnectionOptions): Promise<boolean> => {
    let c: DotClient;
    try {
      c = await DotClient.connect(port, { ca: pki.caPem, ...o });
    } catch {
      return false; // the handshake failed
    }
    try {
      return await c.answers(buildQuery('auth.example', 'A'));
    } finally {
      c.close();
    }
  };

  it('answers a client with a certificate from the CA', async () => {
    expect(await attempt({ cert: pki.read(pki.clientCertFile), key: pki.read(pki.clientKeyFile) })).toBe(true);
  });

  it('refuses a client without a certificate', async () => {
    expect(await attempt({})).toBe(false);
  });

  it('refuses a client whose certificate another CA signed', async () => {
    expect(await attempt({ cert: pki.read(pki.strangerCertFile), key: pki.read(pki.strangerKeyFile) })).toBe(false);
  });

  it('refuses a client whose certificate expired', async () => {
    expect(await attempt({ cert: pki.read(pki.expiredClientCertFile), key: pki.read(pki.clientKeyFile) })).toBe(false);
  });

  it.skipIf(!hasKdig)('answers kdig with +tls-certfile/+tls-keyfile, refuses kdig without', async () => {
    const base = [`@127.0.0.1`, '-p', String(port), '+tls-ca=' + pki.caFile, '+tls-hostname=127.0.0.1', 'example.org', 'A'];
    const withCert = await runTool('kdig', [...base, `+tls-certfile=${pki.clientCertFile}`, `+tls-keyfile=${pki.clientKeyFile}`]);
    expect(withCert.out, withCert.err).toMatch(/status: NOERROR/);
    const without = await runTool('kdig', base);
    expect(without.out).not.toMatch(/status: NOERROR/);
  });
});

describe.skipIf(!hasOpenssl)('DoT client_auth: every mode, with and without client certificates', () => {
  // Go's tls.ClientAuthType, as CoreDNS's tls plugin maps the keywords: nocert (NoClientCert),
  // request (RequestClientCert), require (RequireAnyClientCert), verify_if_given
  // (VerifyClientCertIfGiven), require_and_verify (RequireAndVerifyClientCert).
  type Who = 'none' | 'ca' | 'other-ca' | 'expired';
  const expected: Record<string, Record<Who, boolean>> = {
    nocert: { none: true, ca: true, 'other-ca': true, expired: true },
    request: { none: true, ca: true, 'other-ca': true, expired: true },
    require: { none: false, ca: true, 'other-ca': true, expired: true },
    verify_if_given: { none: true, ca: true, 'other-ca': false, expired: false },
    require_and_verify: { none: false, ca: true, 'other-ca': false, expired: false },
  };
  let pki: TlsPki;
  const servers: TestServer[] = [];
  beforeAll(() => {
    pki = makeTlsPki();
  });
  afterAll(async () => {
    for (const s of servers) await s.close();
  });

  for (const [mode, want] of Object.entries(expected)) {
    it(`client_auth ${mode}: ${Object.entries(want).map(([w, ok]) => `${w} ${ok ? 'answered' : 'refused'}`).join(', ')}`, async () => {
      const srv = await startServer(`tls://.:0 {\n bind 127.0.0.1\n tls ${pki.serverCertFile} ${pki.serverKeyFile} ${pki.caFile} {\n  client_auth ${mode}\n }\n whoami\n}\n`);
      servers.push(srv);
      const port = portOf(srv, 'tls');
      const certs: Record<Who, tls.ConnectionOptions> = {
        none: {},
        ca: { cert: pki.read(pki.clientCertFile), key: pki.read(pki.clientKeyFile) },
        'other-ca': { cert: pki.read(pki.strangerCertFile), key: pki.read(pki.strangerKeyFile) },
        expired: { cert: pki.read(pki.expiredClientCertFile), key: pki.read(pki.clientKeyFile) },
      };
      const got: Record<string, boolean> = {};
      for (const who of Object.keys(want) as Who[]) {
        let c: DotClient | undefined;
        try {
          c = await DotClient.connect(port, { ca: pki.caPem, ...certs[who] });
          got[who] = await c.answers(buildQuery('auth.example', 'A'));
        } catch {
          got[who] = false; // the handshake failed
        } finally {
          c?.close();
        }
      }
      expect(got).toEqual(want);
    });
  }
});

describe.skipIf(!hasOpenssl)('DoT listener across reloads', () => {
  it('applies a reloaded client_auth to new connections on the same port, and refuses a reload that turns TLS off', async () => {
    const pki = makeTlsPki();
    const port = await freePort();
    const cf = (tlsLine: string): string => `tls://.:${port} {\n bind 127.0.0.1\n ${tlsLine}\n whoami\n}\n`;
    const srv = await startServer(cf(`tls ${pki.serverCertFile} ${pki.serverKeyFile} ${pki.caFile}`));
    const ask = async (o: tls.ConnectionOptions): Promise<boolean> => {
      let c: DotClient;
      try {
        c = await DotClient.connect(port, { ca: pki.caPem, ...o });
      } catch {
        return false;
      }
      try {
        return await c.answers(buildQuery('reload.example', 'A'));
      } finally {
        c.close();
      }
    };
    const withCert = { cert: pki.read(pki.clientCertFile), key: pki.read(pki.clientKeyFile) };
    try {
      expect(await ask({})).toBe(true);
      const strict = cf(`tls ${pki.serverCertFile} ${pki.serverKeyFile} ${pki.caFile} {\n  client_auth require_and_verify\n }`);
      expect(await srv.server.reload('test', { text: strict, file: 'Corefile' })).toBe(true);
      expect(await ask({})).toBe(false);
      expect(await ask(withCert)).toBe(true);
      // without the tls plugin the block would serve in the clear: not on a reload
      expect(await srv.server.reload('test', { text: cf(''), file: 'Corefile' })).toBe(false);
      expect(srv.log.lines.join('\n')).toMatch(/turning TLS off needs a restart/);
      expect(await ask(withCert)).toBe(true);
    } finally {
      await srv.close();
    }
  });
});

describe.skipIf(!hasOpenssl || !hasKdig)('DoT server certificate checks by the client', () => {
  it('kdig refuses a server whose certificate expired', async () => {
    const pki = makeTlsPki();
    const srv = await startServer(`tls://.:0 {\n bind 127.0.0.1\n tls ${pki.expiredServerCertFile} ${pki.serverKeyFile}\n whoami\n}\n`);
    try {
      const r = await runTool('kdig', [`@127.0.0.1`, '-p', String(portOf(srv, 'tls')), '+tls-ca=' + pki.caFile, '+tls-hostname=127.0.0.1', 'example.org']);
      expect(r.out).not.toMatch(/status: NOERROR/);
      expect(r.err + r.out).toMatch(/expired|certificate|TLS/i);
    } finally {
      await srv.close();
    }
  });
});
