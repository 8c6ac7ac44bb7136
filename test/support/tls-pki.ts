// Throw-away certificates for the DoT and DoH tests, made with the openssl CLI: the test CA's
// server and client certificates (makePki), plus a client certificate from another CA, an
// expired client certificate from the test CA, and an expired server certificate.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makePki, type TestPki } from './fake-apiserver.js';

export interface TlsPki extends TestPki {
  serverCertFile: string;
  serverKeyFile: string;
  /** A client certificate and key signed by a CA the server does not know. */
  strangerCertFile: string;
  strangerKeyFile: string;
  /** A client certificate from the test CA that expired in 2020. */
  expiredClientCertFile: string;
  /** A server certificate for 127.0.0.1 from the test CA that expired in 2020 (the key is serverKeyFile's). */
  expiredServerCertFile: string;
  read(file: string): string;
}

export const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

export function makeTlsPki(): TlsPki {
  const pki = makePki();
  const f = (n: string): string => join(pki.dir, n);
  const ssl = (...args: string[]): void => {
    execFileSync('openssl', args, { stdio: 'pipe', cwd: pki.dir });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  // another CA and a client certificate it signed
  ssl('req', '-x509', ...ec, '-keyout', f('other-ca.key'), '-out', f('other-ca.crt'), '-days', '2', '-subj', '/CN=someone-else-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  ssl('req', ...ec, '-keyout', f('stranger.key'), '-out', f('stranger.csr'), '-subj', '/CN=stranger');
  ssl('x509', '-req', '-in', f('stranger.csr'), '-CA', f('other-ca.crt'), '-CAkey', f('other-ca.key'), '-CAcreateserial',
    '-out', f('stranger.crt'), '-days', '2', '-extfile', f('client.ext'));
  // expired certificates: `openssl ca` is the one that takes explicit dates
  writeFileSync(f('index.txt'), '');
  writeFileSync(f('serial'), '1000\n');
  writeFileSync(f('ca.cnf'), [
    '[ca]', 'default_ca = d', '[d]', 'database = index.txt', 'new_certs_dir = .', 'serial = serial', 'default_md = sha256',
    'policy = p', 'unique_subject = no', 'copy_extensions = copy', '[p]', 'commonName = supplied', '',
  ].join('\n'));
  const expired = (csr: string, out: string, ext: string): void =>
    ssl('ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.crt', '-keyfile', 'ca.key', '-startdate', '20200101000000Z',
      '-enddate', '20200102000000Z', '-in', csr, '-out', out, '-notext', '-extfile', ext);
  expired('client.csr', 'client-expired.crt', 'client.ext');
  expired('server.csr', 'server-expired.crt', 'server.ext');
  return {
    ...pki,
    serverCertFile: f('server.crt'),
    serverKeyFile: f('server.key'),
    strangerCertFile: f('stranger.crt'),
    strangerKeyFile: f('stranger.key'),
    expiredClientCertFile: f('client-expired.crt'),
    expiredServerCertFile: f('server-expired.crt'),
    read: (file) => readFileSync(file, 'utf8'),
  };
}
