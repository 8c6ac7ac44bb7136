// Robustness: random and mutated packets over UDP and TCP to a running server, and random token
// streams into the Corefile parser. Bounded runs (fast-check), a fixed seed per run is printed on
// failure so a counterexample can be replayed with { seed, path }.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import dnsPacket from 'dns-packet';
import { buildQuery, startServer, type TestServer } from '../../src/testing/index.js';
import { RCODE } from '../../src/dns/constants.js';
import { Parse, parseQuery, QueryHead } from '../../src/dns/wire.js';
import { CorefileError } from '../../src/corefile/lexer.js';
import { ConfigErrors, parseConfig } from '../../src/config/compile.js';
import { PluginRegistry } from '../../src/plugin/registry.js';
import { builtinPlugins } from '../../plugins/all.js';

/** FUZZ_RUNS=20 npx vitest run test/integration/fuzz.test.ts for a longer hunt. */
const RUNS = Math.max(1, Number(process.env['FUZZ_RUNS'] ?? 1));

// ---------------------------------------------------------------- packet generators

const label = fc.stringMatching(/^[a-zA-Z0-9_-]{1,20}$/);
const qname = fc.array(label, { maxLength: 5 }).map((ls) => (ls.length ? ls.join('.') : '.'));
const qtype = fc.constantFrom('A', 'AAAA', 'TXT', 'MX', 'SRV', 'PTR', 'ANY', 'NS', 'SOA', 'CNAME');
/** A well-formed query, the seed every mutation starts from. */
const validQuery = fc
  .record({ name: qname, type: qtype, edns: fc.boolean(), do: fc.boolean(), id: fc.integer({ min: 0, max: 65535 }) })
  .map((o) => new Uint8Array(buildQuery(o.name, o.type, { edns: o.edns ? 1232 : false, do: o.do, id: o.id })));

const u16 = (b: Uint8Array, off: number, v: number): void => {
  b[off] = (v >> 8) & 0xff;
  b[off + 1] = v & 0xff;
};
const concat = (...parts: ArrayLike<number>[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};
const header = (id: number, flags: number, qd: number, an: number, ns: number, ar: number): Uint8Array => {
  const h = new Uint8Array(12);
  [id, flags, qd, an, ns, ar].forEach((v, i) => u16(h, i * 2, v));
  return h;
};
const QTAIL = [0, 1, 0, 1]; // type A, class IN

const truncated = fc.tuple(validQuery, fc.nat()).map(([q, n]) => q.subarray(0, n % q.length));
const flipped = fc.tuple(validQuery, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 })).map(([q, flips]) => {
  const b = Uint8Array.from(q);
  for (const [at, v] of flips) b[at % b.length] = v;
  return b;
});
/** A label length with the reserved 0x40/0x80 bits, or longer than the packet. */
const badLabel = fc.tuple(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0x40, max: 0xff }), fc.uint8Array({ maxLength: 70 })).map(([id, len, rest]) =>
  concat(header(id, 0x0100, 1, 0, 0, 0), [len], rest, [0], QTAIL),
);
/** Compression pointers: to itself, forward, past the end, in a cycle, a chain of 200. */
const pointerLoop = fc.tuple(fc.integer({ min: 0, max: 65535 }), fc.constantFrom('self', 'forward', 'beyond', 'cycle', 'chain', 'intoHeader')).map(([id, kind]) => {
  const h = header(id, 0x0100, 1, 0, 0, 0);
  switch (kind) {
    case 'self':
      return concat(h, [0xc0, 12], QTAIL);
    case 'forward':
      return concat(h, [0xc0, 14, 1, 0x61, 0], QTAIL);
    case 'beyond':
      return concat(h, [0xff, 0xff], QTAIL);
    case 'cycle': // 12: "a" → ptr 16; 16: "b" → ptr 12
      return concat(h, [1, 0x61, 0xc0, 16, 1, 0x62, 0xc0, 12], QTAIL);
    case 'chain': {
      // 200 labels each followed by a pointer back to the previous: long but acyclic
      const parts: number[] = [1, 0x61, 0];
      for (let i = 1; i < 200; i++) parts.push(1, 0x61, 0xc0, 12 + (i - 1) * 4);
      return concat(h, parts, QTAIL);
    }
    default:
      return concat(h, [0xc0, 2], QTAIL); // into the header
  }
});
/** Names of 256+ bytes, and labels of 64+. */
const oversized = fc.tuple(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 4, max: 9 }), fc.integer({ min: 1, max: 63 })).map(([id, n, l]) => {
  const parts: number[] = [];
  for (let i = 0; i < n; i++) parts.push(l, ...new Array<number>(l).fill(0x61));
  return concat(header(id, 0x0100, 1, 0, 0, 0), parts, [0], QTAIL);
});
/** Counts that do not match the sections. */
const wrongCounts = fc.tuple(validQuery, fc.array(fc.integer({ min: 0, max: 65535 }), { minLength: 4, maxLength: 4 })).map(([q, counts]) => {
  const b = Uint8Array.from(q);
  counts.forEach((c, i) => u16(b, 4 + i * 2, c));
  return b;
});
/** Every flag word: QR (ignored), opcodes (NOTIMP), Z, TC, rcode bits in a query. */
const flags = fc.tuple(validQuery, fc.integer({ min: 0, max: 65535 })).map(([q, f]) => {
  const b = Uint8Array.from(q);
  u16(b, 2, f);
  return b;
});
/** OPT records that are wrong: not at the root, two of them, options overrunning, versions, rdlen lies. */
const junkOpt = fc
  .tuple(
    fc.integer({ min: 0, max: 65535 }),
    fc.constantFrom('nonroot', 'twice', 'overrun', 'version', 'rdlen', 'random'),
    fc.uint8Array({ maxLength: 40 }),
    fc.integer({ min: 0, max: 255 }),
  )
  .map(([id, kind, junk, v]) => {
    const q = [1, 0x61, 0, ...QTAIL];
    const opt = (name: number[], version: number, rdata: ArrayLike<number>, rdlen = rdata.length): number[] => [...name, 0, 41, 0x04, 0xd0, 0, version, 0, 0, rdlen >> 8, rdlen & 0xff, ...Array.from(rdata)];
    switch (kind) {
      case 'nonroot':
        return concat(header(id, 0x0100, 1, 0, 0, 1), q, opt([1, 0x61, 0], 0, []));
      case 'twice':
        return concat(header(id, 0x0100, 1, 0, 0, 2), q, opt([0], 0, []), opt([0], 0, []));
      case 'overrun':
        return concat(header(id, 0x0100, 1, 0, 0, 1), q, opt([0], 0, [0, 10, 0, 200, 1, 2]));
      case 'version':
        return concat(header(id, 0x0100, 1, 0, 0, 1), q, opt([0], v, []));
      case 'rdlen':
        return concat(header(id, 0x0100, 1, 0, 0, 1), q, opt([0], 0, junk, junk.length + 1 + v));
      default:
        return concat(header(id, 0x0100, 1, 0, 0, 1), q, opt([0], 0, junk));
    }
  });
const randomBytes = fc.uint8Array({ maxLength: 700 });
/** A valid query followed by garbage (also makes packets over 512 bytes). */
const trailing = fc.tuple(validQuery, fc.uint8Array({ minLength: 1, maxLength: 1200 })).map(([q, junk]) => concat(q, junk));

const packet = fc.oneof(truncated, flipped, badLabel, pointerLoop, oversized, wrongCounts, flags, junkOpt, randomBytes, trailing, validQuery);

// ---------------------------------------------------------------- checks

/** Rcodes a server may answer a malformed or odd query with; SERVFAIL would mean a plugin crashed. */
const ALLOWED = new Set<number>([RCODE.NOERROR, RCODE.FORMERR, RCODE.NOTIMP, RCODE.REFUSED, RCODE.BADVERS]);

/**
 * KNOWN ISSUE (whoami, reported): whoami builds its records from the presentation name, and
 * dns-packet's encoder knows no escapes, so a query name with a '.' or '\\' or a non-printable byte
 * inside a label, or one within 5 octets of the 255 limit (whoami's SRV owner adds "_udp."),
 * gets a malformed reply. Such queries are recognised here and counted instead of failing the run;
 * the `it.fails` below pins the issue down.
 */
function whoamiEscapeIssue(sent: Uint8Array): boolean {
  const h = new QueryHead();
  if (parseQuery(sent, h) !== Parse.OK) return false;
  return h.qname.includes('\\') || h.questionEnd - 12 - 4 > 250;
}
let knownIssues = 0;

function checkReply(sent: Uint8Array, got: Buffer): void {
  let m: ReturnType<typeof dnsPacket.decode>;
  try {
    m = dnsPacket.decode(got); // throws if the reply does not parse
  } catch (e) {
    if (whoamiEscapeIssue(sent)) {
      knownIssues++;
      return;
    }
    throw e;
  }
  expect(m.type).toBe('response');
  expect(got.readUInt16BE(0)).toBe((sent[0]! << 8) | sent[1]!); // the query's ID
  let rcode = got[3]! & 0xf;
  for (const a of m.additionals ?? []) if (a.type === 'OPT') rcode |= (a.extendedRcode ?? 0) << 4;
  expect(ALLOWED.has(rcode), `rcode ${rcode} for ${Buffer.from(sent).toString('hex')}`).toBe(true);
}

/** whoami's answer for the probe: the client's address in the additional section. */
function checkProbe(got: Buffer, id: number): void {
  const m = dnsPacket.decode(got);
  expect(m.id).toBe(id);
  expect(got[3]! & 0xf).toBe(RCODE.NOERROR);
  expect(m.questions?.[0]?.name).toBe('probe.example');
  expect(m.additionals?.some((a) => a.type === 'A' && a.data === '127.0.0.1')).toBe(true);
}

let srv: TestServer;
let udp: dgram.Socket;
const inbox: Buffer[] = [];
let waiter: (() => void) | undefined;

beforeAll(async () => {
  srv = await startServer('.:0 {\n bind 127.0.0.1\n whoami\n}');
  udp = dgram.createSocket('udp4');
  udp.on('message', (m) => {
    inbox.push(m);
    waiter?.();
  });
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
});

afterAll(async () => {
  udp?.close();
  await srv?.close();
});

const panics = async (): Promise<number> => (await srv.metrics.registry.getSingleMetric('coredns_panics_total')!.get()).values[0]?.value ?? 0;

/** Wait until a message with `id` that is the probe's reply arrives; return what came before it. */
async function untilProbe(id: number, timeout = 3000): Promise<{ before: Buffer[]; probe: Buffer }> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const i = inbox.findIndex((m) => m.length >= 12 && m.readUInt16BE(0) === id && m.includes(Buffer.from('probe')));
    if (i >= 0) {
      const before = inbox.splice(0, i);
      const probe = inbox.shift()!;
      return { before, probe };
    }
    if (Date.now() > deadline) throw new Error(`no probe reply within ${timeout} ms`);
    await new Promise<void>((r) => {
      waiter = r;
      setTimeout(r, 50);
    });
  }
}

describe('fuzzed packets', () => {
  it('UDP: every reply parses with an allowed rcode, and a correct query right after is answered', async () => {
    let replies = 0;
    await fc.assert(
      fc.asyncProperty(packet, async (p) => {
        inbox.length = 0;
        const id = p.length >= 2 ? ((p[0]! << 8) | p[1]!) ^ 0x5a5a : 0x5a5a;
        udp.send(p, srv.port, '127.0.0.1');
        udp.send(buildQuery('probe.example', 'A', { id }), srv.port, '127.0.0.1');
        const { before, probe } = await untilProbe(id);
        checkProbe(probe, id);
        expect(before.length).toBeLessThanOrEqual(1);
        for (const r of before) {
          checkReply(p, r);
          replies++;
        }
      }),
      { numRuns: 300 * RUNS },
    );
    expect(replies).toBeGreaterThan(50); // most malformed queries get FORMERR etc., not silence
    expect(await panics()).toBe(0);
  });

  it('TCP: each fuzzed frame gets at most one parseable reply, and the connection still answers', async () => {
    await fc.assert(
      fc.asyncProperty(packet, async (p) => {
        const id = p.length >= 2 ? ((p[0]! << 8) | p[1]!) ^ 0x5a5a : 0x5a5a;
        const frames: Buffer[] = [];
        const sock = net.connect({ host: '127.0.0.1', port: srv.port });
        let acc = Buffer.alloc(0);
        const probe = new Promise<Buffer>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error('no probe reply over TCP')), 3000);
          sock.on('data', (d) => {
            acc = Buffer.concat([acc, d]);
            while (acc.length >= 2 && acc.length >= 2 + acc.readUInt16BE(0)) {
              const f = acc.subarray(2, 2 + acc.readUInt16BE(0));
              acc = acc.subarray(2 + f.length);
              if (f.readUInt16BE(0) === id && f.includes(Buffer.from('probe'))) {
                clearTimeout(t);
                resolve(f);
              } else frames.push(f);
            }
          });
          sock.on('error', reject);
          sock.on('close', () => reject(new Error('connection closed before the probe reply')));
        });
        const frame = (b: Uint8Array): Buffer => {
          const out = Buffer.alloc(b.length + 2);
          out.writeUInt16BE(b.length);
          out.set(b, 2);
          return out;
        };
        sock.write(Buffer.concat([frame(p), frame(buildQuery('probe.example', 'A', { id }))]));
        try {
          checkProbe(await probe, id);
        } finally {
          sock.removeAllListeners('close');
          sock.destroy();
        }
        expect(frames.length).toBeLessThanOrEqual(1);
        for (const f of frames) checkReply(p, f);
      }),
      { numRuns: 150 * RUNS },
    );
    expect(await panics()).toBe(0);
  });

  it('whoami replies for names with escapes or near 255 octets parse (found by fuzzing)', async () => {
    const h = header(7, 0x0100, 1, 0, 0, 0);
    // counterexamples fast-check found: a label "0." (escaped "0\\."), and five 49-byte labels
    const fives = ([] as number[]).concat(...new Array<number[]>(5).fill([49, ...new Array<number>(49).fill(0x61)]), [0]);
    for (const name of [[2, 48, 46, 4, 65, 48, 97, 97, 1, 95, 5, 97, 97, 45, 97, 48, 0], fives]) {
      const p = concat(h, name, QTAIL);
      inbox.length = 0;
      udp.send(p, srv.port, '127.0.0.1');
      udp.send(buildQuery('probe.example', 'A', { id: 99 }), srv.port, '127.0.0.1');
      const { before } = await untilProbe(99);
      expect(before).toHaveLength(1);
      dnsPacket.decode(before[0]!);
    }
  });

  it('TCP: a stream of junk (bad framing) does not stop the server', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 3000 }), async (junk) => {
        await new Promise<void>((resolve) => {
          const sock = net.connect({ host: '127.0.0.1', port: srv.port }, () => {
            sock.end(junk);
            setTimeout(() => {
              sock.destroy();
              resolve();
            }, 5);
          });
          sock.on('error', () => resolve());
        });
      }),
      { numRuns: 50 },
    );
    const r = await srv.query('after.junk.example', 'A', { tcp: true });
    expect(r.rcode).toBe(RCODE.NOERROR);
    const u = await srv.query('after.junk.example', 'A');
    expect(u.rcode).toBe(RCODE.NOERROR);
  });
});

// ---------------------------------------------------------------- Corefile parser

describe('fuzzed Corefiles', () => {
  const registry = new PluginRegistry(builtinPlugins);
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'typedns-fuzz-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const vocab = [
    '{', '}', '{', '}', '\n', '\n', '\n', '.', '.:0', '.:53', 'example.org', 'example.org:1053', 'dns://.:53', 'tls://.', 'grpc://x', 'dns://',
    '10.0.0.0/24', '10.0.0.0/25', '10.0.0.0/17', 'fd00::/64', '[::1]:53', '[fd00::]/120:53', '::/0', '0.0.0.0/0', '1.2.3.4/33', '[', ']', ':', ':99999',
    'whoami', 'log', 'errors', 'bind', 'debug', 'import', 'import', '(snip)', 'snip', '(', ')', '()', '"quoted string"', '"', '\\', '#comment',
    '{$HOME}', '{%PATH%}', '{$}', 'fallthrough', 'class', 'denial', 'stacktrace', 'consolidate', '5s', '-1', '0', '99999999999999999999', '.*',
    '127.0.0.1', 'except', 'lo', '*', '*.conf', '../*', 'x,y', ',', '\t', '\r\n', '\uFEFF', 'é', '\u0000',
  ];
  const corefile = fc.array(fc.constantFrom(...vocab), { maxLength: 60 }).chain((toks) =>
    fc.array(fc.constantFrom(' ', ' ', '\n', ''), { minLength: toks.length, maxLength: toks.length }).map((seps) => toks.map((t, i) => t + seps[i]).join('')),
  );

  it('parseConfig succeeds or throws CorefileError/ConfigErrors, never another exception', () => {
    let ok = 0;
    fc.assert(
      fc.property(corefile, (text) => {
        try {
          parseConfig({ text, file: path.join(dir, 'Corefile') }, registry, 53, { HOME: '/home/x' });
          ok++;
        } catch (e) {
          if (e instanceof ConfigErrors) {
            expect(e.errors.length).toBeGreaterThan(0);
            for (const x of e.errors) expect(x).toBeInstanceOf(CorefileError);
          } else if (!(e instanceof CorefileError)) {
            throw new Error(`unexpected ${(e as Error)?.constructor?.name}: ${(e as Error)?.stack ?? String(e)}\nCorefile: ${JSON.stringify(text)}`);
          }
        }
      }),
      { numRuns: 2000 * RUNS },
    );
    expect(ok).toBeGreaterThan(0);
  });

  it('valid Corefiles with random whitespace and comments still parse', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(' ', '  ', '\t', '\n', ' # note\n', '\r\n'), { minLength: 6, maxLength: 6 }), (ws) => {
        const nl = (w: string | undefined): string => (w !== undefined && w.includes('\n') ? w : '\n');
        const text = `${ws[0]}.:0${ws[1]}{${nl(ws[2])}whoami${nl(ws[3])}log${nl(ws[4])}}${ws[5]}`;
        const cfg = parseConfig({ text, file: path.join(dir, 'Corefile') }, registry, 53);
        expect(cfg.blocks).toHaveLength(1);
        expect(cfg.blocks[0]!.directives.map((d) => d.def.name).sort()).toEqual(['log', 'whoami']);
      }),
      { numRuns: 200 },
    );
  });
});
