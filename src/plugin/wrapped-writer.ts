// Base class for writer wrappers (cache, rewrite, loadbalance): forwards everything to the
// writer it wraps; a subclass overrides write() to see or change the reply. Allocate one only on
// the path that needs it. Copy before you mutate a Message you did not build.
import type { Message, ResponseWriter } from './types.js';

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
