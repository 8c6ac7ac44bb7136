// DNS over gRPC (CoreDNS's coredns.dns.DnsService/Query): one DnsPacket each way, sent by curl
// (gRPC framing by hand, HTTP/2 with prior knowledge, and over TLS) and by node:http2; errors come
// back as grpc-status in the trailers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import http2 from 'node:http2';
import dnsPacket, { type DecodedPacket } from 'dns-packet';
import { buildQuery, startServer, type TestServer } from '../../src/testing/index.js';
import { decodeDnsPacket, grpcFrame, GRPC_QUERY_PATH } from '../../src/server/grpc.js';
import { hasOpenssl, makeTlsPki, type TlsPki } from '../support/tls-pki.js';
import { runTool } from '../support/tools.js';

const hasCurl = /HTTP2/.test(spawnSync('curl', ['--version'], { encoding: 'utf8' }).stdout ?? '');
if (!hasCurl) console.warn('grpc.test.ts: curl tests skipped: no curl with HTTP/2 (Debian curl)');
if (!hasOpenssl) console.warn('grpc.test.ts: TLS tests skipped: no openssl to make certificates');

// Python's grpcio (gRPC's C core): a gRPC implementation that is not ours, calling the method with
// CoreDNS's pb/dns.proto message (DnsPacket { bytes msg = 1 }) serialised by hand.
const python = ['python3', '/usr/bin/python3'].find((py) => spawnSync(py, ['-c', 'import grpc']).status === 0);
const hasGrpcio = python !== undefined;
if (!hasGrpcio) console.warn('grpc.test.ts: grpcio interop test skipped: no python3 grpcio (Debian python3-grpcio)');
const GRPCIO_CLIENT = `
import sys, grpc
def varint(n):
    out = b''
    while n >= 0x80:
        out += bytes([(n & 0x7f) | 0x80]); n >>= 7
    return out + bytes([n])
def ser(msg): return b'\\x0a' + varint(len(msg)) + msg  # DnsPacket.msg, field 1, bytes
def de(b):
    assert b[0] == 0x0a, b[:4]
    n, shift, i = 0, 0, 1
    while True:
        c = b[i]; i += 1; n |= (c & 0x7f) << shift; shift += 7
        if c < 0x80: break
    return b[i:i + n]
ch = grpc.insecure_channel(sys.argv[1])
query = ch.unary_unary('/coredns.dns.DnsService/Query', request_serializer=ser, response_deserializer=de)
sys.stdout.buffer.write(query(bytes.fromhex(sys.argv[2]), timeout=10))
`;

const portOf = (s: TestServer): number => s.server.addresses().find((a) => a.scheme === 'grpc')!.port;

/** The DNS message in a gRPC response body (one DnsPacket frame). */
function replyOf(body: Buffer): DecodedPacket {
  expect(body.readUInt32BE(1)).toBe(body.length - 5);
  return dnsPacket.decode(decodeDnsPacket(body.subarray(5))!) as DecodedPacket;
}

/** One unary call over node:http2; the response headers merged with the trailers, and the body. */
function call(url: string, body: Buffer, o: http2.SecureClientSessionOptions = {}, path = GRPC_QUERY_PATH): Promise<{ h: Record<string, unknown>; body: Buffer }> {
  const session = http2.connect(url, o);
  session.on('error', () => {});
  return new Promise<{ h: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
    const s = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
    const h: Record<string, unknown> = {};
    const parts: Buffer[] = [];
    s.on('response', (x) => Object.assign(h, x));
    s.on('trailers', (x) => Object.assign(h, x));
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('end', () => resolve({ h, body: Buffer.concat(parts) }));
    s.on('error', reject);
    s.end(body);
  }).finally(() => session.close());
}

describe('grpc:// without TLS (h2c)', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer(`grpc://.:0 {\n bind 127.0.0.1\n whoami\n}\n`);
  });
  afterAll(() => srv?.close());

  it.skipIf(!hasCurl)('answers a Query sent by curl --http2-prior-knowledge, grpc-status 0 in the trailers', async () => {
    const dir = (await import('node:os')).tmpdir();
    const file = join(dir, `grpc-q-${process.pid}.bin`);
    const hfile = join(dir, `grpc-h-${process.pid}.txt`);
    writeFileSync(file, grpcFrame(buildQuery('grpc.example.org', 'A', { id: 7 })));
    const r = await runTool('curl', ['-sS', '--max-time', '10', '--http2-prior-knowledge', '-H', 'content-type: application/grpc', '-H', 'te: trailers',
      '--data-binary', `@${file}`, '-D', hfile, `http://127.0.0.1:${portOf(srv)}${GRPC_QUERY_PATH}`]);
    expect(r.code, r.err).toBe(0);
    const m = replyOf(r.bytes);
    expect(m.id).toBe(7);
    expect(m.additionals?.find((a) => a.type === 'SRV')?.name).toBe('_tcp.grpc.example.org');
    expect(readFileSync(hfile, 'utf8')).toMatch(/grpc-status: 0/);
  });

  it.skipIf(!hasGrpcio)('answers a DnsService.Query call made by grpcio, a gRPC implementation that is not ours', async () => {
    const q = buildQuery('interop.example.org', 'A', { id: 4321 });
    const r = await runTool(python!, ['-c', GRPCIO_CLIENT, `127.0.0.1:${portOf(srv)}`, q.toString('hex')]);
    expect(r.code, r.err).toBe(0);
    const m = dnsPacket.decode(r.bytes) as DecodedPacket;
    expect(m.id).toBe(4321);
    // whoami: the client's address, and _tcp (gRPC is TCP to the plugins)
    expect(m.additionals?.find((a) => a.type === 'A')).toMatchObject({ name: 'interop.example.org', data: '127.0.0.1' });
    expect(m.additionals?.find((a) => a.type === 'SRV')?.name).toBe('_tcp.interop.example.org');
  });

  it('answers over node:http2, and sends grpc-status errors for a bad message and an unknown method', async () => {
    const url = `http://127.0.0.1:${portOf(srv)}`;
    const ok = await call(url, grpcFrame(buildQuery('a.example', 'A', { id: 9 })));
    expect(ok.h['grpc-status']).toBe('0');
    expect(replyOf(ok.body).id).toBe(9);
    const bad = await call(url, grpcFrame(Buffer.from('not dns')));
    expect(bad.h['grpc-status']).toBe('3');
    const unknown = await call(url, grpcFrame(buildQuery('a.example', 'A')), {}, '/coredns.dns.DnsService/Other');
    expect(unknown.h['grpc-status']).toBe('12');
  });
});

describe.skipIf(!hasOpenssl)('grpc:// with TLS', () => {
  let pki: TlsPki;
  let srv: TestServer;
  beforeAll(async () => {
    pki = makeTlsPki();
    srv = await startServer(`grpc://.:0 {\n bind 127.0.0.1\n tls ${pki.serverCertFile} ${pki.serverKeyFile}\n whoami\n}\n`);
  });
  afterAll(() => srv?.close());

  it.skipIf(!hasCurl)('answers a Query sent by curl over TLS (ALPN h2), verified against the test CA', async () => {
    const file = join(pki.dir, 'grpc-q.bin');
    writeFileSync(file, grpcFrame(buildQuery('tls.example.org', 'A', { id: 3 })));
    const r = await runTool('curl', ['-sS', '--max-time', '10', '--http2', '--cacert', pki.caFile, '-H', 'content-type: application/grpc', '-H', 'te: trailers',
      '--data-binary', `@${file}`, `https://127.0.0.1:${portOf(srv)}${GRPC_QUERY_PATH}`]);
    expect(r.code, r.err).toBe(0);
    expect(replyOf(r.bytes).id).toBe(3);
  });
});
