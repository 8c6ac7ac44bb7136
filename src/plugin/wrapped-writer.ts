// Base class for writer wrappers (cache, rewrite, loadbalance): forwards everything to the
// writer it wraps; a subclass overrides write() to see or change the reply. Allocate one only on
// the path that needs it. Copy before you mutate a Message you did not build.
import dnsPacket from 'dns-packet';
import type { Message, ResponseWriter } from './types.js';
import { rcodeOf } from '../dns/message.js';

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
 * the rest of the chain a question of its own (an ExternalName or CNAME target) and builds its
 * reply from the answer. Wire bytes are decoded, so `msg` is always a Message.
 */
export class CaptureWriter implements ResponseWriter {
  msg: Message | undefined;
  written = false;
  rcode = -1;
  length = 0;
  flags = 0;
  answers = 0;
  write(res: Message | Uint8Array): void {
    if (this.written) return;
    this.written = true;
    const m = res instanceof Uint8Array ? dnsPacket.decode(Buffer.from(res.buffer, res.byteOffset, res.byteLength)) : res;
    this.msg = m;
    this.rcode = rcodeOf(m);
    this.flags = m.flags ?? 0;
    this.answers = m.answers?.length ?? 0;
    if (res instanceof Uint8Array) this.length = res.length;
  }
}
