// Base class for writer wrappers (cache, rewrite, loadbalance): forwards everything to the
// writer it wraps; a subclass overrides write() to see or change the reply. Allocate one only on
// the path that needs it. Copy before you mutate a Message you did not build.
import dnsPacket from 'dns-packet';
import type { Message, ResponseWriter } from './types.js';
import { rcodeOf } from '../dns/message.js';
import { replyRcode } from '../dns/wire.js';

export class WrappedWriter implements ResponseWriter {
  constructor(readonly inner: ResponseWriter) {}
  write(res: Message | Uint8Array): void {
    this.inner.write(res);
  }
  get written(): boolean {
    return this.inner.written;
  }
  get rcode(): number {
    return this.inner.rcode;
  }
  get length(): number {
    return this.inner.length;
  }
  get flags(): number {
    return this.inner.flags;
  }
  get answers(): number {
    return this.inner.answers;
  }
}

/**
 * A writer that sends nothing and keeps the reply (CoreDNS's nonwriter): for a plugin that asks
 * the rest of the chain a question of its own (an ExternalName or CNAME target, a cache refresh)
 * and builds its reply from the answer. `res` is the reply as written (wire bytes are not
 * decoded); `msg` decodes them on first use. The rcode of wire bytes includes the extended bits of
 * their OPT record. `onWrite`, when given, is called with the reply once it is written.
 */
export class CaptureWriter implements ResponseWriter {
  res: Message | Uint8Array | undefined = undefined;
  written = false;
  rcode = -1;
  length = 0;
  /** The 16-bit header flags word of wire bytes; a Message's `flags`. */
  flags = 0;
  answers = 0;
  private decoded: Message | undefined = undefined;
  constructor(private readonly onWrite?: (res: Message | Uint8Array) => void) {}
  write(res: Message | Uint8Array): void {
    if (this.written) return;
    this.written = true;
    this.res = res;
    if (res instanceof Uint8Array) {
      this.rcode = replyRcode(res);
      this.length = res.length;
      this.flags = res.length >= 4 ? (res[2]! << 8) | res[3]! : 0;
      this.answers = res.length >= 8 ? (res[6]! << 8) | res[7]! : 0;
    } else {
      this.decoded = res;
      this.rcode = rcodeOf(res);
      this.flags = res.flags ?? 0;
      this.answers = res.answers?.length ?? 0;
    }
    this.onWrite?.(res);
  }
  /** The reply as a Message (wire bytes decoded on first use); undefined until one is written. */
  get msg(): Message | undefined {
    const res = this.res;
    if (this.decoded !== undefined || !(res instanceof Uint8Array)) return this.decoded;
    return (this.decoded = dnsPacket.decode(Buffer.from(res.buffer, res.byteOffset, res.byteLength)));
  }
}
