// The OPT record (EDNS(0), RFC 6891) as a plugin reads and changes it: parseOpt reads a message's
// OPT, replaceOpt writes a copy of the message carrying another one. Not on the hot path (the
// header fields the server needs are read by parseQuery; rewrite's edns0 rules use these).
import { QTYPE } from './constants.js';
import { findOpt } from './wire.js';

/** One EDNS(0) option: its code and data. */
export interface EdnsOption {
  code: number;
  data: Uint8Array;
}

/** An OPT record's fields: UDP payload size, extended rcode bits, version, flags (DO = 0x8000), options. */
export interface OptRecord {
  udp: number;
  ext: number;
  version: number;
  flags: number;
  options: EdnsOption[];
}

/** The OPT record of a message, or undefined when it has none. `from`: the offset past its question section, if known. */
export function parseOpt(wire: Uint8Array, from = -1): OptRecord | undefined {
  const at = findOpt(wire, from);
  if (at < 0) return undefined;
  const q = at + 1;
  const end = q + 10 + ((wire[q + 8]! << 8) | wire[q + 9]!);
  const options: EdnsOption[] = [];
  let o = q + 10;
  while (o + 4 <= end) {
    const code = (wire[o]! << 8) | wire[o + 1]!;
    const len = (wire[o + 2]! << 8) | wire[o + 3]!;
    options.push({ code, data: wire.slice(o + 4, o + 4 + len) });
    o += 4 + len;
  }
  return {
    udp: (wire[q + 2]! << 8) | wire[q + 3]!,
    ext: wire[q + 4]!,
    version: wire[q + 5]!,
    flags: (wire[q + 6]! << 8) | wire[q + 7]!,
    options,
  };
}

/** A copy of `wire` whose OPT record is `opt` (in place of its own, or added after its last record). */
export function replaceOpt(wire: Uint8Array, opt: OptRecord, from = -1): Buffer {
  let rdlen = 0;
  for (const o of opt.options) rdlen += 4 + o.data.length;
  const rr = Buffer.alloc(11 + rdlen);
  rr[0] = 0; // root
  rr.writeUInt16BE(QTYPE.OPT, 1);
  rr.writeUInt16BE(opt.udp, 3);
  rr[5] = opt.ext;
  rr[6] = opt.version;
  rr.writeUInt16BE(opt.flags, 7);
  rr.writeUInt16BE(rdlen, 9);
  let p = 11;
  for (const o of opt.options) {
    rr.writeUInt16BE(o.code, p);
    rr.writeUInt16BE(o.data.length, p + 2);
    rr.set(o.data, p + 4);
    p += 4 + o.data.length;
  }
  const at = findOpt(wire, from);
  if (at >= 0) {
    const end = at + 11 + ((wire[at + 9]! << 8) | wire[at + 10]!);
    return Buffer.concat([wire.subarray(0, at), rr, wire.subarray(end)]);
  }
  const out = Buffer.concat([wire, rr]);
  out.writeUInt16BE(out.readUInt16BE(10) + 1, 10);
  return out;
}
