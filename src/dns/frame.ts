// DNS over a byte stream (TCP, TLS; RFC 1035 4.2.2, RFC 7766): each message goes with its length
// in two bytes before it. One reader for every stream that receives messages (the TCP and TLS
// listeners, forward's upstream connections), one writer of the prefix, and one gatherer of the
// messages a stream sends in one turn (the TCP listener's replies, forward's upstream queries).

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

  /**
   * Take the next complete message: returns where its bytes start (they end at the new `this.off`),
   * or -1 when none is all there yet.
   */
  private take(): number {
    const b = this.buf;
    if (b === null) return -1;
    const off = this.off;
    if (b.length - off < 2) return -1;
    const end = off + 2 + ((b[off]! << 8) | b[off + 1]!);
    if (end > b.length) return -1;
    this.off = end;
    return off + 2;
  }

  /** The next complete message (without its length), or undefined when none is all there yet. */
  next(): Buffer | undefined {
    const start = this.take();
    return start < 0 ? undefined : this.buf!.subarray(start, this.off);
  }

  /** The next complete message as a Buffer of its own (no view made first), or undefined when none is all there yet. */
  nextCopy(): Buffer | undefined {
    const start = this.take();
    if (start < 0) return undefined;
    const out = Buffer.allocUnsafe(this.off - start);
    this.buf!.copy(out, 0, start, this.off);
    return out;
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

/** A gather chunk: below half of Node's pool size, so it is a slice of the shared pool, not a malloc. */
const CHUNK = 4000;
/** A chunk with less room than this left after take() is let go (the next add() takes a new one). */
const MIN_TAIL = 512;

/**
 * Collects the messages written to a stream in one turn, framed, for one write: add() copies each
 * (after its length) into a chunk, take() hands out what was added since the last take() as one
 * Buffer, a view of the chunk; the chunk's rest takes the next ones. No object per message: a
 * pipelined connection's 64 replies of a turn are one copy each and one write(2) in all, instead of
 * a framed Buffer and a stream write each. A connection holds at most one pool-sized chunk between
 * turns (a bigger one, grown for a big turn, goes with its take()).
 */
export class FrameGather {
  private buf: Buffer | null = null;
  private start = 0;
  private end = 0;

  /** Bytes added and not yet taken. */
  get length(): number {
    return this.end - this.start;
  }

  /** Add `msg` after its 2-byte length; with `id` (0–65535), its first two bytes (the DNS ID) are written as that instead. */
  add(msg: Uint8Array, id = -1): void {
    const n = msg.length;
    let b = this.buf;
    if (b === null || b.length - this.end < n + 2) b = this.grow(n + 2);
    const e = this.end;
    b[e] = n >> 8;
    b[e + 1] = n & 0xff;
    if (id >= 0 && n >= 2) {
      b[e + 2] = id >> 8;
      b[e + 3] = id & 0xff;
      b.set(msg.subarray(2), e + 4);
    } else {
      b.set(msg, e + 2);
    }
    this.end = e + 2 + n;
  }

  /**
   * A chunk with room for `need` more bytes after what is held (copied over): the pool-sized one,
   * or twice what a turn of many messages needs, or just what a big message needs.
   */
  private grow(need: number): Buffer {
    const held = this.end - this.start;
    const want = held + need;
    const b = Buffer.allocUnsafe(want <= CHUNK ? CHUNK : need > CHUNK ? want : 2 * want);
    if (held > 0) this.buf!.copy(b, 0, this.start, this.end);
    this.buf = b;
    this.start = 0;
    this.end = held;
    return b;
  }

  /** What was added since the last take(), as one Buffer (the caller writes it), or undefined when nothing was. */
  take(): Buffer | undefined {
    const b = this.buf;
    if (b === null || this.end === this.start) return undefined;
    const out = b.subarray(this.start, this.end);
    if (b.length > CHUNK || b.length - this.end < MIN_TAIL) this.clear();
    else this.start = this.end;
    return out;
  }

  /** Drop what is held (the stream is gone). */
  clear(): void {
    this.buf = null;
    this.start = 0;
    this.end = 0;
  }
}
