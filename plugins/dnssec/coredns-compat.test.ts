// CoreDNS's plugin/dnssec setup_test.go (TestSetupDnssec) replayed against typedns's parser and
// `typedns check`: the same Corefile snippets, with key pairs made by ldns-keygen (RSASHA1 as in
// CoreDNS's fixtures) under the names the table uses. Errors come back as file:line.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dispenser } from '../../src/plugin/api.js';
import { checkCorefile as checkErrors } from '../../test/support/check-corefile.js';
import { has, makeKey } from '../../test/support/dnssec.js';
import { DEFAULT_CAPACITY, parseDnssec } from './setup.js';

const haveKeygen = has('ldns-keygen');
if (!haveKeygen) console.warn('skipping the dnssec setup table: ldns-keygen (ldnsutils) not installed');

describe.skipIf(!haveKeygen)('CoreDNS setup_test.go (TestSetupDnssec)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typedns-dnssec-setup-'));
    const rename = (from: string, to: string): void => {
      for (const ext of ['.key', '.private']) fs.renameSync(`${from}${ext}`, path.join(dir, `${to}${ext}`));
    };
    rename(await makeKey(dir, 'cluster.local', { algorithm: 'RSASHA1' }), 'Kcluster.local');
    rename(await makeKey(dir, 'cluster.local', { algorithm: 'RSASHA1', ksk: true }), 'ksk_Kcluster.local');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  // [input, zones, split, capacity] — parses
  const good: Array<[string, string[], boolean, number]> = [
    ['dnssec', ['.'], false, DEFAULT_CAPACITY],
    ['dnssec example.org', ['example.org.'], false, DEFAULT_CAPACITY],
    ['dnssec 10.0.0.0/8', ['10.in-addr.arpa.'], false, DEFAULT_CAPACITY],
    ['dnssec example.org {\n  cache_capacity 100\n}', ['example.org.'], false, 100],
    ['dnssec cluster.local {\n  key file Kcluster.local\n}', ['cluster.local.'], false, DEFAULT_CAPACITY],
    ['dnssec example.org cluster.local {\n  key file Kcluster.local\n}', ['example.org.', 'cluster.local.'], false, DEFAULT_CAPACITY],
    ['dnssec cluster.local {\n  key file Kcluster.local\n  key file ksk_Kcluster.local\n}', ['cluster.local.'], true, DEFAULT_CAPACITY],
  ];
  it.each(good)('%s', (input, zones, split, capacity) => {
    const cfg = parseDnssec(Dispenser.from(input), ['.'], dir);
    expect(cfg.zones).toEqual(zones);
    expect(cfg.split).toBe(split);
    expect(cfg.capacity).toBe(capacity);
  });

  // [input, error] — fails, through `typedns check` with the line of the offending token
  const bad: Array<[string, string]> = [
    ['dnssec example.org {\n  key file Kcluster.local\n}', 'Corefile:3: plugin/dnssec: key cluster.local. (keyid: TAG) can not sign any of the zones'],
    ['dnssec example.org {\n  key\n}', "Corefile:3: plugin/dnssec: wrong argument count or unexpected line ending after 'key'"],
    ['dnssec example.org {\n  key file\n}', "Corefile:3: plugin/dnssec: wrong argument count or unexpected line ending after 'file'"],
    ['dnssec\ndnssec', ''],
    // typedns's own: a missing key file, a non-number capacity, an unknown property
    ['dnssec {\n  key file Knope\n}', 'Corefile:3: plugin/dnssec: no such key file: DIR/Knope.key'],
    ['dnssec {\n  cache_capacity many\n}', 'Corefile:3: plugin/dnssec: strconv.Atoi: parsing "many": invalid syntax'],
    ['dnssec {\n  nope\n}', "Corefile:3: plugin/dnssec: unknown property 'nope'"],
    ['dnssec {\n  key aws_secretsmanager Kexample\n}', "Corefile:3: plugin/dnssec: unsupported key source 'aws_secretsmanager', expected 'file'"],
  ];
  it.each(bad)('%s', (input, want) => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const errs = checkErrors(`.:53 {\n${input}\n}\n`);
      expect(errs).toHaveLength(1);
      if (want === '') return; // a second stanza: the "once" error
      const tag = /keyid: (\d+)/.exec(errs[0]!)?.[1] ?? '';
      expect(errs[0]!.replace(`keyid: ${tag}`, 'keyid: TAG').replace(fs.realpathSync(dir), 'DIR').replace(dir, 'DIR')).toBe(want);
    } finally {
      process.chdir(cwd);
    }
  });
});
