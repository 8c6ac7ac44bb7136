// HTTP(S) to the API server without @kubernetes/client-node for the common configurations
// (`endpoint` with `tls` and/or a bearer token, the in-cluster service account): one keep-alive
// agent holding the CA and client certificate, a token header (service account tokens re-read, as
// they rotate). Importing client-node costs ~80 MB RSS (~20 MB even bundled), a third of the
// process; it is loaded only for `kubeconfig FILE` (watch/kubeconfig.ts), where exec plugins and
// auth providers may be needed.
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';

/** How to reach the API: its base URL and the options of one request (agent, auth headers). */
export interface Transport {
  readonly server: string;
  options(): Promise<{ agent: http.Agent; headers: Record<string, string> }>;
  close(): void;
}

export const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface StaticCredentials {
  server: string;
  ca?: string;
  cert?: string;
  key?: string;
  token?: string;
  /** Read the bearer token from this file on every request (rotated service account tokens). */
  tokenFile?: string;
}

/** A transport for a server URL with files for CA / client certificate and a token. */
export function staticTransport(c: StaticCredentials): Transport {
  const server = c.server.replace(/\/+$/, '');
  const plain = server.startsWith('http:');
  const agent = plain
    ? new http.Agent({ keepAlive: true })
    : new https.Agent({
        keepAlive: true,
        ...(c.ca ? { ca: readFileSync(c.ca) } : {}),
        ...(c.cert ? { cert: readFileSync(c.cert) } : {}),
        ...(c.key ? { key: readFileSync(c.key) } : {}),
      });
  let fileToken = '';
  let readAt = 0;
  return {
    server,
    options() {
      const headers: Record<string, string> = {};
      let token = c.token;
      if (token === undefined && c.tokenFile !== undefined) {
        // Re-read at most once a minute (kubelet rotates well before expiry).
        if (Date.now() - readAt > 60_000) {
          fileToken = readFileSync(c.tokenFile, 'utf8').trim();
          readAt = Date.now();
        }
        token = fileToken;
      }
      if (token) headers['Authorization'] = `Bearer ${token}`;
      return Promise.resolve({ agent, headers });
    },
    close() {
      agent.destroy();
    },
  };
}

/** The in-cluster service account (KUBERNETES_SERVICE_HOST/PORT, its token and CA). */
export function inClusterCredentials(): StaticCredentials {
  const host = process.env['KUBERNETES_SERVICE_HOST'];
  const port = process.env['KUBERNETES_SERVICE_PORT'];
  if (!host || !port) throw new Error('not running in a cluster (KUBERNETES_SERVICE_HOST unset): set endpoint or kubeconfig');
  const h = host.includes(':') ? `[${host}]` : host;
  return { server: `https://${h}:${port}`, ca: `${SA_DIR}/ca.crt`, tokenFile: `${SA_DIR}/token` };
}

/**
 * `endpoint URL` (with `tls CERT KEY CA`; a bearer token from the environment variable `tokenEnv`,
 * else the pod's service account token; the pod's CA when no `tls` CA is given).
 */
export function endpointCredentials(endpoint: string, tls: { cert: string; key: string; ca: string } | undefined, tokenEnv: string): StaticCredentials {
  const server = endpoint.replace(/\/+$/, '');
  const plain = server.startsWith('http:');
  const c: StaticCredentials = { server };
  const ca = tls?.ca || (!plain && existsSync(`${SA_DIR}/ca.crt`) ? `${SA_DIR}/ca.crt` : '');
  if (ca) c.ca = ca;
  if (tls?.cert) c.cert = tls.cert;
  if (tls?.key) c.key = tls.key;
  const token = process.env[tokenEnv];
  if (token) c.token = token;
  else if (existsSync(`${SA_DIR}/token`)) c.tokenFile = `${SA_DIR}/token`;
  return c;
}
