// The secondary handler: zones pulled by AXFR from their primaries and answered from memory, as
// file answers its zones. At start each zone is transferred, retried with a growing pause (250 ms,
// doubling, at most 10 s) until a primary gives it. Then the SOA timers run (RFC 1035 3.3.13,
// RFC 1996): every `refresh` seconds the primaries' serial is asked (over TCP) and a newer one is
// transferred; when that fails it is tried again every `retry` seconds, and once `expire` seconds
// have passed since the last successful check the zone answers SERVFAIL until a check succeeds.
// A NOTIFY from a primary's address is acknowledged and the serial checked at once; one from any
// other address is dropped. While a check or transfer fails the copy in hand keeps answering.
import { DROP, emptyReply, FLAG, isSubdomain, QTYPE, RCODE, type Logger, type Plugin, type Request, type ResponseWriter, type RR, type SetupContext } from '../../src/plugin/api.js';
import { Zone } from '../file/zone.js';
import { withExternal } from '../file/file.js';
import type { ZoneRecord } from '../file/zonefile.js';
import type { Transferer } from '../transfer/source.js';
import { serialLess } from '../transfer/transfer.js';
import { axfrIn, soaSerial, type Primary } from './client.js';
import { primaryText, type SecondaryConfig } from './setup.js';
import { typeFromName } from '../../src/plugin/api.js';

const OPCODE_NOTIFY = 4;
/** Start-up transfer retries: from 250 ms, doubling, at most 10 s (CoreDNS). */
const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 10_000;
/** Random delay added before a refresh (at most 5 s) and a retry (at most 2 s), as CoreDNS; never more than a tenth of the interval. */
const jitter = (interval: number, max: number): number => Math.floor(Math.random() * Math.min(max, interval / 10));

const plainIp = (ip: string): string => (ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip);
const ownerOf = (name: string): string => (name === '.' || name === '' ? '.' : `${name.toLowerCase()}.`);

/** A Zone (file's) of transferred records. */
export function zoneOf(origin: string, records: readonly RR[]): Zone {
  const z = new Zone(origin);
  for (const rr of records) {
    const qtype = typeFromName(rr.type.startsWith('UNKNOWN_') ? `TYPE${rr.type.slice(8)}` : rr.type) ?? 0;
    z.add({ owner: ownerOf(rr.name), qtype, rr, line: 0 } satisfies ZoneRecord);
  }
  return z.seal();
}

interface SoaTimers {
  refresh: number;
  retry: number;
  expire: number;
}

const timersOf = (z: Zone): SoaTimers => {
  const d = (z.soa as { data: { refresh: number; retry: number; expire: number } }).data;
  return { refresh: d.refresh * 1000, retry: d.retry * 1000, expire: d.expire * 1000 };
};

class SecondaryZone {
  zone: Zone | undefined;
  expired = false;
  private timer: NodeJS.Timeout | undefined;
  /** When the primaries were last asked successfully (performance-free: Date.now()). */
  private lastOk = 0;
  private running: Promise<void> | undefined;
  private again = false;
  closed = false;

  constructor(
    readonly origin: string,
    readonly from: readonly Primary[],
    private readonly log: Logger,
    private readonly changed: (zone: string) => void,
    /** Copies kept for the next configuration generation (a Corefile reload), by origin and primaries. */
    private readonly kept: Map<string, Zone>,
  ) {
    this.zone = kept.get(this.key);
  }

  get key(): string {
    return `${this.origin} ${this.from.map(primaryText).join(' ')}`;
  }

  /** Transfer the zone from the first primary that gives it; swaps it in. */
  private async transferIn(): Promise<void> {
    let last: Error | undefined;
    for (const p of this.from) {
      try {
        const records = await axfrIn(p, this.origin);
        if (this.closed) return;
        const z = zoneOf(this.origin, records);
        this.zone = z;
        this.kept.set(this.key, z);
        this.expired = false;
        this.log.info(`Transferred: ${this.origin} from ${primaryText(p)} with serial ${z.serial} (${records.length} records)`);
        this.changed(this.origin);
        return;
      } catch (e) {
        last = e as Error;
        if (!this.closed) this.log.error(`Failed to transfer '${this.origin}' from "${primaryText(p)}": ${last.message}`);
      }
    }
    throw last ?? new Error('no primary');
  }

  /** Ask the primaries for their serial; transfer when it is newer than ours. Throws when every primary fails. */
  private async check(): Promise<void> {
    let remote: number | undefined;
    let last: Error | undefined;
    for (const p of this.from) {
      try {
        remote = await soaSerial(p, this.origin);
        if (remote !== undefined) break;
      } catch (e) {
        last = e as Error;
      }
    }
    if (remote === undefined) throw last ?? new Error('no SOA in the primaries\' answers');
    if (this.zone === undefined || serialLess(this.zone.serial, remote)) await this.transferIn();
    else this.log.debug(`zone '${this.origin}': primary serial ${remote}, ours ${this.zone.serial}: up to date`);
  }

  start(): void {
    if (this.from.length === 0) return;
    if (this.zone !== undefined) {
      // the copy of the previous configuration answers; its serial is checked now
      this.lastOk = Date.now();
      void this.tick('refresh');
      return;
    }
    let pause = FIRST_RETRY_MS;
    const attempt = async (): Promise<void> => {
      this.timer = undefined;
      try {
        await this.run(() => this.transferIn());
        this.succeeded();
      } catch (e) {
        if (this.closed) return;
        this.log.warn(`All '${this.origin}' masters failed to transfer, retrying in ${pause} ms: ${(e as Error).message}`);
        this.timer = setTimeout(() => void attempt(), pause);
        this.timer.unref();
        pause = Math.min(pause * 2, MAX_RETRY_MS);
      }
    };
    void attempt();
  }

  /** One check or transfer at a time; a request during one runs once more after it. */
  private async run(fn: () => Promise<void>): Promise<void> {
    while (this.running !== undefined) await this.running.catch(() => undefined);
    const p = fn();
    this.running = p;
    try {
      await p;
    } finally {
      this.running = undefined;
    }
  }

  /** The primaries answered: the zone is live, the next refresh is due after `refresh`. */
  private succeeded(): void {
    if (this.closed || this.zone === undefined) return;
    this.lastOk = Date.now();
    if (this.expired) this.log.info(`zone '${this.origin}' is no longer expired`);
    this.expired = false;
    const t = timersOf(this.zone);
    this.schedule(t.refresh + jitter(t.refresh, 5000), 'refresh');
  }

  private schedule(ms: number, why: 'refresh' | 'retry'): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(why), ms);
    this.timer.unref();
  }

  private async tick(why: 'refresh' | 'retry'): Promise<void> {
    this.timer = undefined;
    try {
      await this.run(() => this.check());
      this.succeeded();
    } catch (e) {
      if (this.closed || this.zone === undefined) return;
      const t = timersOf(this.zone);
      this.log.warn(`Failed ${why} check of '${this.origin}': ${(e as Error).message}`);
      if (!this.expired && Date.now() - this.lastOk >= t.expire) {
        this.expired = true;
        this.log.error(`Zone ${this.origin} is expired: no primary answered for ${t.expire / 1000} s`);
      }
      // retry, but never later than the moment the zone expires
      const untilExpiry = this.lastOk + t.expire - Date.now();
      const next = this.expired ? t.retry : Math.min(t.retry + jitter(t.retry, 2000), Math.max(untilExpiry, 0));
      this.schedule(next, 'retry');
    }
  }

  /** A NOTIFY from a primary: check the serial now. */
  notified(ip: string): void {
    this.log.info(`Notify from ${ip} for ${this.origin}: checking transfer`);
    void this.tick('refresh');
  }

  isPrimary(ip: string): boolean {
    const a = plainIp(ip);
    return this.from.some((p) => p.host === a);
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
  }
}

export function createSecondary(cfg: SecondaryConfig, ctx: Pick<SetupContext, 'log' | 'onListening' | 'lookup' | 'process'>): Plugin & Transferer {
  const log = ctx.log;
  const listeners: Array<(zone: string) => void> = [];
  const changed = (zone: string): void => {
    for (const fn of listeners) fn(zone);
  };
  // longest origin first: the first match is the most specific zone
  const kept = ctx.process.shared('secondary.zones', () => new Map<string, Zone>());
  const zones = cfg.zones.map((z) => new SecondaryZone(z.origin, z.from, log, changed, kept)).sort((a, b) => b.origin.length - a.origin.length);
  ctx.onListening(() => {
    for (const z of zones) z.start();
  });
  const byOrigin = new Map(zones.map((z) => [z.origin, z]));

  return {
    serve(req: Request, w: ResponseWriter, next) {
      const name = req.name;
      let s: SecondaryZone | undefined;
      for (const z of zones) {
        if (isSubdomain(name, z.origin)) {
          s = z;
          break;
        }
      }
      if (s === undefined) return next(req, w);
      if (((req.wire[2]! >> 3) & 0xf) === OPCODE_NOTIFY) {
        if (!s.isPrimary(req.client.ip)) {
          log.info(`Dropping notify from ${req.client.ip} for ${s.origin}`);
          req.trace?.note(`NOTIFY from ${req.client.ip}, not a primary of ${s.origin}: dropped`);
          return DROP;
        }
        w.write(emptyReply(req.wire, req.questionEnd, RCODE.NOERROR, FLAG.AA, req.edns, req.do));
        s.notified(req.client.ip);
        return RCODE.NOERROR;
      }
      if (req.qtype === QTYPE.AXFR || req.qtype === QTYPE.IXFR) return RCODE.REFUSED; // the transfer plugin's, when configured
      const zone = s.zone;
      if (zone === undefined || s.expired) {
        if (s.expired) log.error(`Zone ${s.origin} is expired`);
        req.trace?.note(zone === undefined ? `${s.origin} not transferred yet: SERVFAIL` : `${s.origin} is expired: SERVFAIL`);
        return RCODE.SERVFAIL;
      }
      const r = zone.lookup(name, req.qtype);
      req.trace?.note(`zone ${s.origin} (serial ${zone.serial}): ${r.answers.length} answer(s), rcode ${r.rcode}`);
      if (r.external !== undefined) return withExternal(zone, r as typeof r & { external: string }, req, w, ctx.lookup);
      w.write({ type: 'response', flags: (r.aa ? FLAG.AA : 0) | r.rcode, answers: r.answers, authorities: r.authorities, additionals: r.additionals });
      return r.rcode;
    },
    xfrZone(zone) {
      const s = byOrigin.get(zone);
      if (s === undefined) return undefined;
      return s.zone === undefined || s.expired ? null : s.zone;
    },
    xfrZones() {
      return zones.map((z) => z.origin);
    },
    onXfrChange(fn) {
      listeners.push(fn);
    },
    close() {
      for (const z of zones) z.close();
    },
  };
}
