// EDNS0 NSID (RFC 5001) queries for the nsid plugin's tests: ask with the option, read it back.
import dnsPacket, { type DecodedPacket } from 'dns-packet';
import { exchangeRaw } from '../../src/testing/index.js';

/** Ask `port` for NAME A with EDNS0 4096 and an empty NSID option (as nsid_test.go does). */
export async function askNsid(port: number, name = '.', o: { nsid?: boolean; tcp?: boolean } = {}): Promise<DecodedPacket> {
  const q = dnsPacket.encode({
    type: 'query',
    id: 4242,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: 'A', class: 'IN' }],
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: o.nsid === false ? [] : [{ code: 3, data: Buffer.alloc(0) }] } as unknown as dnsPacket.Answer],
  });
  const r = await exchangeRaw(port, q, { tcp: o.tcp ?? false });
  if (r === undefined) throw new Error('no reply');
  return dnsPacket.decode(r);
}

/** The NSID options of a reply's OPT, as text. */
export function nsidOf(m: DecodedPacket): string[] {
  const opt = (m.additionals ?? []).find((a) => a.type === 'OPT') as { options?: Array<{ code: number; data: Buffer }> } | undefined;
  return (opt?.options ?? []).filter((o) => o.code === 3).map((o) => o.data.toString());
}
