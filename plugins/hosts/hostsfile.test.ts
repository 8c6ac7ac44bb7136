import { describe, it, expect } from 'vitest';
import { rrText } from '../../src/plugin/api.js';
import { buildIndex, parseHosts } from './hostsfile.js';

const all = () => true;

describe('hosts file parsing and index', () => {
  it('reads comments, aliases, IPv6 with a zone, and skips junk', () => {
    const d = parseHosts('# c\n10.0.0.1 A.Example.org b.example.org # x\nfe80::1%eth0 a.example.org\nbogus x.example.org\n10.0.0.2\n10.0.0.1 a.example.org\n', all);
    expect([...d.v4]).toEqual([
      ['a.example.org.', ['10.0.0.1']],
      ['b.example.org.', ['10.0.0.1']],
    ]);
    expect([...d.v6]).toEqual([['a.example.org.', ['fe80::1']]]);
    expect(d.entries).toBe(3);
  });

  it('keeps only names the zones accept', () => {
    const d = parseHosts('10.0.0.1 a.example.org a.example.net\n', (n) => n.endsWith('example.org.'));
    expect([...d.v4.keys()]).toEqual(['a.example.org.']);
  });

  it('lets inline entries win per name and family, for PTR too', () => {
    const file = parseHosts('10.0.0.1 a.t\nfd00::1 a.t\n10.0.0.9 b.t\n', all);
    const inline = parseHosts('10.0.0.2 a.t\n10.0.0.9 c.t\n', all);
    const ix = buildIndex(inline, file, 30, true);
    expect(ix.a.get('a.t.')!.map(rrText)).toEqual(['a.t. 30 IN A 10.0.0.2']);
    expect(ix.aaaa.get('a.t.')!.map(rrText)).toEqual(['a.t. 30 IN AAAA fd00::1']);
    expect(ix.ptr.get('9.0.0.10.in-addr.arpa.')!.map(rrText)).toEqual(['9.0.0.10.in-addr.arpa. 30 IN PTR c.t.']);
    expect(ix.ptr.get('1.0.0.10.in-addr.arpa.')!.map(rrText)).toEqual(['1.0.0.10.in-addr.arpa. 30 IN PTR a.t.']);
    expect(buildIndex(inline, file, 30, false).ptr.size).toBe(0);
  });
});
