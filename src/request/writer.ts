// The real response writer: finishes a reply for its request (ID, question, flags, OPT), fits it
// to the client's size (TC set when answers had to go), sends it, and records rcode and length
// for log and metrics. Wire bytes (cache hits) are sent as they are when they fit.
import dnsPacket, { type Answer } from 'dns-packet';
import type { Message, ResponseWriter } from '../plugin/types.js';
import { FLAG, QTYPE } from '../dns/constants.js';
import { OUR_UDP_SIZE, replyRcode } from '../dns/wire.js';
import type { DnsRequest } from './request.js';

/** Where a writer sends finished bytes: one per listener (UDP socket, TCP connection). */
export interface Sender {
  send(buf: Uint8Array, w: CoreWriter): void;
  /**
   * The query ended with nothing sent (the chain dropped it, or it was not a query): DoH answers
   * the HTTP request anyway, DoT counts it done. `w` is undefined when no request was built.
   */
  unanswered?(w: CoreWriter | undefined): void;
}

const DNSSEC_OK = 0x8000;

export class CoreWriter implements ResponseWriter {
  written = false;
  rcode = -1;
  length = 0;
  flags = 0;
  answers = 0;
  /** The plugin whose serve() was entered last with this writer (set by the chain). */
  plugin = '';
  /** `plugin` when the reply was written: who answered (coredns_dns_responses_total{plugin}). */
  by = '';

  constructor(
    readonly req: DnsRequest,
    private readonly sender: Sender,
  ) {}

  write(res: Message | Uint8Array): void {
    if (this.written) return;
    let buf: Uint8Array;
    if (res instanceof Uint8Array) {
      if (res.length > this.req.size) {
        buf = this.finish(dnsPacket.decode(Buffer.from(res.buffer, res.byteOffset, res.byteLength)));
      } else {
        buf = res;
        this.rcode = replyRcode(res);
        this.flags = res.length >= 4 ? (res[2]! << 8) | res[3]! : 0;
      }
    } else {
      buf = this.finish(res);
    }
    this.written = true;
    this.by = this.plugin;
    this.length = buf.length;
    this.answers = buf.length >= 8 ? (buf[6]! << 8) | buf[7]! : 0;
    this.sender.send(buf, this);
  }

  /** Tell the sender the query ended without a reply (serve.ts, once the chain is done). */
  unanswered(): void {
    this.sender.unanswered?.(this);
  }

  /** Encode a Message as the reply to this request, truncated to fit. */
  finish(m: Message): Buffer {
    const req = this.req;
    const flagsIn = m.flags ?? 0;
    let rcode = flagsIn & 0xf;
    const additionals: Answer[] = [];
    let ext = 0;
    for (const a of m.additionals ?? []) {
      if (a.type === 'OPT') {
        ext = a.extendedRcode ?? 0;
        continue;
      }
      additionals.push(a);
    }
    const fullRcode = (ext << 4) | rcode;
    rcode = fullRcode & 0xf;
    const reqFlags = req.flags;
    const flags = FLAG.QR | (flagsIn & ~(0xf | 0x7800 | FLAG.QR)) | (reqFlags & (FLAG.RD | FLAG.CD)) | rcode;
    const out: Message = {
      id: req.id,
      type: 'response',
      flags: flags & 0x7fff,
      questions: [],
      answers: m.answers ?? [],
      authorities: m.authorities ?? [],
      additionals,
    };
    if (req.edns) {
      additionals.push({
        type: 'OPT',
        name: '.',
        udpPayloadSize: OUR_UDP_SIZE,
        extendedRcode: fullRcode >> 4,
        ednsVersion: 0,
        flags: req.do ? DNSSEC_OK : 0,
        flag_do: req.do,
        options: [],
      } as Answer);
    }
    this.rcode = fullRcode;
    // The question is copied from the request's bytes (exact case and escapes), not re-encoded.
    const qlen = req.questionEnd - 12;
    let buf = dnsPacket.encode(out);
    const size = req.size - qlen;
    if (buf.length > size) {
      // 1. drop additional records (keep OPT)
      out.additionals = req.edns ? [additionals[additionals.length - 1]!] : [];
      buf = dnsPacket.encode(out);
      if (buf.length > size) {
        // 2. keep as many answers as fit, no authority, TC set
        out.authorities = [];
        out.flags = (out.flags ?? 0) | FLAG.TC;
        const answers = m.answers ?? [];
        let lo = 0;
        let hi = answers.length;
        while (lo < hi) {
          const mid = (lo + hi + 1) >> 1;
          out.answers = answers.slice(0, mid);
          if (dnsPacket.encodingLength(out) <= size) lo = mid;
          else hi = mid - 1;
        }
        out.answers = answers.slice(0, lo);
        buf = dnsPacket.encode(out);
      }
    }
    const final = Buffer.allocUnsafe(buf.length + qlen);
    buf.copy(final, 0, 0, 12);
    if (qlen > 0) {
      req.wire.copy(final, 12, 12, req.questionEnd);
      final[5] = 1;
    }
    buf.copy(final, 12 + qlen, 12);
    this.flags = (final[2]! << 8) | final[3]!;
    return final;
  }
}

/** True when the qtype is OPT-carrying meta (never answered from data). */
export function isMetaType(t: number): boolean {
  return t === QTYPE.OPT || t === QTYPE.AXFR || t === QTYPE.IXFR;
}
