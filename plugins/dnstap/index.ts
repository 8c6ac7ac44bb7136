// dnstap: every client query and reply as a dnstap message (CLIENT_QUERY, CLIENT_RESPONSE) to a
// Frame Streams collector on a unix or TCP socket, and forward's queries to its upstreams
// (FORWARDER_QUERY, FORWARDER_RESPONSE, through tap.ts); `full` adds the wire messages. Sending never
// waits: messages queue (10,000 at most) while the collector is away, then are dropped and counted.
import os from 'node:os';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { definePlugin, nextSettled, WrappedWriter, type Message, type Request, type ResponseWriter } from '../../src/plugin/api.js';
// the core's writer (not in typedns/plugin): `full` sends the reply's final bytes, which its finish() makes
import { CoreWriter } from '../../src/request/writer.js';
import { ipBytes } from '../../src/plugin/api.js';
import { CLIENT_QUERY, CLIENT_RESPONSE, encodeDnstap, FORWARDER_QUERY, FORWARDER_RESPONSE, INET, INET6, TCP, UDP, type TapMessage } from './encode.js';
import { FrameStreamWriter, type Endpoint } from './framestream.js';
import type { DnstapPlugin, Forwarded } from './tap.js';

export interface DnstapConfig {
  endpoint: Endpoint;
  full: boolean;
  identity?: string;
  version?: string;
  extra?: string;
}

function endpointOf(arg: string): Endpoint | undefined {
  if (arg.startsWith('tcp://')) {
    const hp = arg.slice(6);
    const c = hp.lastIndexOf(':');
    if (c < 0) return undefined;
    const host = hp.slice(0, c).replace(/^\[|\]$/g, '');
    const port = Number(hp.slice(c + 1));
    if (net.isIP(host) === 0 || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
    return { host, port };
  }
  const path = arg.startsWith('unix://') ? arg.slice(7) : arg;
  return path === '' ? undefined : { path };
}

/** The writer under the wrappers, whose finish() gives the reply's final bytes. */
function coreOf(w: ResponseWriter): CoreWriter | undefined {
  let x = w;
  while (x instanceof WrappedWriter) x = x.inner;
  return x instanceof CoreWriter ? x : undefined;
}

function addressBytes(ip: string, family: 4 | 6): Uint8Array {
  return family === 4 ? Uint8Array.from(ip.split('.').map(Number)) : ipBytes(ip.split('%')[0]!)!;
}

export default definePlugin<DnstapConfig>({
  name: 'dnstap',
  api: '^1',
  once: true,
  parse(d) {
    d.next();
    const args = d.remainingArgs();
    if (args.length === 0) throw d.argErr();
    if (args[0] === 'listen') throw d.err("'dnstap listen' is not supported: give the collector's SOCKET or tcp://ADDR");
    const endpoint = endpointOf(args[0]!);
    if (endpoint === undefined) throw d.err(`invalid dnstap endpoint '${args[0]}', expected a socket path, unix://PATH or tcp://IP:PORT`);
    const rest = args.slice(1);
    if (rest.length > 1 || (rest.length === 1 && rest[0] !== 'full')) throw d.err(`unexpected '${rest.join(' ')}' after the endpoint, expected 'full'`);
    const cfg: DnstapConfig = { endpoint, full: rest[0] === 'full' };
    while (d.nextBlock()) {
      const key = d.val();
      if (key !== 'identity' && key !== 'version' && key !== 'extra') throw d.unknownProperty();
      const a = d.remainingArgs();
      if (a.length !== 1) throw d.argErr();
      cfg[key] = a[0]!;
    }
    return cfg;
  },
  setup(cfg, ctx) {
    const identity = Buffer.from(cfg.identity ?? os.hostname());
    const version = Buffer.from(cfg.version ?? `typedns-${ctx.process.version}`);
    const extra = cfg.extra === undefined ? undefined : Buffer.from(cfg.extra);
    let lastError = '';
    const out = new FrameStreamWriter(cfg.endpoint, (msg) => {
      if (msg !== lastError) ctx.log.warn(msg); // once per distinct error, not once per retry
      lastError = msg;
    });
    const report = setInterval(() => {
      if (out.dropped > 0) {
        ctx.log.warn(`Dropped dnstap messages: ${out.dropped}`);
        out.dropped = 0;
      }
    }, 10_000);
    report.unref();
    ctx.onStartup(() => out.start());
    ctx.onShutdown(async () => {
      clearInterval(report);
      await out.close();
    });
    const epochOf = (perfMs: number): number => performance.timeOrigin + perfMs;
    const base = (req: Request, type: number): TapMessage => ({
      type,
      family: req.client.family === 6 ? INET6 : INET,
      protocol: req.transport === 'tcp' ? TCP : UDP,
      queryAddress: addressBytes(req.client.ip, req.client.family),
      queryPort: req.client.port,
      queryTime: epochOf(req.start),
    });

    class TapWriter extends WrappedWriter {
      constructor(
        inner: ResponseWriter,
        private readonly req: Request,
      ) {
        super(inner);
      }
      override write(res: Message | Uint8Array): void {
        if (this.inner.written) return;
        let bytes: Uint8Array | undefined;
        if (cfg.full) {
          const core = coreOf(this.inner);
          bytes = res instanceof Uint8Array ? res : core?.finish(res);
        }
        this.inner.write(bytes ?? res);
        const m = base(this.req, CLIENT_RESPONSE);
        m.responseTime = epochOf(performance.now());
        if (bytes !== undefined) {
          m.queryMessage = this.req.wire;
          m.responseMessage = bytes;
        }
        out.write(encodeDnstap(m, identity, version, extra));
      }
    }

    const plugin: DnstapPlugin = {
      tap: {
        forwarded(req: Request, f: Forwarded): void {
          const v6 = net.isIPv6(f.host);
          const upstream = addressBytes(f.host, v6 ? 6 : 4);
          const fq: TapMessage = {
            type: FORWARDER_QUERY,
            family: v6 ? INET6 : INET,
            protocol: f.proto === 'tcp' ? TCP : UDP,
            responseAddress: upstream,
            responsePort: f.port,
            queryTime: epochOf(f.start),
          };
          if (cfg.full) fq.queryMessage = f.query;
          out.write(encodeDnstap(fq, identity, version, extra));
          if (f.reply === undefined) return;
          const fr: TapMessage = { ...fq, type: FORWARDER_RESPONSE, responseTime: epochOf(performance.now()) };
          delete fr.queryMessage;
          if (cfg.full) fr.responseMessage = f.reply;
          out.write(encodeDnstap(fr, identity, version, extra));
        },
      },
      serve(req, w, next) {
        const q = base(req, CLIENT_QUERY);
        if (cfg.full) q.queryMessage = req.wire;
        out.write(encodeDnstap(q, identity, version, extra));
        const tw = new TapWriter(w, req);
        // An rcode returned without a reply (forward's SERVFAIL when no upstream answered) is written
        // here, through the tap, so the reply the client gets is sent as CLIENT_RESPONSE too.
        return nextSettled(next, req, tw);
      },
    };
    return plugin;
  },
});
