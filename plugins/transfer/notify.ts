// NOTIFY (RFC 1996) to a zone's secondaries: one UDP message per target with the zone's SOA
// question and AA set; up to three tries per target (2 s each), as CoreDNS's transfer does; a
// reply with NOERROR ends the tries.
import dgram from 'node:dgram';
import { randomInt } from 'node:crypto';
import dnsPacket from 'dns-packet';
import { RCODE, rcodeName } from '../../src/plugin/api.js';

export const NOTIFY_OPCODE = 4;
export const NOTIFY_TRIES = 3;
export const NOTIFY_TIMEOUT_MS = 2000;

export function notifyMessage(zone: string, id = randomInt(65536)): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: (NOTIFY_OPCODE << 11) | dnsPacket.AUTHORITATIVE_ANSWER,
    questions: [{ name: zone === '.' ? '.' : zone.slice(0, -1), type: 'SOA', class: 'IN' }],
  });
}

/** One try: the reply's rcode, or undefined when none came in time. */
function once(host: string, port: number, zone: string, timeout: number, source: string | undefined): Promise<number | undefined> {
  return new Promise((resolve) => {
    const id = randomInt(65536);
    const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    let done = false;
    const finish = (rc: number | undefined): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.close();
      resolve(rc);
    };
    const timer = setTimeout(() => finish(undefined), timeout);
    sock.on('error', () => finish(undefined));
    sock.on('message', (m) => {
      if (m.length < 12 || m.readUInt16BE(0) !== id || (m[2]! & 0x80) === 0) return; // not our reply
      finish(m[3]! & 0xf);
    });
    const send = (): void =>
      sock.send(notifyMessage(zone, id), port, host, (err) => {
        if (err) finish(undefined);
      });
    // from the `source` address when one is set (an address of another family than the target's fails the try)
    if (source === undefined) send();
    else sock.bind({ address: source, port: 0 }, send);
  });
}

/**
 * Send NOTIFY for `zone` to host:port until it is answered NOERROR, at most `tries` times.
 * Resolves to undefined on success, else to why not (for the log).
 */
export async function sendNotify(host: string, port: number, zone: string, tries = NOTIFY_TRIES, timeout = NOTIFY_TIMEOUT_MS, source?: string): Promise<string | undefined> {
  let last: number | undefined;
  for (let i = 0; i < tries; i++) {
    const rc = await once(host, port, zone, timeout, source);
    if (rc === RCODE.NOERROR) return undefined;
    if (rc !== undefined) last = rc;
  }
  return last === undefined ? 'no reply' : `rcode was ${rcodeName(last)}`;
}
