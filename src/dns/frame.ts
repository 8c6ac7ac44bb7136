// DNS over a byte stream (TCP, TLS; RFC 1035 4.2.2, RFC 7766): each message goes with its length
// in two bytes before it. One reader for every stream that receives messages (the TCP and TLS
// listeners, forward's upstream connections) and one writer of the prefix.

/** `msg` with its 2-byte length before it, ready to write to a stream. */
export function frame(msg: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(msg.length + 2);
  out[0] = msg.length >> 8;
  out[1] = msg.length & 0xff;
  out.set(msg, 2);
  return out;
}

/**
 * Cuts the chunks a stream delivers into messages. push() each chunk; next() hands out the
 * complete messages one at a time, as views of the received bytes (copy one that must outlive the
 * chunk). What is not taken stays held: a started message, or whole ones the caller leaves for
 * later (compact() then lets the chunks they came in go).
 */
export class FrameReader {
  private buf: Buffer | null = null;
  private off = 0;

  /** Add a chunk received from the stream. */
  push(d: Buffer): void {
    if (this.buf === null) {
      this.buf = d;
      this.off = 0;
    } else {
      this.buf = Buffer.concat([this.off === 0 ? this.buf : this.buf.subarray(this.off), d]);
      this.off = 0;
    }
  }

  /** A complete message is waiting. */
  get ready(): boolean {
    const b = this.buf;
    if (b === null) return false;
    const off = this.off;
    return b.length - off >= 2 && b.length - off - 2 >= ((b[off]! << 8) | b[off + 1]!);
  }

  /** The next complete message (without its length), or undefined when none is all there yet. */
  next(): Buffer | undefined {
    const b = this.buf;
    if (b === null) return undefined;
    const off = this.off;
    if (b.length - off < 2) return undefined;
    const end = off + 2 + ((b[off]! << 8) | b[off + 1]!);
    if (end > b.length) return undefined;
    this.off = end;
    return b.subarray(off + 2, end);
  }

  /** Bytes received and not taken. */
  get held(): number {
    return this.buf === null ? 0 : this.buf.length - this.off;
  }

  /**
   * Drop what was taken. With `copy`, what is held moves to a buffer of its own (so the chunk it
   * came in is freed); without, it stays a view (for bytes that are taken again soon).
   */
  compact(copy: boolean): void {
    const b = this.buf;
    if (b === null) return;
    if (this.off === b.length) {
      this.buf = null;
    } else if (this.off > 0 || copy) {
      this.buf = copy ? Buffer.from(b.subarray(this.off)) : b.subarray(this.off);
    }
    this.off = 0;
  }

  /** Drop everything held. */
  clear(): void {
    this.buf = null;
    this.off = 0;
  }
}
