// auto through real servers: zones from a folder's files, picked up as files appear, change and
// disappear (CoreDNS's plugin/auto setup, walk and watcher tests as data).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePlugin, sortAndCheck, startServer, waitFor, type TestServer } from '../../src/testing/index.js';
import auto from './index.js';
import { originOf } from './setup.js';
import { fakeSecondary, transferFrom } from '../transfer/xfr-client.js';

const zoneText = (serial: number, www = '127.0.0.1'): string => `; testzone
@	IN	SOA	sns.dns.icann.org. noc.dns.icann.org. ${serial} 7200 3600 1209600 3600
		NS	a.iana-servers.net.
		NS	b.iana-servers.net.

www IN A ${www}
`;

describe('auto setup (CoreDNS setup_test.go as data)', () => {
  const ok: Array<[string, string, string, string, number]> = [
    // Corefile, directory, regexp source, template, reload ms
    ['auto example.org {\n directory /tmp\n}', '/tmp', 'db\\.(.*)', '{1}', 60_000],
    ['auto 10.0.0.0/24 {\n directory /tmp\n}', '/tmp', 'db\\.(.*)', '{1}', 60_000],
    ['auto {\n directory /tmp\n reload 0\n}', '/tmp', 'db\\.(.*)', '{1}', 0],
    ['auto {\n directory /tmp (.*) bliep\n}', '/tmp', '(.*)', 'bliep', 60_000],
    ['auto {\n directory /tmp (.*) bliep\n reload 10s\n}', '/tmp', '(.*)', 'bliep', 10_000],
  ];
  it.each(ok)('accepts %j', (text, dir, re, tpl, reload) => {
    const c = parsePlugin(auto, text, ['example.org.']);
    expect([c.directory, c.re.source, c.template, c.reload]).toEqual([dir, re, tpl, reload]);
  });
  const bad: Array<[string, string]> = [
    ['no_reload (deprecated)', 'auto {\n directory /tmp\n no_reload\n}'],
    ['timeout deprecated', 'auto {\n directory /tmp (.*) bliep 10\n}'],
    ['transfer inside auto (deprecated)', 'auto {\n directory /tmp (.*) bliep 10\n transfer to 127.0.0.1\n}'],
    ['no template', 'auto {\n directory /tmp (.*)\n}'],
    ['no directory', 'auto example.org {\n directory\n}'],
    ['illegal regexp', 'auto example.org {\n directory /tmp * {1}\n}'],
    ['no sub expression', 'auto example.org {\n directory /tmp db\\..* {1}\n}'],
    ['regexp too large', `auto {\n directory /tmp ${'a'.repeat(10_001)}(.*) {1}\n}`],
    ['reload without a value', 'auto {\n reload\n}'],
  ];
  it.each(bad)('rejects: %s', (_label, text) => {
    expect(() => parsePlugin(auto, text, ['.'])).toThrow();
  });
  it('makes origins from file names', () => {
    const def = parsePlugin(auto, 'auto {\n directory /tmp\n}');
    expect(originOf(def, 'db.example.org')).toBe('example.org.');
    expect(originOf(def, 'aa.example.org')).toBeUndefined();
    const www = parsePlugin(auto, 'auto {\n directory /tmp www\\.db\\.(.*) {1}\n}');
    expect(originOf(www, 'www.db.Example.COM')).toBe('example.com.');
    expect(originOf(www, 'db.example.com')).toBeUndefined();
  });
});

describe('auto over sockets', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-auto-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('serves the matching files of a folder and its subfolders, and only for its zones', async () => {
    const zones = path.join(dir, 'walk');
    fs.mkdirSync(path.join(zones, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(zones, 'db.example.org'), zoneText(1));
    fs.writeFileSync(path.join(zones, 'sub', 'db.example.com'), zoneText(1, '127.0.0.2'));
    fs.writeFileSync(path.join(zones, 'aa.example.net'), zoneText(1)); // no match for db\.(.*)
    fs.writeFileSync(path.join(zones, 'db.broken.test'), 'not a zone\n');
    const srv = await startServer(`.:0 {\n bind 127.0.0.1\n auto example.org example.com example.net broken.test {\n  directory ${zones}\n  reload 0\n }\n}`);
    try {
      sortAndCheck((await srv.query('www.example.org', 'A')).msg, { rcode: 'NOERROR', aa: true, answer: ['www.example.org. 3600 IN A 127.0.0.1'] });
      sortAndCheck((await srv.query('www.example.com', 'A')).msg, { rcode: 'NOERROR', aa: true, answer: ['www.example.com. 3600 IN A 127.0.0.2'] });
      sortAndCheck((await srv.query('nope.example.org', 'A')).msg, { rcode: 'NXDOMAIN', aa: true });
      // A zone of ours with no file, and a file that does not parse: REFUSED (nothing after auto).
      sortAndCheck((await srv.query('www.example.net', 'A')).msg, { rcode: 'REFUSED' });
      sortAndCheck((await srv.query('broken.test', 'SOA')).msg, { rcode: 'REFUSED' });
      expect(srv.log.lines.join('\n')).toMatch(/Parse zone 'broken\.test\.': .*db\.broken\.test:1:/);
      // Not one of auto's zones: the chain's end (no plugin answers).
      expect((await srv.query('www.example.edu', 'A')).rcode).toBe(2);
      // Zone transfers without the transfer plugin: REFUSED.
      sortAndCheck((await srv.query('example.org', 'AXFR', { tcp: true })).msg, { rcode: 'REFUSED' });
    } finally {
      await srv.close();
    }
  });

  it('picks up files as they appear, change and disappear; REFUSED when last, next plugin otherwise', async () => {
    const zones = path.join(dir, 'live');
    fs.mkdirSync(zones, { recursive: true });
    const alone = await startServer(`example.org:0 {\n bind 127.0.0.1\n auto {\n  directory ${zones}\n  reload 50ms\n }\n}`);
    const withNext = await startServer(`example.org:0 {\n bind 127.0.0.1\n auto {\n  directory ${zones}\n  reload 50ms\n }\n whoami\n}`);
    const RC: Record<number, string> = { 0: 'NOERROR', 3: 'NXDOMAIN', 5: 'REFUSED' };
    // Files are replaced whole (written aside, then renamed), as a deployment would: a walk never sees half a file.
    const put = (name: string, text: string): void => {
      fs.writeFileSync(path.join(dir, 'tmp-zone'), text);
      fs.renameSync(path.join(dir, 'tmp-zone'), path.join(zones, name));
    };
    const rcode = async (srv: TestServer, name = 'www.example.org'): Promise<string> => RC[(await srv.query(name, 'A')).rcode] ?? 'OTHER';
    const fromWhoami = async (): Promise<boolean> => {
      const m = (await withNext.query('www.example.org', 'A')).msg;
      return (m.answers ?? []).length === 0 && (m.additionals ?? []).some((a) => a.type === 'A' || a.type === 'AAAA');
    };
    try {
      expect(await rcode(alone)).toBe('REFUSED');
      expect(await fromWhoami()).toBe(true);
      put('db.example.org', zoneText(1));
      for (const srv of [alone, withNext]) {
        // (whoami answers NOERROR too: wait for the zone's own answer)
        await waitFor(async () => ((await srv.query('www.example.org', 'A')).msg.answers ?? []).length > 0, { timeout: 10_000, what: 'the new zone file to be served' });
        sortAndCheck((await srv.query('www.example.org', 'A')).msg, { aa: true, answer: ['www.example.org. 3600 IN A 127.0.0.1'] });
      }
      // A new serial is reloaded; the same serial is not.
      put('db.example.org', zoneText(1, '127.0.0.9'));
      put('db.marker.example.org', zoneText(1)); // another zone: its arrival shows a walk saw the change
      await waitFor(async () => (await rcode(alone, 'www.marker.example.org')) === 'NOERROR', { timeout: 10_000, what: 'the marker zone' });
      sortAndCheck((await alone.query('www.example.org', 'A')).msg, { answer: ['www.example.org. 3600 IN A 127.0.0.1'] });
      put('db.example.org', zoneText(2, '127.0.0.9'));
      await waitFor(async () => JSON.stringify((await alone.query('www.example.org', 'A')).msg.answers).includes('127.0.0.9'), { timeout: 10_000, what: 'the new serial' });
      // Removed: REFUSED when auto is last, the next plugin otherwise.
      fs.rmSync(path.join(zones, 'db.example.org'));
      await waitFor(async () => (await rcode(alone)) === 'REFUSED', { timeout: 10_000, what: 'the zone to be dropped' });
      await waitFor(fromWhoami, { timeout: 10_000, what: 'the zone to be dropped (whoami answers)' });
      expect(alone.log.lines.join('\n')).toMatch(/Deleting zone 'example\.org\.'/);
    } finally {
      await alone.close();
      await withNext.close();
    }
  });
});

describe('auto zones out by transfer (CoreDNS auto xfr.go / xfr_test.go)', () => {
  let dir: string;
  const closers: Array<() => void> = [];
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-auto-xfr-'));
  });
  afterAll(() => {
    for (const c of closers) c();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const put = (zones: string, name: string, text: string): void => {
    fs.writeFileSync(path.join(dir, 'tmp-zone'), text);
    fs.renameSync(path.join(dir, 'tmp-zone'), path.join(zones, name));
  };

  it('AXFR and IXFR of a loaded zone to `to` only; a name that is no loaded zone is not transferred', async () => {
    const zones = path.join(dir, 'axfr');
    fs.mkdirSync(zones);
    put(zones, 'db.example.org', zoneText(2016082534));
    const srv = await startServer(`example.org:0 example.net:0 {\n bind 127.0.0.1\n auto {\n  directory ${zones}\n  reload 0\n }\n transfer example.org example.net {\n  to 127.0.0.1\n }\n}`);
    try {
      const r = await transferFrom(srv.port, 'example.org.');
      expect(r.rcode).toBe(0);
      expect(r.records.map((a) => `${a.name} ${a.type}`)).toEqual(['example.org SOA', 'example.org NS', 'example.org NS', 'www.example.org A', 'example.org SOA']);
      expect(r.records[0]).toMatchObject({ data: { serial: 2016082534 } });
      // CoreDNS's TestAutoTransferZoneCase "case different": over the wire the name is compared in lower case
      expect((await transferFrom(srv.port, 'EXAMPLE.ORG.')).records).toHaveLength(5);
      // IXFR from the zone's serial: the SOA alone
      expect((await transferFrom(srv.port, 'example.org.', 'IXFR', { serial: 2016082534 })).records.map((a) => a.type)).toEqual(['SOA']);
      // a name inside the zone, and a zone of ours with no file ("no match"): not transferred
      expect((await transferFrom(srv.port, 'www.example.org.')).rcode).toBe(5);
      expect((await transferFrom(srv.port, 'example.net.')).rcode).toBe(5);
      // not from an address outside `to`
      const refused = await transferFrom(srv.port, 'example.org.', 'AXFR', { source: '127.0.0.2' });
      expect([refused.rcode, refused.records.length]).toEqual([5, 0]);
    } finally {
      await srv.close();
    }
  });

  it('NOTIFY for every loaded zone at start, for a zone that appears, and when a file takes a new serial', async () => {
    const sec = await fakeSecondary();
    closers.push(sec.close);
    const zones = path.join(dir, 'notify');
    fs.mkdirSync(zones);
    put(zones, 'db.example.org', zoneText(1));
    const srv = await startServer(`.:0 {\n bind 127.0.0.1\n auto {\n  directory ${zones}\n  reload 50ms\n }\n transfer {\n  to 127.0.0.1:${sec.port}\n }\n}`);
    const seen = (zone: string): number => sec.notifies.filter((n) => n.zone === zone).length;
    try {
      await waitFor(() => seen('example.org') === 1, { what: 'the start-up NOTIFY' });
      expect(sec.notifies[0]).toEqual({ zone: 'example.org', opcode: 4, aa: true });
      put(zones, 'db.example.com', zoneText(5));
      await waitFor(() => seen('example.com') === 1, { timeout: 10_000, what: 'the NOTIFY of a new zone' });
      // the same serial, another record: no NOTIFY (and no reload)
      put(zones, 'db.example.org', zoneText(1, '127.0.0.7'));
      put(zones, 'db.marker.test', zoneText(1));
      await waitFor(() => seen('marker.test') === 1, { timeout: 10_000, what: 'the marker zone (a walk saw the same-serial change)' });
      expect(seen('example.org')).toBe(1);
      put(zones, 'db.example.org', zoneText(2, '127.0.0.8'));
      await waitFor(() => seen('example.org') === 2, { timeout: 10_000, what: 'the NOTIFY after the new serial' });
      const r = await transferFrom(srv.port, 'example.org.');
      expect(r.records.find((a) => a.type === 'A')).toMatchObject({ name: 'www.example.org', data: '127.0.0.8' });
      expect(r.records[0]).toMatchObject({ data: { serial: 2 } });
    } finally {
      await srv.close();
    }
  });
});

describe('CoreDNS walk_test.go and watcher_test.go through real servers', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-auto-walk-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('TestWalkSymlinkedDirectory and TestSymlinks: a folder that is a link, and a zone file that is a link in a subfolder', async () => {
    const real = path.join(dir, 'real');
    fs.mkdirSync(path.join(real, '..data'), { recursive: true });
    fs.writeFileSync(path.join(real, 'db.example.org'), zoneText(1));
    fs.symlinkSync(path.join(real, 'db.example.org'), path.join(real, '..data', 'db.example.com'));
    const link = path.join(dir, 'zones');
    fs.symlinkSync(real, link);
    const srv = await startServer(`.:0 {\n bind 127.0.0.1\n auto {\n  directory ${link}\n  reload 0\n }\n}`);
    try {
      for (const z of ['example.org', 'example.com']) sortAndCheck((await srv.query(`www.${z}`, 'A')).msg, { rcode: 'NOERROR', aa: true, answer: [`www.${z}. 3600 IN A 127.0.0.1`] });
    } finally {
      await srv.close();
    }
  });

  it('TestWalkNonExistent: a folder that is not there is logged, and the server starts', async () => {
    const srv = await startServer(`.:0 {\n bind 127.0.0.1\n auto {\n  directory ${path.join(dir, 'highly_unlikely_to_exist_dir')}\n  reload 0\n }\n}`);
    try {
      expect(srv.log.lines.join('\n')).toMatch(/Directory does not exist/);
      expect((await srv.query('www.example.org', 'A')).rcode).toBe(5);
    } finally {
      await srv.close();
    }
  });

  it('TestWalkWarnsForDuplicateOrigin and TestWalkKeepsFirstMatchingFileForOrigin: the first file in walk order is used, one warning per walk', async () => {
    const zones = path.join(dir, 'dups');
    fs.mkdirSync(zones);
    fs.writeFileSync(path.join(zones, 'example.org.zone'), zoneText(1, '127.0.0.1'));
    fs.writeFileSync(path.join(zones, 'example.org.zone.bak-20260528'), zoneText(1, '127.0.0.66'));
    const srv = await startServer(`.:0 {\n bind 127.0.0.1\n auto {\n  directory ${zones} (.*)\\.zone {1}\n  reload 100ms\n }\n}`);
    try {
      sortAndCheck((await srv.query('www.example.org', 'A')).msg, { answer: ['www.example.org. 3600 IN A 127.0.0.1'] });
      const warnings = (): string[] => srv.log.lines.filter((l) => l.includes("Multiple zone files match origin 'example.org.'"));
      await waitFor(() => warnings().length >= 2, { timeout: 10_000, what: 'the warning of a second walk' });
      const first = warnings()[0]!;
      expect(first).toContain(`using '${path.join(zones, 'example.org.zone')}' instead of '${path.join(zones, 'example.org.zone.bak-20260528')}'`);
      sortAndCheck((await srv.query('www.example.org', 'A')).msg, { answer: ['www.example.org. 3600 IN A 127.0.0.1'] });
    } finally {
      await srv.close();
    }
  });
});
