// loop: detects a forwarding loop at startup. Once the block's sockets are bound it sends
// "<random>.<random>.<zone> HINFO" to its own address; if that query comes back through this
// plugin more than twice, queries are going round in circles (typically forward → a resolver
// that is this server), and the process stops with a fatal error, as CoreDNS does, so that
// Kubernetes shows CrashLoopBackOff instead of a pod burning CPU. Probing stops after the first
// exchange that gets an answer (or after 30 s), and the plugin then costs one branch per query.
import dgram from 'node:dgram';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import dnsPacket from 'dns-packet';
import { definePlugin, QTYPE, type BoundAddress, type Plugin } from '../../src/plugin/api.js';

/** How long to keep probing when the probe gets no answer at all. */
export const PROBE_FOR = 30_000;
/** Per-attempt timeout. */
export const PROBE_TIMEOUT = 2_000;
/** More sightings than this = loop. */
export const MAX_SEEN = 2;

export interface LoopPlugin extends Plugin {
  /** The probe's name (lower case, fully qualified) once probing started. */
  readonly probe: string | undefined;
  readonly disabled: boolean;
}

/** A random label from crypto (CoreDNS switched to crypto/rand for CVE-2026-26018). */
function randomLabel(): string {
  return BigInt(`0x${randomBytes(8).toString('hex')}`).toString();
}

export default definePlugin<Record<string, never>>({
  name: 'loop',
  api: '^1',
  once: true,
  parse(d) {
    d.next();
    if (d.countRemainingArgs() > 0) throw d.argErr();
    if (d.nextBlock()) throw d.unknownProperty();
    return {};
  },
  setup(_cfg, ctx): LoopPlugin {
    const zone = ctx.zones[0] ?? '.';
    const qHINFO = QTYPE.HINFO ?? 13;
    let probe: string | undefined;
    let seen = 0;
    let disabled = false;
    let closed = false;
    let listenAddr = `:${ctx.server.port}`;
    let sock: dgram.Socket | undefined;
    let timer: NodeJS.Timeout | undefined;

    const stopProbing = (): void => {
      disabled = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      try {
        sock?.close();
      } catch {
        // already closed
      }
      sock = undefined;
    };

    const startProbing = (addrs: readonly BoundAddress[]): void => {
      if (closed) return;
      const a = addrs[0];
      if (a === undefined) {
        disabled = true;
        return;
      }
      const any = a.ip === '::' || a.ip === '0.0.0.0' || a.ip === '';
      listenAddr = `${any ? '' : a.ip}:${a.port}`;
      const target = any ? (a.ip === '::' ? '::1' : '127.0.0.1') : a.ip;
      probe = `${randomLabel()}.${randomLabel()}.${zone === '.' ? '' : zone}`.toLowerCase();
      const s = dgram.createSocket(net.isIPv6(target) ? 'udp6' : 'udp4');
      sock = s;
      s.unref();
      s.on('error', () => {});
      let id = 0;
      s.on('message', (msg) => {
        if (msg.length >= 2 && msg.readUInt16BE(0) === id) {
          ctx.log.debug(`probe ${probe} answered, loop detection off`);
          stopProbing();
        }
      });
      const deadline = Date.now() + PROBE_FOR;
      const send = (): void => {
        if (disabled || closed) return;
        if (Date.now() > deadline) return stopProbing();
        id = randomBytes(2).readUInt16BE(0);
        const q = dnsPacket.encode({ id, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name: probe!.replace(/\.$/, ''), type: 'HINFO', class: 'IN' }] });
        s.send(q, a.port, target);
        timer = setTimeout(send, PROBE_TIMEOUT);
        timer.unref();
      };
      send();
    };
    ctx.onListening(startProbing);

    return {
      get probe() {
        return probe;
      },
      get disabled() {
        return disabled;
      },
      serve(req, w, next) {
        if (disabled || probe === undefined || req.qtype !== qHINFO || req.name !== probe) return next(req, w);
        seen++;
        if (seen > MAX_SEEN) {
          stopProbing();
          ctx.process.fatal(
            `plugin/loop: Loop (${req.client.ip}:${req.client.port} -> ${listenAddr}) detected for zone "${zone}", see https://coredns.io/plugins/loop#troubleshooting. Query: "HINFO ${req.qname}"`,
          );
        }
        return next(req, w);
      },
      close() {
        closed = true;
        stopProbing();
      },
    };
  },
});
