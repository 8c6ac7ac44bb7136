// DNS over HTTPS (RFC 8484) through real clients (curl over HTTP/2 and HTTP/1.1, kdig +https,
// dig +https) and node:http2: GET and POST, Cache-Control from the smallest TTL, the HTTP errors for
// bad requests, plain-HTTP DoH behind a proxy, X-Forwarded-For only from trusted proxies, and an
// HTTP/2 stream flood that leaves plain DNS answering.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import http2 from 'node:http2';
import tls from 'node:tls';
import dnsPacket, { type DecodedPacket } from 'dns-packet';
import { buildQuery, query, startServer, waitFor, type TestServer } from '../../src/testing/index.js';
import { hasOpenssl, makeTlsPki, type TlsPki } from '../support/tls-pki.js';
import { digMinor, hasTool, runTool } from '../support/tools.js';

const curlVersion = spawnSync('curl', ['--version'], { encoding: 'utf8' }).stdout ?? '';
const hasCurl = /HTTP2/.test(curlVersion);
const hasKdig = hasTool('kdig', '--version');
const hasDigHttps = (digMinor ?? 0) >= 18;
if (!hasOpenssl) console.warn('doh.test.ts skipped: no openssl to make certificates');
if (!hasCurl) console.warn('doh.test.ts: curl tests skipped: no curl with HTTP/2 (Debian curl)');
if (!hasKdig) console.warn('doh.test.ts: kdig tests skipped: no kdig (Debian knot-dnsutils)');
if (!hasDigHttps) console.warn('doh.test.ts: dig +https tests skipped: no dig 9.18 or later (Debian bind9-dnsutils)');

interface CurlReply {
  status: number;
  version: string;
  headers: Record<string, string>;
  body: Buffer;
}

/** curl with the given arguments; the status line, headers and body it got. */
async function curl(pki: TlsPki | undefined, args: string[]): Promise<CurlReply> {
  const dir = pki?.dir ?? '/tmp';
  const hfile = join(dir, `h-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const r = await runTool('curl', ['-sS', '--max-time', '10', ...(pki ? ['--cacert', pki.caFile] : []), '-D', hfile, '-w', '\n%{http_version}', ...args]);
  // A body the server refuses (413) may still be on its way when the server answers and closes:
  // curl then ends with 55 (send failure) after reading the reply. Any other failure is one.
  const answeredEarly = r.code === 55 && existsSync(hfile) && /^HTTP\/[\d.]+ \d+/.test(readFileSync(hfile, 'utf8'));
  if (!answeredEarly) expect(r.code, r.err).toBe(0);
  const cut = r.bytes.lastIndexOf(0x0a);
  const version = r.bytes.subarray(cut + 1).toString();
  const body = r.bytes.subarray(0, cut);
  const lines = readFileSync(hfile, 'utf8').split(/\r?\n/);
  const status = Number(/^HTTP\/[\d.]+ (\d+)/.exec(lines[0] ?? '')?.[1]);
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status, version, headers, body };
}

const portOf = (s: TestServer, scheme: string): number => s.server.addresses().find((a) => a.scheme === scheme)!.port;
const b64url = (b: Buffer): string => b.toString('base64url');
/** The data of a decoded reply's records (OPT aside). */
const data = (rs: DecodedPacket['answers']): unknown[] => (rs ?? []).filter((a) => a.type !== 'OPT').map((a) => (a as { data: unknown }).data);
const addr = (body: Buffer): unknown => data((dnsPacket.decode(body) as DecodedPacket).additionals?.filter((a) => a.type === 'A'))[0];

describe.skipIf(!hasOpenssl)('DNS over HTTPS', () => {
  let pki: TlsPki;
  let srv: TestServer;
  let port: number;
  let base: string;

  beforeAll(async () => {
    pki = makeTlsPki();
    srv = await startServer(
      `https://.:0 {\n bind 127.0.0.1\n tls ${pki.serverCertFile} ${pki.serverKeyFile}\n prometheus 127.0.0.1:0\n` +
        ` hosts {\n  10.0.0.1 ttl.example.org\n  ttl 42\n  fallthrough\n }\n whoami\n}\n` +
        `.:0 {\n bind 127.0.0.1\n whoami\n}\n`,
    );
    port = portOf(srv, 'https');
    base = `https://127.0.0.1:${port}/dns-query`;
  });
  afterAll(() => srv?.close());

  it.skipIf(!hasCurl)('answers a GET over HTTP/2 (curl --http2), with Cache-Control max-age from the smallest TTL', async () => {
    const q = buildQuery('ttl.example.org', 'A', { id: 0 });
    const r = await curl(pki, ['--http2', `${base}?dns=${b64url(q)}`]);
    expect(r.version).toBe('2');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/dns-message');
    expect(r.headers['cache-control']).toBe('max-age=42');
    const m = dnsPacket.decode(r.body) as DecodedPacket;
    expect(m.id).toBe(0);
    expect(data(m.answers)).toEqual(['10.0.0.1']);
  });

  it.skipIf(!hasCurl)('answers a POST of application/dns-message over HTTP/2 and over HTTP/1.1', async () => {
    const file = join(pki.dir, 'q.bin');
    writeFileSync(file, buildQuery('ttl.example.org', 'A', { id: 0 }));
    for (const [flag, version] of [['--http2', '2'], ['--http1.1', '1.1']] as const) {
      const r = await curl(pki, [flag, '-H', 'content-type: application/dns-message', '--data-binary', `@${file}`, base]);
      expect(r.version).toBe(version);
      expect(r.status).toBe(200);
      expect(data((dnsPacket.decode(r.body) as DecodedPacket).answers)).toEqual(['10.0.0.1']);
    }
  });

  it.skipIf(!hasCurl)('gives the client address of the connection to the plugins (whoami), as TCP', async () => {
    const r = await curl(pki, ['--http2', '-H', 'x-forwarded-for: 192.0.2.9', `${base}?dns=${b64url(buildQuery('who.example', 'A', { id: 0 }))}`]);
    const m = dnsPacket.decode(r.body) as DecodedPacket;
    // X-Forwarded-For is not believed without trusted_proxies
    expect(addr(r.body)).toBe('127.0.0.1');
    expect(m.additionals?.find((a) => a.type === 'SRV')?.name).toBe('_tcp.who.example');
  });

  it.skipIf(!hasCurl)('answers bad requests with 400, 413, 415, 404 and 405, and counts each status', async () => {
    const file = join(pki.dir, 'big.bin');
    writeFileSync(file, Buffer.alloc(70_000, 1));
    const q = join(pki.dir, 'q2.bin');
    writeFileSync(q, buildQuery('x.example', 'A'));
    const cases: Array<[string[], number]> = [
      [[`${base}?dns=not*base64!`], 400],
      [[`${base}?dns=${b64url(Buffer.from('hello'))}`], 400], // decodes, but is no DNS message
      [[base], 400], // no dns parameter
      [['-H', 'content-type: text/plain', '--data-binary', `@${q}`, base], 415],
      [['-H', 'content-type: application/dns-message', '--data-binary', `@${file}`, base], 413],
      [[`https://127.0.0.1:${port}/other?dns=${b64url(buildQuery('x.example', 'A'))}`], 404],
      [['-X', 'PUT', base], 405],
    ];
    for (const [args, status] of cases) {
      for (const v of ['--http2', '--http1.1']) {
        const r = await curl(pki, [v, ...args]);
        expect(r.status, `${v} ${args.join(' ')}`).toBe(status);
      }
    }
    const text = await srv.metrics.exposition();
    expect(text).toMatch(new RegExp(`coredns_dns_https_responses_total\\{server="https://127\\.0\\.0\\.1:0",status="415"\\} 2`));
    expect(text).toMatch(/coredns_dns_https_responses_total\{server="https:\/\/127\.0\.0\.1:0",status="200"\} [1-9]/);
    // plain DNS was not disturbed
    expect((await query(portOf(srv, 'dns'), 'still.example', 'A', { host: '127.0.0.1' })).rcode).toBe(0);
  });

  it.skipIf(!hasKdig)('answers kdig +https (POST) and +https-get, padded as kdig asks', async () => {
    for (const [extra, method] of [[[], 'POST'], [['+https-get'], 'GET']] as const) {
      const r = await runTool('kdig', ['@127.0.0.1', '-p', String(port), `+tls-ca=${pki.caFile}`, '+tls-hostname=127.0.0.1', '+https', ...extra, 'ttl.example.org', 'A']);
      const out = r.out;
      expect(out, r.err).toMatch(/status: NOERROR/);
      expect(out).toMatch(/ttl\.example\.org\.\s+42\s+IN\s+A\s+10\.0\.0\.1/);
      expect(out).toMatch(new RegExp(`HTTP session \\(HTTP/2-${method}\\).*status: 200`));
      // kdig pads its queries over TLS: the reply comes back padded to 468 bytes
      expect(out).toMatch(/PADDING: \d+ B/);
      expect(out).toMatch(/Received 468 B/);
    }
  });

  it.skipIf(!hasDigHttps)('answers dig +https', async () => {
    const r = await runTool('dig', ['@127.0.0.1', '-p', String(port), '+https', `+tls-ca=${pki.caFile}`, '+tls-hostname=127.0.0.1', 'ttl.example.org', 'A']);
    const out = r.out;
    expect(out, r.err).toMatch(/status: NOERROR/);
    expect(out).toMatch(/ttl\.example\.org\.\s+42\s+IN\s+A\s+10\.0\.0\.1/);
    expect(out).toMatch(/\(HTTPS\)/);
  });

  it('pads a DoH reply to a multiple of 468 bytes when the query asks', async () => {
    const q = dnsPacket.encode({
      type: 'query', id: 0, flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ type: 'A', name: 'ttl.example.org' }],
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, options: [{ code: 12, data: Buffer.alloc(8) }] } as never],
    });
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca: pki.caPem });
    try {
      const body = await new Promise<Buffer>((resolve, reject) => {
        const s = session.request({ ':method': 'POST', ':path': '/dns-query', 'content-type': 'application/dns-message' });
        const parts: Buffer[] = [];
        s.on('data', (d: Buffer) => parts.push(d));
        s.on('end', () => resolve(Buffer.concat(parts)));
        s.on('error', reject);
        s.end(q);
      });
      expect(body.length % 468).toBe(0);
      expect(data((dnsPacket.decode(body) as DecodedPacket).answers)).toEqual(['10.0.0.1']);
    } finally {
      session.close();
    }
  });

  it('survives an HTTP/2 flood of streams (more than the 100 allowed at once, half reset at once) while plain DNS answers', async () => {
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca: pki.caPem });
    session.on('error', () => {});
    const path = `/dns-query?dns=${b64url(buildQuery('flood.example', 'A', { id: 0 }))}`;
    let ok = 0;
    let failed = 0;
    const done: Array<Promise<void>> = [];
    for (let i = 0; i < 600; i++) {
      const s = session.request({ ':path': path });
      done.push(
        new Promise<void>((resolve) => {
          s.on('response', (h) => {
            if (h[':status'] === 200) ok++;
          });
          s.on('error', () => {});
          s.on('close', () => {
            if (s.rstCode !== 0 && s.rstCode !== undefined) failed++;
            resolve();
          });
          s.resume();
        }),
      );
      if (i % 2 === 1) s.close(http2.constants.NGHTTP2_CANCEL);
      else s.end();
    }
    const udp = await query(portOf(srv, 'dns'), 'during.flood.example', 'A', { host: '127.0.0.1' });
    expect(udp.rcode).toBe(0);
    await Promise.all(done);
    session.close();
    expect(ok).toBeGreaterThanOrEqual(1);
    expect(ok + failed).toBe(600);
    // the server still answers a new client
    const again = await waitFor(async () => {
      const r = await h2Status(port, pki, path);
      return r === 200;
    });
    expect(again).toBe(true);
  });
});

/** One GET over a fresh HTTP/2 session; the status. */
async function h2Status(port: number, pki: TlsPki, path: string): Promise<number> {
  const session = http2.connect(`https://127.0.0.1:${port}`, { ca: pki.caPem });
  session.on('error', () => {});
  try {
    return await new Promise<number>((resolve, reject) => {
      const s = session.request({ ':path': path });
      s.on('response', (h) => resolve(Number(h[':status'])));
      s.on('error', reject);
      s.end();
    });
  } finally {
    session.close();
  }
}

describe.skipIf(!hasCurl)('plain-HTTP DoH behind a terminating proxy (https:// without tls)', () => {
  let srv: TestServer;
  let port: number;
  beforeAll(async () => {
    srv = await startServer(`https://.:0 {\n bind 127.0.0.1\n https {\n  trusted_proxies 127.0.0.1\n }\n acl {\n  drop type TXT\n }\n whoami\n}\n`);
    port = portOf(srv, 'https');
  });
  afterAll(() => srv?.close());

  it('answers HTTP/1.1 in the clear, and takes the client from X-Forwarded-For of a trusted proxy', async () => {
    const q = b64url(buildQuery('who.example', 'A', { id: 0 }));
    const r = await curl(undefined, ['-H', 'x-forwarded-for: 198.51.100.7, 127.0.0.1', `http://127.0.0.1:${port}/dns-query?dns=${q}`]);
    expect(r.status).toBe(200);
    expect(r.version).toBe('1.1');
    // the rightmost address that is not a trusted proxy
    expect(addr(r.body)).toBe('198.51.100.7');
    const direct = await curl(undefined, [`http://127.0.0.1:${port}/dns-query?dns=${q}`]);
    expect(addr(direct.body)).toBe('127.0.0.1');
  });

  it('answers 500 when the plugins drop the query (acl drop), and 400 for a DNS response sent as a query', async () => {
    const dropped = await curl(undefined, [`http://127.0.0.1:${port}/dns-query?dns=${b64url(buildQuery('drop.example', 'TXT', { id: 0 }))}`]);
    expect(dropped.status).toBe(500);
    const response = buildQuery('resp.example', 'A', { id: 0 });
    response[2]! |= 0x80; // QR
    const r = await curl(undefined, [`http://127.0.0.1:${port}/dns-query?dns=${b64url(response)}`]);
    expect(r.status).toBe(400);
    expect(r.body.toString()).toMatch(/not a DNS query/);
  });
});

describe('DoH connections per client address (#19)', () => {
  let pki: TlsPki;
  let srv: TestServer;
  let port: number;
  beforeAll(async () => {
    pki = makeTlsPki();
    // max_connections 8: one address may hold 4 (half of it; TCP's per-client cap of 250 is higher)
    srv = await startServer(`https://.:0 {\n bind 127.0.0.1\n tls ${pki.serverCertFile} ${pki.serverKeyFile}\n https {\n  max_connections 8\n }\n whoami\n}\n`);
    port = portOf(srv, 'https');
  });
  afterAll(() => srv?.close());

  it('one address cannot hold every slot: past half of max_connections its connections are closed before the handshake, and another address is answered', async () => {
    const socks: tls.TLSSocket[] = [];
    let up = 0;
    let closed = 0;
    try {
      for (let i = 0; i < 7; i++) {
        const s = tls.connect({ host: '127.0.0.1', port, ca: pki.caPem, ALPNProtocols: ['h2'] });
        s.on('error', () => {});
        s.once('secureConnect', () => up++);
        s.once('close', () => closed++);
        socks.push(s);
      }
      await waitFor(() => up === 4 && closed === 3, { what: 'four connections up and three over the cap closed' });
      // (the total cap, 8, still has room: the three were closed for their address)
      // a client on another address (127.0.0.2, bound as the source) is answered
      const session = http2.connect(`https://127.0.0.1:${port}`, { ca: pki.caPem, localAddress: '127.0.0.2' } as http2.SecureClientSessionOptions);
      session.on('error', () => {});
      try {
        const body = await new Promise<Buffer>((resolve, reject) => {
          const s = session.request({ ':path': `/dns-query?dns=${b64url(buildQuery('other.example', 'A', { id: 0 }))}` });
          const parts: Buffer[] = [];
          s.on('data', (d: Buffer) => parts.push(d));
          s.on('end', () => resolve(Buffer.concat(parts)));
          s.on('error', reject);
          s.end();
        });
        // whoami: the client's address is the one bound as the source
        expect(data((dnsPacket.decode(body) as DecodedPacket).additionals)).toContain('127.0.0.2');
      } finally {
        session.close();
      }
      // a slot given back is free again for the first address (once the server has seen it close)
      socks.find((s) => !s.destroyed && s.readyState === 'open')!.destroy();
      const attempt = (): Promise<boolean> =>
        new Promise<boolean>((resolve) => {
          const s = tls.connect({ host: '127.0.0.1', port, ca: pki.caPem, ALPNProtocols: ['h2'] });
          s.on('error', () => {});
          socks.push(s);
          s.once('secureConnect', () => resolve(true));
          s.once('close', () => resolve(false));
        });
      await waitFor(async () => ((await attempt()) ? true : undefined), { what: 'a connection in the slot given back' });
    } finally {
      for (const s of socks) s.destroy();
    }
  });
});
