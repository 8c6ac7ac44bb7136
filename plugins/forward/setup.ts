// forward's Corefile parsing and setup: every `forward FROM TO... { … }` line of a block becomes one
// ForwarderConfig, in Corefile order (parsing is pure apart from reading resolv.conf-style files
// named as TO); setupForward builds the metrics, upstreams and forwarders (the handler is forward.ts).
import { readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { Zones, encodeName, fqdn, rcodeFromName, type Dispenser, type Plugin, type SetupContext } from '../../src/plugin/api.js';
import { isDnstap, type ForwarderTap } from '../dnstap/tap.js';
import { Forwarder, forwardPlugin, BUCKETS, HC_TIMEOUT } from './forward.js';
import { Upstream } from './proxy.js';

export type Policy = 'random' | 'round_robin' | 'sequential';

export interface UpstreamAddr {
  host: string;
  port: number;
  /** The `to` metric label: "host:port" ("[::1]:53" for IPv6). */
  label: string;
  /** DNS-over-TLS (`tls://`) instead of plain DNS. */
  tls?: boolean;
  /** The TLS server name given in the address (`tls://IP%NAME`). */
  servername?: string;
}

export interface ForwarderConfig {
  from: string;
  to: UpstreamAddr[];
  except: string[];
  forceTcp: boolean;
  preferUdp: boolean;
  /** Cached TCP connection lifetime, ms. */
  expire: number;
  maxIdleConns: number;
  maxFails: number;
  /** Per-request cap on upstream attempts; 0 = no cap; -1 (unset) = 2 × upstreams. */
  maxConnectAttempts: number;
  /** Per-attempt read timeout, ms. */
  readTimeout: number;
  tls: { cert?: string; key?: string; ca?: string } | null;
  tlsServername: string;
  policy: Policy;
  healthCheck: { interval: number; recursionDesired: boolean; domain: string };
  maxConcurrent: number;
  next: number[];
  /** `next_on_nodata`: a NOERROR reply without answers goes to the next forward too. */
  nextOnNodata: boolean;
  failover: number[];
  failfastAllUnhealthy: boolean;
  /** Corefile position of the line, for logs. */
  where: string;
}

export interface ForwardConfig {
  forwarders: ForwarderConfig[];
}

export const MAX_UPSTREAMS = 15;

export function parseForward(d: Dispenser, blockZones: readonly string[]): ForwardConfig {
  const forwarders: ForwarderConfig[] = [];
  while (d.next()) {
    const tok = d.token();
    if (!d.nextArg()) throw d.argErr();
    const fromArg = d.val();
    let from: string;
    try {
      from = Zones.from([fromArg], blockZones).list[0] ?? fqdn(fromArg);
    } catch {
      throw d.err(`invalid FROM '${fromArg}'`);
    }
    const toArgs = d.remainingArgs();
    if (toArgs.length === 0) throw d.argErr();
    const to: UpstreamAddr[] = [];
    for (const t of toArgs) {
      for (const u of parseTo(d, t)) to.push(u);
    }
    if (to.length > MAX_UPSTREAMS) throw d.err(`more than ${MAX_UPSTREAMS} upstreams (${to.length})`);
    const f: ForwarderConfig = {
      from,
      to,
      except: [],
      forceTcp: false,
      preferUdp: false,
      expire: 10_000,
      maxIdleConns: 0,
      maxFails: 2,
      maxConnectAttempts: -1,
      readTimeout: 2000,
      tls: null,
      tlsServername: '',
      policy: 'random',
      healthCheck: { interval: 500, recursionDesired: true, domain: '.' },
      maxConcurrent: 0,
      next: [],
      nextOnNodata: false,
      failover: [],
      failfastAllUnhealthy: false,
      where: `${tok?.file ?? 'Corefile'}:${tok?.line ?? 0}`,
    };
    while (d.nextBlock()) parseOption(d, f);
    if (f.tlsServername !== '' && to.some((u) => u.servername !== undefined)) {
      throw d.err('tls_servername cannot be used together with a server name in a tls:// address (tls://IP%NAME)');
    }
    forwarders.push(f);
  }
  return { forwarders };
}

function parseOption(d: Dispenser, f: ForwarderConfig): void {
  const opt = d.val();
  const noArgs = (): void => {
    if (d.countRemainingArgs() !== 0) throw d.argErr();
  };
  const oneArg = (): string => {
    if (d.countRemainingArgs() !== 1) throw d.argErr();
    return d.arg();
  };
  switch (opt) {
    case 'except': {
      const names = d.remainingArgs();
      if (names.length === 0) throw d.argErr();
      for (const n of names) f.except.push(fqdn(n.toLowerCase()));
      break;
    }
    case 'force_tcp':
      noArgs();
      f.forceTcp = true;
      break;
    case 'prefer_udp':
      noArgs();
      f.preferUdp = true;
      break;
    case 'expire': {
      if (d.countRemainingArgs() !== 1) throw d.argErr();
      const ms = d.duration();
      if (ms < 0) throw d.err('expire must be positive');
      f.expire = ms;
      break;
    }
    case 'read_timeout': {
      if (d.countRemainingArgs() !== 1) throw d.argErr();
      const ms = d.duration();
      if (ms <= 0) throw d.err('read_timeout must be positive');
      f.readTimeout = ms;
      break;
    }
    case 'max_idle_conns':
      f.maxIdleConns = uintOnly(d);
      break;
    case 'max_fails':
      f.maxFails = uintOnly(d);
      break;
    case 'max_connect_attempts':
      f.maxConnectAttempts = uintOnly(d);
      break;
    case 'tls': {
      const a = d.remainingArgs();
      if (a.length > 3) throw d.argErr();
      const tls: { cert?: string; key?: string; ca?: string } = {};
      if (a.length === 1) tls.ca = a[0]!;
      else if (a.length >= 2) {
        tls.cert = a[0]!;
        tls.key = a[1]!;
        if (a[2] !== undefined) tls.ca = a[2];
      }
      f.tls = tls;
      break;
    }
    case 'tls_servername':
      f.tlsServername = oneArg();
      break;
    case 'policy': {
      const p = oneArg();
      if (p !== 'random' && p !== 'round_robin' && p !== 'sequential') throw d.err(`unknown policy '${p}', expected random, round_robin or sequential`);
      f.policy = p;
      break;
    }
    case 'health_check': {
      const n = d.countRemainingArgs();
      if (n < 1) throw d.argErr();
      const ms = d.duration();
      if (ms < 0) throw d.err('health_check duration must be positive');
      f.healthCheck.interval = ms;
      while (d.nextArg()) {
        const a = d.val();
        if (a === 'no_rec') f.healthCheck.recursionDesired = false;
        else if (a === 'domain') {
          if (!d.nextArg()) throw d.argErr();
          f.healthCheck.domain = fqdn(d.val().toLowerCase());
          try {
            encodeName(f.healthCheck.domain);
          } catch {
            throw d.err(`health_check: invalid domain name ${d.val()}`);
          }
        } else throw d.err(`health_check: unknown argument '${a}', expected no_rec or domain FQDN`);
      }
      break;
    }
    case 'max_concurrent':
      f.maxConcurrent = uintOnly(d);
      break;
    case 'next':
    case 'failover': {
      const codes = d.remainingArgs();
      if (codes.length === 0) throw d.argErr();
      const out: number[] = [];
      for (const c of codes) {
        const rc = rcodeFromName(c.toUpperCase());
        if (rc === undefined) throw d.err(`${opt}: unknown rcode '${c}'`);
        if (opt === 'failover' && rc === 0) throw d.err('failover: NOERROR cannot be used');
        out.push(rc);
      }
      if (opt === 'next') f.next = out;
      else f.failover = out;
      break;
    }
    case 'next_on_nodata':
      noArgs();
      f.nextOnNodata = true;
      break;
    case 'failfast_all_unhealthy_upstreams':
      noArgs();
      f.failfastAllUnhealthy = true;
      break;
    default:
      throw d.unknownProperty();
  }
}

function uintOnly(d: Dispenser): number {
  if (d.countRemainingArgs() !== 1) throw d.argErr();
  return d.uint(0, 2 ** 31 - 1);
}

/** One TO argument: host[:port], dns://host[:port], [v6]:port, tls://IP[%NAME][:port], or a resolv.conf-style file. */
function parseTo(d: Dispenser, arg: string): UpstreamAddr[] {
  const lower = arg.toLowerCase();
  if (lower.startsWith('https://') || lower.startsWith('https3://') || lower.startsWith('quic://') || lower.startsWith('grpc://')) {
    throw d.err(`'${arg}': DNS-over-HTTPS/QUIC/gRPC upstreams are not supported by typedns's forward; use dns:// or tls:// upstreams`);
  }
  if (lower.startsWith('tls://')) {
    const a = tlsAddr(arg.slice(6));
    if (a === undefined) throw d.err(`not a tls://IP[%NAME][:PORT] address: '${arg}' (hostname upstreams are not supported)`);
    return [a];
  }
  const hp = lower.startsWith('dns://') ? arg.slice(6) : arg;
  const addr = hostPort(hp);
  if (addr !== undefined) return [addr];
  if (!lower.startsWith('dns://') && isFile(arg)) {
    const list = resolvConf(readFileSync(arg, 'utf8'));
    if (list.length === 0) throw d.err(`no nameservers found in '${arg}'`);
    return list;
  }
  throw d.err(`not an IP address or file: '${arg}' (hostname upstreams are not supported)`);
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** "1.2.3.4", "1.2.3.4:53", "[::1]:53", "::1" → an address, or undefined. */
export function hostPort(s: string, defaultPort = 53): UpstreamAddr | undefined {
  let host = s;
  let port = defaultPort;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (v6) {
    host = v6[1]!;
    if (v6[2] !== undefined) port = Number(v6[2]);
  } else if (net.isIPv6(s)) {
    host = s;
  } else {
    const m = /^([^:]+):(\d+)$/.exec(s);
    if (m) {
      host = m[1]!;
      port = Number(m[2]);
    }
  }
  if (!net.isIP(host) || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { host, port, label: net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}` };
}

/** "IP[%NAME][:PORT]" or "[IPv6][%NAME][:PORT]" (also "[IPv6%NAME]:PORT") after tls://; port 853 by default. */
export function tlsAddr(s: string): UpstreamAddr | undefined {
  let rest = s;
  let servername: string | undefined;
  const pct = rest.indexOf('%');
  if (pct >= 0) {
    // The name runs from % to the port (":digits" at the end) or to "]" for a bracketed IPv6.
    const tail = rest.slice(pct + 1);
    const m = /^([^\]:]+)(\])?(:\d+)?$/.exec(tail);
    if (!m) return undefined;
    servername = m[1]!;
    rest = rest.slice(0, pct) + (m[2] ?? '') + (m[3] ?? '');
  }
  const a = hostPort(rest, 853);
  if (a === undefined) return undefined;
  a.tls = true;
  if (servername !== undefined) a.servername = servername;
  return a;
}

/** The nameserver lines of a resolv.conf. */
export function resolvConf(text: string): UpstreamAddr[] {
  const out: UpstreamAddr[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (!m) continue;
    const ip = m[1]!.replace(/%.*$/, '');
    const a = hostPort(ip);
    if (a) out.push(a);
  }
  return out;
}

/**
 * Client TLS options for a forwarder's tls:// upstreams: TLS ≥ 1.2, the server certificate checked
 * against the `tls` CA (or the system CAs), a client certificate with `tls CERT KEY [CA]`. The
 * files are read (and the context built) here, so a bad file fails the setup.
 */
function clientTls(f: ForwarderConfig): tls.ConnectionOptions {
  const t = f.tls ?? {};
  const read = (what: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new Error(`forward (${f.where}): tls ${what} '${file}': ${(e as Error).message}`);
    }
  };
  const o: tls.ConnectionOptions = { minVersion: 'TLSv1.2', rejectUnauthorized: true };
  if (t.ca !== undefined) o.ca = read('CA', t.ca);
  if (t.cert !== undefined && t.key !== undefined) {
    o.cert = read('CERT', t.cert);
    o.key = read('KEY', t.key);
  }
  try {
    o.secureContext = tls.createSecureContext(o);
  } catch (e) {
    throw new Error(`forward (${f.where}): tls: ${(e as Error).message}`);
  }
  return o;
}

function withServername(base: tls.ConnectionOptions, name: string): tls.ConnectionOptions {
  return name === '' ? base : { ...base, servername: name };
}

/** Metrics, upstreams and forwarders, labelled once; the handler is in forward.ts. */
export function setupForward(cfg: ForwardConfig, ctx: SetupContext): Plugin {
  const hist = ctx.metrics.family.fastHistogram(
    'coredns_proxy_request_duration_seconds',
    'Histogram of the time each request took.',
    ['proxy_name', 'to', 'rcode'],
    BUCKETS,
  );
  const hcFail = ctx.metrics.family.counter('coredns_proxy_healthcheck_failures_total', 'Counter of the number of failed healthchecks.', ['proxy_name', 'to', 'rcode']);
  const hits = ctx.metrics.family.fastCounter('coredns_proxy_conn_cache_hits_total', 'Counter of connection cache hits per upstream and protocol.', ['proxy_name', 'to', 'proto']);
  const misses = ctx.metrics.family.fastCounter('coredns_proxy_conn_cache_misses_total', 'Counter of connection cache misses per upstream and protocol.', ['proxy_name', 'to', 'proto']);
  const broken = ctx.metrics.counter('healthcheck_broken_total', 'Counter of the number of complete failures of the healthchecks.').labels();
  const rejects = ctx.metrics.counter('max_concurrent_rejects_total', 'Counter of the number of queries rejected because the concurrent queries were at maximum.').labels();
  const repliesRejected = ctx.metrics.fastCounter(
    'replies_rejected_total',
    'Counter of upstream replies not relayed: no query pending with their ID, a question that is not the query\'s, or a message that does not parse.',
    ['to', 'reason'],
  );
  // CoreDNS's forward looks up the block's dnstap handler at startup; here the typed seam of tap.ts
  const taps: { list: readonly ForwarderTap[] } = { list: [] };
  ctx.onStartup(() => {
    taps.list = ctx.plugins().flatMap((p) => (isDnstap(p.plugin) ? [p.plugin.tap] : []));
  });
  const forwarders = cfg.forwarders.map((f) => {
    const tlsBase = f.to.some((a) => a.tls) ? clientTls(f) : undefined;
    const proxies = f.to.map(
      (addr) =>
        new Upstream(addr, {
          ...(addr.tls && tlsBase ? { tls: withServername(tlsBase, addr.servername ?? f.tlsServername) } : {}),
          expire: f.expire,
          maxIdleConns: f.maxIdleConns,
          healthCheck: f.healthCheck,
          hcTcp: f.forceTcp,
          hcTimeout: Math.min(HC_TIMEOUT, f.readTimeout),
          connHits: { udp: hits.labels('forward', addr.label, 'udp'), tcp: hits.labels('forward', addr.label, 'tcp'), tls: hits.labels('forward', addr.label, 'tcp-tls') },
          connMisses: { udp: misses.labels('forward', addr.label, 'udp'), tcp: misses.labels('forward', addr.label, 'tcp'), tls: misses.labels('forward', addr.label, 'tcp-tls') },
          rejected: { id: repliesRejected.labels(addr.label, 'id'), question: repliesRejected.labels(addr.label, 'question'), malformed: repliesRejected.labels(addr.label, 'malformed') },
          hcFailures: hcFail.labels('forward', addr.label, ''),
          log: ctx.log,
        }),
    );
    return new Forwarder(f, proxies, hist, broken, taps);
  });

  return forwardPlugin(forwarders, rejects);
}
