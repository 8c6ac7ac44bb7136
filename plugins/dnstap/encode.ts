// The dnstap protobuf (dnstap.proto: Dnstap wrapping one Message), encoded by hand: a few varint,
// fixed32 and bytes fields, no protobuf library.

/** Message.Type values this plugin sends. */
export const CLIENT_QUERY = 5;
export const CLIENT_RESPONSE = 6;
export const FORWARDER_QUERY = 7;
export const FORWARDER_RESPONSE = 8;
/** SocketFamily and SocketProtocol values. */
export const INET = 1;
export const INET6 = 2;
export const UDP = 1;
export const TCP = 2;

export interface TapMessage {
  type: number;
  family: number;
  protocol: number;
  /** The sender of the query: the client (CLIENT_*); absent for FORWARDER_* (the local socket is not known). */
  queryAddress?: Uint8Array;
  queryPort?: number;
  /** The receiver of the query: the upstream (FORWARDER_*). */
  responseAddress?: Uint8Array;
  responsePort?: number;
  /** Milliseconds since the epoch (with a fraction). */
  queryTime: number;
  queryMessage?: Uint8Array;
  responseTime?: number;
  responseMessage?: Uint8Array;
}

class Out {
  private buf = Buffer.allocUnsafe(256);
  len = 0;
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const b = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(b, 0, 0, this.len);
    this.buf = b;
  }
  varint(v: number): void {
    this.room(10);
    while (v >= 0x80) {
      this.buf[this.len++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.len++] = v;
  }
  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }
  uint(field: number, v: number): void {
    this.tag(field, 0);
    this.varint(v);
  }
  fixed32(field: number, v: number): void {
    this.tag(field, 5);
    this.room(4);
    this.buf.writeUInt32LE(v >>> 0, this.len);
    this.len += 4;
  }
  bytes(field: number, b: Uint8Array): void {
    this.tag(field, 2);
    this.varint(b.length);
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  done(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

function time(o: Out, secField: number, nsecField: number, ms: number): void {
  const sec = Math.floor(ms / 1000);
  o.uint(secField, sec);
  o.fixed32(nsecField, Math.min(999_999_999, Math.round((ms - sec * 1000) * 1e6)));
}

/** One Dnstap frame payload: {identity, version, extra, message, type: MESSAGE}. */
export function encodeDnstap(m: TapMessage, identity: Uint8Array, version: Uint8Array, extra: Uint8Array | undefined): Buffer {
  const msg = new Out();
  msg.uint(1, m.type);
  msg.uint(2, m.family);
  msg.uint(3, m.protocol);
  if (m.queryAddress !== undefined) msg.bytes(4, m.queryAddress);
  if (m.responseAddress !== undefined) msg.bytes(5, m.responseAddress);
  if (m.queryPort !== undefined) msg.uint(6, m.queryPort);
  if (m.responsePort !== undefined) msg.uint(7, m.responsePort);
  time(msg, 8, 9, m.queryTime);
  if (m.queryMessage !== undefined) msg.bytes(10, m.queryMessage);
  if (m.responseTime !== undefined) time(msg, 12, 13, m.responseTime);
  if (m.responseMessage !== undefined) msg.bytes(14, m.responseMessage);
  const out = new Out();
  if (identity.length > 0) out.bytes(1, identity);
  if (version.length > 0) out.bytes(2, version);
  if (extra !== undefined && extra.length > 0) out.bytes(3, extra);
  out.bytes(14, msg.done());
  out.uint(15, 1); // Dnstap.Type MESSAGE
  return Buffer.from(out.done());
}
