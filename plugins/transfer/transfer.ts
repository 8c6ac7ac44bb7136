// The transfer handler: AXFR and IXFR queries over TCP for the zones of its stanzas, from the
// first plugin of the block that holds the zone (file, auto, secondary, kubernetes); everything else goes to the
// next plugin. IXFR is answered as CoreDNS does: a client whose serial is the same or newer gets
// the single current SOA, any other a full transfer (no history is kept). NOTIFY goes to the
// `to` addresses when a zone's serial changes and once its servers listen.
import { performance } from 'node:perf_hooks';
import { coreWriterOf, isSubdomain, QTYPE, RCODE, cidrContains, type Logger, type Plugin, type Rcode, type Request, type ResponseWriter, type RR, type SetupContext } from '../../src/plugin/api.js';
import type { Stanza, TransferConfig } from './setup.js';
import { joinHostPort } from './setup.js';
import { isTransferer, type Transferer, type XfrZone } from './source.js';
import { transferMessages } from './messages.js';
import { sendNotify } from './notify.js';

/** How long building messages may hold the event loop before other work runs (ms). */
const SLICE_MS = 8;
const yieldLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** RFC 1982: a is before b. */
export function serialLess(a: number, b: number): boolean {
  a >>>= 0;
  b >>>= 0;
  return a < b ? b - a <= 0x7fffffff : a - b > 0x7fffffff;
}

/** The stanza whose zone is the longest match for `name` (the first on a tie), as CoreDNS. */
function longestMatch(stanzas: readonly Stanza[], name: string): Stanza | undefined {
  let best: Stanza | undefined;
  let len = -1;
  for (const s of stanzas) {
    for (const z of s.zones) {
      if (z.length > len && isSubdomain(name, z)) {
        best = s;
        len = z.length;
      }
    }
  }
  return best;
}

const plainIp = (ip: string): string => (ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip);

function allowed(s: Stanza, ip: string): boolean {
  const a = plainIp(ip);
  for (const t of s.to) if (t.any || (t.range !== undefined && cidrContains(t.range, a))) return true;
  return false;
}

/** The client's serial from the SOA in an IXFR query's authority section (undefined: malformed). */
function ixfrSerial(req: Request): number | undefined {
  const ns = req.msg.authorities ?? [];
  const soa = ns.length === 1 ? ns[0] : undefined;
  return soa?.type === 'SOA' ? soa.data.serial : undefined;
}

/** The records, counted as they are pulled. */
function* counted(zone: XfrZone, n: { count: number }): Generator<RR> {
  for (const r of zone.records()) {
    n.count++;
    yield r;
  }
  n.count++;
  yield zone.soa;
}

export interface TransferPlugin extends Plugin {
  /** Send NOTIFY for `zone` to its stanza's addresses; resolves when every target answered or gave up. */
  notify(zone: string): Promise<void>;
}

export function createTransfer(cfg: TransferConfig, ctx: Pick<SetupContext, 'log' | 'onStartup' | 'onListening' | 'plugins'>): TransferPlugin {
  const log: Logger = ctx.log;
  let sources: Transferer[] = [];
  let closed = false;

  const notify = async (zone: string): Promise<void> => {
    const x = longestMatch(cfg.stanzas, zone);
    if (x === undefined || closed) return;
    const targets = x.to.filter((t) => t.notify !== undefined);
    if (targets.length === 0) return;
    await Promise.all(
      targets.map(async (t) => {
        const { host, port } = t.notify!;
        const why = await sendNotify(host, port, zone, undefined, undefined, x.source);
        if (why !== undefined) log.warn(`Failed sending notifies: notify for zone "${zone}" was not accepted by "${joinHostPort(host, port)}": ${why}`);
      }),
    );
    log.debug(`Sent notifies for zone "${zone}" to ${x.to.map((t) => t.text).join(' ')}`);
  };

  ctx.onStartup(() => {
    sources = ctx.plugins().map((p) => p.plugin as unknown).filter(isTransferer);
    for (const s of sources) s.onXfrChange((zone) => void notify(zone));
  });
  ctx.onListening(() => {
    // the zones loaded now are announced once (a secondary's first transfer is announced when it lands)
    for (const s of sources) for (const z of s.xfrZones()) if (s.xfrZone(z)) void notify(z);
  });

  async function stream(req: Request, w: ResponseWriter, zone: XfrZone): Promise<Rcode> {
    const core = coreWriterOf(w);
    if (core === undefined || !core.canStream) {
      req.trace?.note('this transport cannot carry a multi-message transfer: REFUSED');
      return RCODE.REFUSED;
    }
    const n = { count: 0 };
    let prev: Buffer | undefined;
    let since = performance.now();
    try {
      for (const m of transferMessages(req, counted(zone, n))) {
        if (prev !== undefined) await core.part(prev);
        prev = m;
        if (performance.now() - since > SLICE_MS) {
          await yieldLoop();
          since = performance.now();
        }
      }
    } catch (e) {
      log.error(`Outgoing transfer of zone "${zone.origin}" to ${req.client.ip} failed after ${n.count} records: ${(e as Error).message}`);
      return RCODE.SERVFAIL;
    }
    w.write(prev!);
    log.info(`Outgoing transfer of ${n.count} records of zone "${zone.origin}" to ${req.client.ip} for ${zone.serial} SOA serial`);
    return RCODE.NOERROR;
  }

  return {
    serve(req, w, next) {
      const qt = req.qtype;
      if (qt !== QTYPE.AXFR && qt !== QTYPE.IXFR) return next(req, w);
      if (req.transport !== 'tcp') {
        req.trace?.note('zone transfer over UDP: REFUSED');
        return RCODE.REFUSED;
      }
      const x = longestMatch(cfg.stanzas, req.name);
      if (x === undefined) return next(req, w);
      if (!allowed(x, req.client.ip)) {
        req.trace?.note(`${req.client.ip} is not in 'to': REFUSED`);
        w.write({ type: 'response', flags: RCODE.REFUSED, answers: [] });
        return RCODE.REFUSED;
      }
      let serial = 0;
      if (qt === QTYPE.IXFR) {
        const s = ixfrSerial(req);
        if (s === undefined) return RCODE.SERVFAIL;
        serial = s;
      }
      let zone: XfrZone | null | undefined;
      for (const s of sources) {
        zone = s.xfrZone(req.name, req);
        if (zone !== undefined) break;
      }
      if (zone === undefined) return next(req, w);
      if (zone === null) {
        req.trace?.note(`no copy of ${req.name} to transfer (not transferred in yet, or expired): SERVFAIL`);
        return RCODE.SERVFAIL;
      }
      if (qt === QTYPE.IXFR && !serialLess(serial, zone.serial)) {
        // up to date (or newer): the current SOA alone (RFC 1995 2)
        w.write({ type: 'response', flags: 0x0400, answers: [zone.soa] });
        log.info(`Outgoing noop, incremental transfer for up to date zone "${zone.origin}" to ${req.client.ip} for ${zone.serial} SOA serial`);
        return RCODE.NOERROR;
      }
      req.trace?.note(`${qt === QTYPE.IXFR ? `IXFR from serial ${serial}: no history, full transfer` : 'AXFR'} of ${zone.origin} serial ${zone.serial} to ${req.client.ip}`);
      return stream(req, w, zone);
    },
    notify,
    close() {
      closed = true;
    },
  };
}
