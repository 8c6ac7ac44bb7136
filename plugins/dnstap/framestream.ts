// A Frame Streams writer (the dnstap transport): bidirectional handshake on a unix or TCP socket
// (READY → ACCEPT → START, content type "protobuf:dnstap.Dnstap"), then one length-prefixed data
// frame per message. Messages wait in a bounded queue while the collector is down or slow: above
// it they are dropped and counted, never blocking the query path; the connection is retried every
// few seconds.
import net from 'node:net';

export const CONTENT_TYPE = 'protobuf:dnstap.Dnstap';
const ACCEPT = 1;
const START = 2;
const STOP = 3;
const READY = 4;
/** CoreDNS's queue: 10,000 messages. */
export const QUEUE_MAX = 10_000;
const RETRY_MS = 2000;
/** Bytes written but not yet taken by the kernel above which messages wait in the queue. */
const HIGH_WATER = 1 << 20;

/** A control frame: escape (0), length, type, and the content-type field when given. */
export function controlFrame(type: number, contentType?: string): Buffer {
  const ct = contentType === undefined ? Buffer.alloc(0) : Buffer.from(contentType);
  const body = 4 + (contentType === undefined ? 0 : 8 + ct.length);
  const b = Buffer.alloc(8 + body);
  b.writeUInt32BE(0, 0);
  b.writeUInt32BE(body, 4);
  b.writeUInt32BE(type, 8);
  if (contentType !== undefined) {
    b.writeUInt32BE(1, 12); // FIELD_CONTENT_TYPE
    b.writeUInt32BE(ct.length, 16);
    ct.copy(b, 20);
  }
  return b;
}

export type Endpoint = { path: string } | { host: string; port: number };

export class FrameStreamWriter {
  private sock: net.Socket | undefined;
  private started = false;
  private readonly queue: Buffer[] = [];
  private head = 0;
  dropped = 0;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly endpoint: Endpoint,
    private readonly onError: (msg: string) => void,
  ) {}

  start(): void {
    this.connect();
  }

  /** Queue one message; drops it (counted) when the queue is full. */
  write(payload: Buffer): void {
    if (this.closed) return;
    if (this.started && this.head === this.queue.length && !this.sock!.writableNeedDrain && this.sock!.writableLength < HIGH_WATER) {
      this.send(payload);
      return;
    }
    if (this.queue.length - this.head >= QUEUE_MAX) {
      this.dropped++;
      return;
    }
    this.queue.push(payload);
  }

  private send(p: Buffer): void {
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(p.length, 0);
    this.sock!.write(len);
    this.sock!.write(p);
  }

  private flush(): void {
    const s = this.sock;
    if (!this.started || s === undefined) return;
    while (this.head < this.queue.length && !s.writableNeedDrain && s.writableLength < HIGH_WATER) this.send(this.queue[this.head++]!);
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head > 4096) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }

  private connect(): void {
    if (this.closed) return;
    const s = 'path' in this.endpoint ? net.connect(this.endpoint.path) : net.connect(this.endpoint.port, this.endpoint.host);
    this.sock = s;
    let acc = Buffer.alloc(0);
    s.on('connect', () => s.write(controlFrame(READY, CONTENT_TYPE)));
    s.on('data', (d: Buffer) => {
      if (this.started) return; // the collector says nothing more until FINISH
      acc = Buffer.concat([acc, d]);
      if (acc.length < 8) return;
      const len = acc.readUInt32BE(4);
      if (acc.length < 8 + len) return;
      if (acc.readUInt32BE(0) !== 0 || acc.readUInt32BE(8) !== ACCEPT) {
        this.onError('dnstap: the collector did not accept the stream');
        s.destroy();
        return;
      }
      s.write(controlFrame(START, CONTENT_TYPE));
      this.started = true;
      this.flush();
    });
    s.on('drain', () => this.flush());
    s.on('error', (e) => {
      if (!this.closed) this.onError(`dnstap: ${e.message}`);
    });
    s.on('close', () => {
      this.started = false;
      if (this.sock === s) this.sock = undefined;
      if (!this.closed) this.retry = setTimeout(() => this.connect(), RETRY_MS);
      this.retry?.unref();
    });
  }

  /** Send STOP after what is queued, and close. */
  close(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    const s = this.sock;
    if (s === undefined || !this.started) {
      s?.destroy();
      return Promise.resolve();
    }
    for (; this.head < this.queue.length; this.head++) this.send(this.queue[this.head]!);
    return new Promise((resolve) => {
      const t = setTimeout(() => s.destroy(), 1000);
      t.unref();
      s.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      s.end(controlFrame(STOP));
    });
  }
}
