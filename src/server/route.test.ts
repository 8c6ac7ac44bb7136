import { describe, expect, it } from 'vitest';
import { RouteTable, type Block } from './route.js';
import { QTYPE } from '../dns/constants.js';
import { parseCidr } from '../corefile/keys.js';

const block = (label: string, filters = new Map()): Block => ({ label, zones: [], port: 53, entry: undefined, plugins: [], filters, view: '', guard: undefined });

describe('RouteTable', () => {
  const t = new RouteTable();
  const root = block('root');
  const org = block('org');
  const sub = block('sub');
  t.add('.', root);
  t.add('example.org.', org);
  t.add('sub.example.org.', sub);

  it('longest zone suffix wins, root is the fallback', () => {
    expect(t.lookup('www.example.org.', QTYPE.A)?.block).toBe(org);
    expect(t.lookup('example.org.', QTYPE.A)?.block).toBe(org);
    expect(t.lookup('a.b.sub.example.org.', QTYPE.A)?.block).toBe(sub);
    expect(t.lookup('notexample.org.', QTYPE.A)?.block).toBe(root);
    expect(t.lookup('xsub.example.org.', QTYPE.A)?.block).toBe(org);
    expect(t.lookup('.', QTYPE.NS)?.block).toBe(root);
  });

  it('an escaped dot is not a label boundary', () => {
    expect(t.lookup('a\\.sub.example.org.', QTYPE.A)?.block).toBe(org);
  });

  it('DS at a zone apex goes to the parent zone', () => {
    expect(t.lookup('sub.example.org.', QTYPE.DS)?.block).toBe(org);
    expect(t.lookup('example.org.', QTYPE.DS)?.block).toBe(root);
    expect(t.lookup('x.sub.example.org.', QTYPE.DS)?.block).toBe(sub);
  });

  it('without a root zone, unknown names are not routed; DS at the only apex stays there', () => {
    const u = new RouteTable();
    u.add('example.org.', org);
    expect(u.lookup('example.com.', QTYPE.A)).toBeUndefined();
    expect(u.lookup('example.org.', QTYPE.DS)?.block).toBe(org);
  });

  it('classless reverse zones refuse addresses outside the range', () => {
    const r = new RouteTable();
    const rev = block('rev', new Map([['1.168.192.in-addr.arpa.', parseCidr('192.168.1.0/25')!]]));
    r.add('1.168.192.in-addr.arpa.', rev);
    expect(r.lookup('5.1.168.192.in-addr.arpa.', QTYPE.PTR)?.block).toBe(rev);
    expect(r.lookup('128.1.168.192.in-addr.arpa.', QTYPE.PTR)).toBeUndefined();
  });
});
