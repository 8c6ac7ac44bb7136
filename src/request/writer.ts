// The real response writer: finishes a reply for its request (ID, question, flags, OPT), fits it
// to the client's size (65,535 bytes over TCP; names compressed, then whole records cut and TC set
// when answers had to go: dns/compress.ts), sends it, and records rcode and length for log and
// metrics. Wire bytes (cache hits, pre-encoded answers) are sent as they are when they fit.
import dnsPacket, { type Answer } from 'dns-packet';
import { fitReply } from '../dns/compress.js';
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
  /**
   * Stream senders only (a TCP connection): resolves once the queued replies went out far enough
   * to queue more, rejects when the connection is gone. A zone transfer sends its messages one by
   * one through CoreWriter.part().
   */
  drain?(): Promise<void>;
}

const DNSSEC_OK = 0x8000;

/**
 * A Message with this property set to true has its header flags final: the writer does not copy
 * RD and CD from the request into it (header's response rules may have cleared them).
 */
export const EXACT_FLAGS = Symbol.for('typedns.reply.exactFlags');

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
      // too large: compressed and cut to whole records (TC when answers had to go)
      buf = res.length > this.req.size ? fitReply(res, this.req.size) : res;
      this.rcode = replyRcode(buf);
      this.flags = buf.length >= 4 ? (buf[2]! << 8) | buf[3]! : 0;
    } else {
      buf = this.finish(res);
    }
    this.written = true;
    this.by = this.plugin;
    this.length = buf.length;
    this.answers = buf.length >= 8 ? (buf[6]! << 8) | buf[7]! : 0;
    this.sender.send(buf, this);
  }

  /** True when more than one message may be sent for this query (part()): a TCP connection. */
  get canStream(): boolean {
    return this.sender.drain !== undefined;
  }

  /**
   * Send one message of a multi-message reply (a zone transfer) ahead of the last one, which goes
   * through write() as any reply does (log and metrics see that one). `buf` is a complete message
   * with the request's ID. Resolves when the connection can take the next one.
   */
  part(buf: Uint8Array): Promise<void> {
    const drain = this.sender.drain;
    if (drain === undefined || this.written) return Promise.reject(new Error('no stream to send a message part on'));
    this.sender.send(buf, this);
    return drain.call(this.sender);
  }

  /** Tell the sender the query ended without a reply (serve.ts, once the chain is done). */
  unanswered(): void {
    this.sender.unanswered?.(this);
  }

  /**
   * Encode a Message as the reply to this request, truncated to fit. RD and CD are copied from the
   * request (CoreDNS's SetReply) unless `exactFlags` or the Message carries EXACT_FLAGS (a plugin
   * such as header has set them as they must go out). The options of the Message's OPT are kept.
   */
  finish(m: Message, exactFlags = false): Buffer {
    const req = this.req;
    const flagsIn = m.flags ?? 0;
    let rcode = flagsIn & 0xf;
    const additionals: Answer[] = [];
    let ext = 0;
    let options: unknown[] = [];
    for (const a of m.additionals ?? []) {
      if (a.type === 'OPT') {
        ext = a.extendedRcode ?? 0;
        options = (a as { options?: unknown[] }).options ?? [];
        continue;
      }
      additionals.push(a);
    }
    const fullRcode = (ext << 4) | rcode;
    rcode = fullRcode & 0xf;
    const exact = exactFlags || (m as { [EXACT_FLAGS]?: boolean })[EXACT_FLAGS] === true;
    const fromReq = exact ? 0 : req.flags & (FLAG.RD | FLAG.CD);
    const flags = FLAG.QR | (flagsIn & ~(0xf | 0x7800 | FLAG.QR)) | fromReq | rcode;
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
        options,
      } as Answer);
    }
    this.rcode = fullRcode;
    // The question is copied from the request's bytes (exact case and escapes), not re-encoded.
    const qlen = req.questionEnd - 12;
    const buf = dnsPacket.encode(out);
    let final: Buffer = Buffer.allocUnsafe(buf.length + qlen);
    buf.copy(final, 0, 0, 12);
    if (qlen > 0) {
      req.wire.copy(final, 12, 12, req.questionEnd);
      final[5] = 1;
    }
    buf.copy(final, 12 + qlen, 12);
    if (final.length > req.size) final = fitReply(final, req.size);
    this.flags = (final[2]! << 8) | final[3]!;
    return final;
  }
}

/** True when the qtype is OPT-carrying meta (never answered from data). */
export function isMetaType(t: number): boolean {
  return t === QTYPE.OPT || t === QTYPE.AXFR || t === QTYPE.IXFR;
}

/**
 * The core writer under `w` and its wrappers (each WrappedWriter's `inner`), for a plugin that
 * streams several messages (transfer); undefined when `w` is not a server's writer.
 */
export function coreWriterOf(w: ResponseWriter): CoreWriter | undefined {
  let x: unknown = w;
  for (let i = 0; i < 64 && x !== null && typeof x === 'object'; i++) {
    if (x instanceof CoreWriter) return x;
    x = (x as { inner?: unknown }).inner;
  }
  return undefined;
}
