// Process-wide HTTP listeners for health, ready, prometheus and explain (exported to plugins
// through typedns/plugin): one server per address, kept in
// ctx.process.shared so it survives reloads (the new generation takes the route over before the
// old one lets go, so a reload never closes the port). Each route has a reference count: the
// listener closes when the last generation using it goes away (or the process stops).
//
// Each listener bounds what a client can hold (README "Limits"): request headers must arrive
// within headersTimeout and the whole request within requestTimeout (slowloris), a connection
// silent or idle between requests for idleTimeout is closed, and at most maxConnections are open
// (more are closed as soon as they are accepted), so HTTP clients cannot take the descriptors
// DNS over TCP needs.
import http from 'node:http';
import net from 'node:net';
import type { ProcessState } from '../plugin/types.js';
import { parseDuration, type Dispenser } from '../corefile/dispenser.js';

export interface HttpLimits {
  /** The request line and headers must arrive within this (ms). */
  headersTimeout: number;
  /** The whole request must arrive within this (ms); at least headersTimeout. */
  requestTimeout: number;
  /** A connection with nothing to do (silent, or kept alive between requests) is closed after this (ms). */
  idleTimeout: number;
  /** Open connections per listener at most. */
  maxConnections: number;
}

export const DEFAULT_HTTP: HttpLimits = { headersTimeout: 5000, requestTimeout: 10_000, idleTimeout: 5000, maxConnections: 100 };

const ENV: ReadonlyArray<[string, keyof HttpLimits]> = [
  ['TYPEDNS_HTTP_HEADERS_TIMEOUT', 'headersTimeout'],
  ['TYPEDNS_HTTP_REQUEST_TIMEOUT', 'requestTimeout'],
  ['TYPEDNS_HTTP_IDLE_TIMEOUT', 'idleTimeout'],
  ['TYPEDNS_HTTP_MAX_CONNECTIONS', 'maxConnections'],
];

/** The defaults with what the environment sets; throws on a value that is not a duration or a count. */
export function httpLimits(env: NodeJS.ProcessEnv = process.env): HttpLimits {
  const out = { ...DEFAULT_HTTP };
  for (const [name, key] of ENV) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    const n = key === 'maxConnections' ? (/^\d+$/.test(v) ? Number(v) : undefined) : parseDuration(v);
    if (n === undefined || !Number.isSafeInteger(n) || n <= 0) throw new Error(`${name}: invalid ${key === 'maxConnections' ? 'number' : 'duration'} '${v}'`);
    out[key] = n;
  }
  if (out.requestTimeout < out.headersTimeout) out.requestTimeout = out.headersTimeout;
  return out;
}

export type HttpHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

interface Route {
  handler: HttpHandler;
  owner: object;
}

interface Entry {
  readonly server: http.Server;
  readonly routes: Map<string, Route>;
  refs: number;
  /** host:port actually bound, usable as a URL authority for self-checks. */
  url: string;
  port: number;
}

/** A route held by one plugin instance. */
export interface HttpHandle {
  /** http://host:port of the listener (loopback when it listens on all interfaces). */
  readonly url: string;
  readonly port: number;
  /** True while this handle's handler is the one serving its path. */
  owns(): boolean;
  /** Drop the route (if still ours) and the listener when nobody uses it any more. */
  release(): Promise<void>;
}

/** Parse "[HOST]:PORT" (":8080", "localhost:9153", "[::1]:8080", "127.0.0.1:0"). */
export function parseAddress(addr: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(addr);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  const host = m[1] ?? m[2] ?? '';
  if (m[1] !== undefined && !net.isIPv6(host)) return undefined;
  return { host, port };
}

/** Read an optional ADDRESS argument in a plugin's parse, defaulting to `def`. */
export function addressArg(d: Dispenser, def: string): string {
  const args = d.remainingArgs();
  if (args.length > 1) throw d.argErr();
  const addr = args[0] ?? def;
  if (parseAddress(addr) === undefined) throw d.err(`invalid address '${addr}', expected [HOST]:PORT`);
  return addr;
}

class HttpListeners {
  private readonly byAddr = new Map<string, Promise<Entry>>();

  async acquire(addr: string, path: string, handler: HttpHandler): Promise<HttpHandle> {
    let p = this.byAddr.get(addr);
    if (p === undefined) {
      p = open(addr);
      this.byAddr.set(addr, p);
      p.catch(() => this.byAddr.delete(addr));
    }
    const entry = await p;
    const owner = {};
    entry.routes.set(path, { handler, owner });
    entry.refs++;
    let released = false;
    return {
      url: entry.url,
      port: entry.port,
      owns: () => entry.routes.get(path)?.owner === owner,
      release: async () => {
        if (released) return;
        released = true;
        if (entry.routes.get(path)?.owner === owner) entry.routes.delete(path);
        if (--entry.refs > 0) return;
        if (this.byAddr.get(addr) === p) this.byAddr.delete(addr);
        await closeServer(entry.server);
      },
    };
  }

  /** Process stop: close every listener. */
  async close(): Promise<void> {
    const all = [...this.byAddr.values()];
    this.byAddr.clear();
    await Promise.all(all.map(async (p) => closeServer((await p).server).catch(() => undefined)));
  }
}

function open(addr: string): Promise<Entry> {
  const a = parseAddress(addr);
  if (a === undefined) return Promise.reject(new Error(`invalid address '${addr}'`));
  let lim: HttpLimits;
  try {
    lim = httpLimits();
  } catch (e) {
    return Promise.reject(e as Error);
  }
  const routes = new Map<string, Route>();
  const opts: http.ServerOptions = {
    headersTimeout: lim.headersTimeout,
    requestTimeout: lim.requestTimeout,
    keepAliveTimeout: lim.idleTimeout,
    // how often the header and request deadlines are checked (Node's default is every 30 s)
    connectionsCheckingInterval: Math.max(20, Math.min(1000, lim.headersTimeout / 4)),
  };
  const server = http.createServer(opts, (req, res) => {
    const q = req.url ?? '/';
    const path = q.includes('?') ? q.slice(0, q.indexOf('?')) : q;
    const r = routes.get(path);
    if (r === undefined) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('404 page not found\n');
      return;
    }
    try {
      r.handler(req, res);
    } catch (e) {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(`${(e as Error).message}\n`);
    }
  });
  server.maxConnections = lim.maxConnections;
  // a connection that never sends a byte is not covered by headersTimeout: inactivity closes it
  server.timeout = lim.idleTimeout;
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new Error(`listen tcp ${addr}: ${e.code ?? e.message}`)));
    server.listen({ host: a.host === '' ? undefined : a.host, port: a.port }, () => {
      server.removeAllListeners('error');
      server.on('error', () => {});
      const bound = server.address() as net.AddressInfo;
      const ip = bound.address === '::' || bound.address === '0.0.0.0' ? '127.0.0.1' : bound.address;
      const url = `http://${net.isIPv6(ip) ? `[${ip}]` : ip}:${bound.port}`;
      server.unref();
      resolve({ server, routes, refs: 0, url, port: bound.port });
    });
  });
}

function closeServer(s: http.Server): Promise<void> {
  return new Promise((resolve) => {
    s.close(() => resolve());
    s.closeAllConnections();
  });
}

/** Under `typedns explain` no HTTP listener is opened: routes are taken and never served. */
const UNBOUND = {
  acquire: async (): Promise<HttpHandle> => ({ url: '', port: 0, owns: () => false, release: async () => {} }),
  close: async (): Promise<void> => {},
};

/** The process-wide HTTP listeners (closed by the server when the process stops). */
export function httpListeners(proc: ProcessState): Pick<HttpListeners, 'acquire' | 'close'> {
  if (proc.explaining === true) return UNBOUND;
  return proc.shared('typedns/http-listeners', () => new HttpListeners());
}

/** Write a plain-text reply. */
export function httpText(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
