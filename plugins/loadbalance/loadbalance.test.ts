// loadbalance through real sockets: round_robin varies the order (Message and wire-byte replies,
// compressed wire too), CNAMEs stay first, MX shuffles, prefer, limit_answers, weighted picks by
// weight and reloads its file, and Corefile errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import dnsPacket from 'dns-packet';
import { CorefileError, RCODE, type RR } from '../../src/plugin/api.js';
import { parsePlugin, responder, rrText, startServer, type TestServer } from '../../src/testing/index.js';
import loadbalance, { parseWeights } from './index.js';
import { reorderWire } from './shuffle.js';

const IPS = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.1.5'];

/** Manually compressed reply: question, then A records whose owner is a pointer to the question. */
function compressedReply(id: number, qname: string, ips: string[]): Buffer {
  const labels = qname.replace(/\.$/, '').split('.');
  const q = Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.of(l.length), Buffer.from(l)])), Buffer.of(0), Buffer.of(0, 1, 0, 1)]);
  const head = Buffer.from([id >> 8, id & 0xff, 0x84, 0x00, 0, 1, 0, ips.length, 0, 0, 0, 0]);
  const rrs = ips.map((ip) => Buffer.concat([Buffer.of(0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4), Buffer.from(ip.split('.').map(Number))]));
  return Buffer.concat([head, q, ...rrs]);
}

/**
 * Backend: "cname.*" → CNAME + addresses; "wire.*" → the same addresses as encoded wire bytes;
 * "packed.*" → compressed wire bytes; MX queries → four MX records; "fail.*" → SERVFAIL with records.
 */
const backend = responder('backend', (req, w) => {
  const n = req.name;
  const answers: RR[] = [];
  if (req.qtype === 15) {
    for (let i = 1; i <= 4; i++) answers.push({ name: n, type: 'MX', ttl: 60, class: 'IN', data: { preference: 10, exchange: `mx${i}.example.org` } });
  } else {
    if (n.startsWith('cname')) answers.push({ name: n, type: 'CNAME', ttl: 60, class: 'IN', data: 'www.example.org' });
    for (const ip of IPS) answers.push({ name: n.startsWith('cname') ? 'www.example.org' : n, type: 'A', ttl: 60, class: 'IN', data: ip });
  }
  const msg = { type: 'response' as const, id: req.id, flags: 0x8400 | (n.startsWith('fail') ? RCODE.SERVFAIL : 0), questions: [{ name: req.qname, type: 'A' as const, class: 'IN' as const }], answers };
  if (n.startsWith('packed')) w.write(compressedReply(req.id, req.qname, IPS));
  else if (n.startsWith('wire')) w.write(dnsPacket.encode(msg));
  else w.write(msg);
  return 0;
});

async function server(lb: string): Promise<TestServer> {
  return startServer(`.:0 {\n  bind 127.0.0.1\n  ${lb}\n  backend\n}\n`, { plugins: [backend] });
}

async function firsts(s: TestServer, name: string, type = 'A', n = 50): Promise<{ first: Map<string, number>; all: string[][] }> {
  const first = new Map<string, number>();
  const all: string[][] = [];
  for (let i = 0; i < n; i++) {
    const r = await s.query(name, type);
    const a = (r.msg.answers ?? []).map(rrText);
    all.push(a);
    const f = a.find((x) => !x.includes(' CNAME ')) ?? '';
    first.set(f, (first.get(f) ?? 0) + 1);
  }
  return { first, all };
}

describe('round_robin', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await server('loadbalance');
  });
  afterAll(() => s.close());

  for (const name of ['plain.example.org', 'wire.example.org', 'packed.example.org']) {
    it(`varies the order of A records (${name.split('.')[0]})`, async () => {
      const { first, all } = await firsts(s, name);
      expect(first.size).toBeGreaterThanOrEqual(2);
      for (const a of all) expect(a.map((x) => x.split(' ').pop()).sort()).toEqual(IPS);
      // the full orders differ too
      expect(new Set(all.map((a) => a.join('|'))).size).toBeGreaterThanOrEqual(2);
    });
  }

  it('keeps the CNAME first', async () => {
    const { first, all } = await firsts(s, 'cname.example.org');
    expect(first.size).toBeGreaterThanOrEqual(2);
    for (const a of all) expect(a[0]).toContain(' CNAME ');
  });

  it('shuffles MX records', async () => {
    const { first } = await firsts(s, 'mx.example.org', 'MX');
    expect(first.size).toBeGreaterThanOrEqual(2);
  });

  it('leaves other types and error replies alone', async () => {
    const { first } = await firsts(s, 'fail.example.org', 'A', 20);
    expect([...first.keys()]).toEqual(['fail.example.org. 60 IN A 10.0.0.1']);
  });
});

describe('prefer and limit_answers', () => {
  it('moves preferred subnets first', async () => {
    const s = await server('loadbalance round_robin {\n    prefer 10.0.1.0/24\n  }');
    try {
      for (const name of ['plain.example.org', 'packed.example.org']) {
        const { first } = await firsts(s, name, 'A', 20);
        expect([...first.keys()]).toEqual([`${name}. 60 IN A 10.0.1.5`]);
      }
    } finally {
      await s.close();
    }
  });

  it('limits the answer', async () => {
    const s = await server('loadbalance {\n    limit_answers 2\n  }');
    try {
      for (const name of ['plain.example.org', 'wire.example.org', 'packed.example.org']) {
        const r = await s.query(name, 'A');
        expect(r.msg.answers).toHaveLength(2);
      }
    } finally {
      await s.close();
    }
  });
});

describe('weighted', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-lb-'));
  const file = path.join(dir, 'weights');

  it('picks the first address by weight, and reloads the file', async () => {
    fs.writeFileSync(file, `# weights\nplain.example.org\n10.0.0.3 255\n10.0.0.1 1\n\nother.example.org\n10.0.0.1 5\n`);
    const s = await server(`loadbalance weighted ${file} {\n    reload 100ms\n  }`);
    try {
      const { first } = await firsts(s, 'plain.example.org', 'A', 100);
      expect(first.get('plain.example.org. 60 IN A 10.0.0.3') ?? 0).toBeGreaterThanOrEqual(85);
      // a name without weights: every address has weight 1, so the first one varies (as CoreDNS)
      const o = await firsts(s, 'wire.example.org', 'A', 40);
      expect(o.first.size).toBeGreaterThan(1);
      // flip the weights; wait for the reload to take effect
      fs.writeFileSync(file, `plain.example.org\n10.0.0.4 255\n10.0.0.3 1\n`);
      const deadline = Date.now() + 5000;
      let got = 0;
      while (Date.now() < deadline) {
        const f = await firsts(s, 'plain.example.org', 'A', 20);
        got = f.first.get('plain.example.org. 60 IN A 10.0.0.4') ?? 0;
        if (got >= 17) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(got).toBeGreaterThanOrEqual(17);
    } finally {
      await s.close();
    }
  });

  it('rejects bad weight files', () => {
    expect(() => parseWeights('a.example\n10.0.0.1 0\n', 'w')).toThrow(/w:2 .*invalid weight '0'/);
    expect(() => parseWeights('a.example\n10.0.0.1 256\n', 'w')).toThrow(/invalid weight/);
    expect(() => parseWeights('10.0.0.1 3\n', 'w')).toThrow(/before any domain/);
    expect(() => parseWeights('a.example\nnot-an-ip 3\n', 'w')).toThrow(/invalid address/);
    expect(parseWeights('a.example\n2001:db8::1 3\n', 'w').get('a.example.')?.size).toBe(1);
  });

  it('a missing weight file fails setup', async () => {
    await expect(server(`loadbalance weighted ${path.join(dir, 'nope')}`)).rejects.toThrow();
  });
});

describe('wire-level reorder', () => {
  it('falls back (null) when a later record points into the moving records', () => {
    const b = compressedReply(1, 'x.example.org', ['10.0.0.1', '10.0.0.2']);
    // append an additional record whose owner points at the second answer's owner (offset of that RR)
    const firstRR = 12 + 'x.example.org'.length + 2 + 4;
    const extra = Buffer.concat([Buffer.of(0xc0 | ((firstRR + 16) >> 8), (firstRR + 16) & 0xff, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4)]);
    const withExtra = Buffer.concat([b, extra]);
    withExtra[11] = 1;
    const order = { addresses: (ips: readonly string[]) => ips.map((_, i) => ips.length - 1 - i), mx: (n: number) => Array.from({ length: n }, (_, i) => i), limit: 0 };
    expect(reorderWire(withExtra, order)).toBeNull();
    const ok = reorderWire(b, order);
    expect(ok).not.toBeNull();
    expect(dnsPacket.decode(Buffer.from(ok!)).answers?.map((a) => (a as { data: unknown }).data)).toEqual(['10.0.0.2', '10.0.0.1']);
    // the input was not mutated
    expect(dnsPacket.decode(b).answers?.map((a) => (a as { data: unknown }).data)).toEqual(['10.0.0.1', '10.0.0.2']);
  });
});

describe('Corefile errors name file:line', () => {
  const bad: Array<[string, RegExp]> = [
    ['loadbalance random', /unknown policy 'random'/],
    ['loadbalance weighted', /missing weight file argument/],
    ['loadbalance round_robin extra', /unknown property 'extra'/],
    ['loadbalance weighted f {\n reload soon\n}', /invalid reload duration 'soon'/],
    ['loadbalance {\n reload 5s\n}', /only valid with the weighted policy/],
    ['loadbalance {\n prefer 10.0.0.0/33\n}', /invalid CIDR/],
    ['loadbalance {\n frob\n}', /unknown property 'frob'/],
  ];
  for (const [text, re] of bad) {
    it(text.replace(/\n/g, ' '), () => {
      let err: unknown;
      try {
        parsePlugin(loadbalance, text);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CorefileError);
      expect((err as CorefileError).message).toMatch(re);
      expect((err as CorefileError).message).toMatch(/^Testfile:\d+ /);
    });
  }
});
