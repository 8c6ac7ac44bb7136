// What a secondary asks its primary, over TCP (RFC 5936 4.1; TCP for the SOA check too, as
// CoreDNS does, against spoofing): the zone's SOA serial, and the whole zone by AXFR.
import net from 'node:net';
import { randomInt } from 'node:crypto';
import dnsPacket, { type Answer } from 'dns-packet';
import { rcodeName } from '../../src/plugin/api.js';

export interface Primary {
  readonly host: string;
  readonly port: number;
}

export interface ExchangeOptions {
  /** Give up when the primary sends nothing for this long (ms). */
  idle?: number;
  /** Send from this address. */
  source?: string;
}

const fqdn = (n: string): string => (n === '.' || n === '' ? '.' : `${n.toLowerCase()}.`);

/**
 * Send one query over a new TCP connection and hand each reply message to `onMessage` until it
 * returns true (done). Rejects on a connection error, a reply with another ID or an rcode other
 * than NOERROR, or `idle` ms without data.
 */
function exchange(p: Primary, zone: string, type: 'SOA' | 'AXFR', onMessage: (m: dnsPacket.DecodedPacket) => boolean, o: ExchangeOptions): Promise<void> {
  const id = randomInt(65536);
  const q = dnsPacket.encode({ type: 'query', id, flags: 0, questions: [{ name: zone === '.' ? '.' : zone.slice(0, -1), type, class: 'IN' }] });
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: p.host, port: p.port, ...(o.source !== undefined ? { localAddress: o.source } : {}) });
    let acc: Buffer = Buffer.alloc(0);
    let done = false;
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      sock.destroy();
      if (err) reject(err);
      else resolve();
    };
    sock.setTimeout(o.idle ?? 10_000, () => finish(new Error(`no data from ${p.host}:${p.port} for ${o.idle ?? 10_000} ms`)));
    sock.on('error', (e) => finish(e));
    sock.on('close', () => finish(new Error(`connection closed by ${p.host}:${p.port} before the ${type} reply was complete`)));
    sock.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(q.length);
      sock.write(Buffer.concat([len, q]));
    });
    sock.on('data', (d: Buffer) => {
      acc = acc.length === 0 ? d : Buffer.concat([acc, d]);
      while (!done && acc.length >= 2 && acc.length >= 2 + acc.readUInt16BE(0)) {
        const n = acc.readUInt16BE(0);
        const wire = acc.subarray(2, 2 + n);
        acc = acc.subarray(2 + n);
        let m: dnsPacket.DecodedPacket;
        try {
          m = dnsPacket.decode(wire);
        } catch (e) {
          finish(new Error(`malformed ${type} reply: ${(e as Error).message}`));
          return;
        }
        if (m.id !== id) continue; // not ours (RFC 5936 4.2)
        const rcode = wire[3]! & 0xf;
        if (rcode !== 0) {
          finish(new Error(`${type} refused by ${p.host}:${p.port}: rcode ${rcodeName(rcode)}`));
          return;
        }
        try {
          if (onMessage(m)) finish();
        } catch (e) {
          finish(e as Error);
        }
      }
    });
  });
}

/** The primary's serial for `zone`, or undefined when its answer holds no SOA. */
export async function soaSerial(p: Primary, zone: string, o: ExchangeOptions = {}): Promise<number | undefined> {
  let serial: number | undefined;
  await exchange(
    p,
    zone,
    'SOA',
    (m) => {
      for (const a of m.answers ?? []) if (a.type === 'SOA' && fqdn(a.name) === zone) serial = a.data.serial;
      return true;
    },
    { idle: 5000, ...o },
  );
  return serial;
}

/**
 * The zone's records by AXFR: the SOA first, then the rest, without the closing SOA. Rejects when
 * the first record is not the zone's SOA or a record is outside the zone.
 */
export async function axfrIn(p: Primary, zone: string, o: ExchangeOptions = {}): Promise<Answer[]> {
  const out: Answer[] = [];
  const inZone = (n: string): boolean => zone === '.' || n === zone || n.endsWith(`.${zone}`);
  await exchange(
    p,
    zone,
    'AXFR',
    (m) => {
      for (const a of m.answers ?? []) {
        const owner = fqdn(a.name);
        if (out.length === 0) {
          if (a.type !== 'SOA' || owner !== zone) throw new Error(`AXFR of ${zone} from ${p.host}:${p.port} does not start with its SOA`);
          out.push(a);
          continue;
        }
        if (a.type === 'SOA' && owner === zone) return true; // the closing SOA
        if (!inZone(owner)) throw new Error(`AXFR of ${zone} from ${p.host}:${p.port}: record out of zone: ${owner}`);
        out.push(a);
      }
      return false;
    },
    o,
  );
  return out;
}
