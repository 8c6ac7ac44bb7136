// UDP listener on the native batch socket (native/udp.c): recvmmsg/sendmmsg, one call into
// JavaScript per batch of datagrams. Same behaviour as UdpListener (udp.ts), which is used when
// the native module is not built (scripts/build-native.mjs), was built for another Node ABI or
// platform (its stamp, build/typedns_udp.json, says so), does not load, or TYPEDNS_NATIVE_UDP=0.
// Replies written after their batch are queued and leave in one sendmmsg per turn (queueFlush).
// Also NativeUdpClient: forward's connected client sockets to an upstream on the same module.
import { appendFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { performance } from 'node:perf_hooks';
import type { Client } from '../plugin/types.js';
import type { CoreWriter, Sender } from '../request/writer.js';
import type { LocalAddr } from '../request/request.js';
import { serveQuery, type ServeContext } from './serve.js';
import { ip6Text } from '../dns/names.js';
import { ipBytes } from '../dns/ip.js';
import { parseDuration } from '../corefile/dispenser.js';
import { nativeBuildScript, nativeModule, nativeModuleError } from './native-module.js';

/** open()'s options (native/udp.c). */
interface OpenOptions {
  readonly host: string;
  readonly port: number;
  readonly v6: boolean;
  /** SO_RCVBUF and SO_SNDBUF, bytes (0: the system's). */
  readonly rcvbuf: number;
  readonly sndbuf: number;
  readonly reusePort: boolean;
  /** BATCH slots of SLOT bytes: the datagrams of a batch. */
  readonly in: ArrayBuffer;
  /** Int32 × META per datagram (Layout's M_* offsets). */
  readonly inMeta: ArrayBuffer;
  /** The replies' bytes, written during a batch. */
  readonly out: ArrayBuffer;
  /** Int32 × OUT_META per reply (Layout's O_* offsets). */
  readonly outMeta: ArrayBuffer;
  /** Serves datagrams 0..n-1 of the batch; returns how many replies it queued. */
  readonly onBatch: (n: number) => number;
  /** The async resource the batches run in. */
  readonly resource: object;
}

/** The buffers' layout, as native/udp.c defines it (its `layout` export). */
interface Layout {
  /** Datagrams per batch, and bytes per datagram slot. */
  readonly BATCH: number;
  readonly SLOT: number;
  /** Int32 words per datagram in inMeta, and their offsets: length (-1: larger than SLOT), port, family (4|6), address. */
  readonly META: number;
  readonly M_LEN: number;
  readonly M_PORT: number;
  readonly M_FAMILY: number;
  readonly M_ADDR: number;
  /** Int32 words per reply in outMeta, and their offsets: datagram index, offset in out, length. */
  readonly OUT_META: number;
  readonly O_INDEX: number;
  readonly O_OFFSET: number;
  readonly O_LENGTH: number;
  /** Int32 words per datagram given to sendMany, and their offsets: offset, length (a negative errno after a failed send), port, family, address. */
  readonly ASYNC_META?: number;
  readonly A_OFFSET?: number;
  readonly A_LENGTH?: number;
  readonly A_PORT?: number;
  readonly A_FAMILY?: number;
  readonly A_ADDR?: number;
}

/** connectTo()'s options (native/udp.c): a client socket connected to one upstream. */
interface ConnectOptions {
  readonly host: string;
  readonly port: number;
  readonly v6: boolean;
  readonly rcvbuf: number;
  readonly sndbuf: number;
  /** BATCH slots of `slot` bytes, shared by every client socket (read during onBatch). */
  readonly in: ArrayBuffer;
  readonly inMeta: ArrayBuffer;
  readonly slot: number;
  /** Datagrams 0..n-1 of the shared area are this socket's replies; n < 0: a socket error (-errno). */
  readonly onBatch: (n: number) => void;
  readonly resource: object;
}

/** The native module's functions (native/udp.c). */
interface NativeUdp {
  open(o: OpenOptions): unknown;
  localPort(h: unknown): number;
  sendTo(h: unknown, bytes: Uint8Array, host: string, port: number): number;
  sendErrors(h: unknown): number;
  steer?(h: unknown, groupSize: number): number;
  connectTo?(o: ConnectOptions): unknown;
  sendMany?(h: unknown, bytes: ArrayBuffer, meta: ArrayBuffer, n: number): number;
  stats?(h: unknown): [number, number];
  coalesce?(us: number, min: number): void;
  drain?(h: unknown): number;
  threadCpu?(): number;
  close(h: unknown): void;
  shmCreate?(size: number): [number, ArrayBuffer];
  shmOpen?(path: string): ArrayBuffer;
  shmClose?(fd: number): void;
  readonly layout: Layout;
}

/** Shared memory segments (native/udp.c: memfd + mmap), or undefined without the native module. */
export interface NativeShm {
  /** A new segment of `size` bytes, mapped writable: its fd (opened by others as /proc/<pid>/fd/<fd>) and its bytes. */
  create(size: number): [number, ArrayBuffer];
  /** Map another process's segment read-only. */
  open(path: string): ArrayBuffer;
  close(fd: number): void;
}

/**
 * Tests only (test/integration/workers-kubernetes-takeover.test.ts): with
 * TYPEDNS_TEST_SHM_FAIL=FILE, creating a segment fails while FILE exists (as memfd_create would
 * with no descriptor left). Unset (production): create is the native function, nothing checked.
 */
const SHM_FAIL_FILE = process.env['TYPEDNS_TEST_SHM_FAIL'];

export function nativeShm(): NativeShm | undefined {
  const m = nativeUdp();
  if (m?.shmCreate === undefined || m.shmOpen === undefined || m.shmClose === undefined) return undefined;
  const create = (n: number): [number, ArrayBuffer] => m.shmCreate!(n);
  const fail = SHM_FAIL_FILE;
  return {
    create:
      fail === undefined
        ? create
        : (n) => {
            if (existsSync(fail)) throw new Error('memfd_create: Too many open files (TYPEDNS_TEST_SHM_FAIL)');
            return create(n);
          },
    open: (p) => m.shmOpen!(p),
    close: (fd) => m.shmClose!(fd),
  };
}

/** The layout, read once when the module loads. */
let L: Layout;

/**
 * The native module, or undefined (not built, built for another Node or platform, not loadable,
 * or TYPEDNS_NATIVE_UDP=0): then UDP is served with node:dgram and nativeUdpError() says why.
 */
export function nativeUdp(): NativeUdp | undefined {
  const m = nativeModule() as NativeUdp | undefined;
  if (m !== undefined && L === undefined) L = { ...m.layout };
  return m;
}

/** Why nativeUdp() is undefined ('' when it is loaded). */
export const nativeUdpError = (): string => (nativeUdp() ? '' : nativeModuleError());

export { nativeBuildScript };

/** Largest reply kept for the batch send; larger ones go out on their own. */
const OUT_BYTES = 256 * 1024;
/** IPv4 addresses as strings, by address (cleared when it grows past this). */
const V4_CACHE_MAX = 65_536;
const v4Names = new Map<number, string>();

/** The way back: address words by string (v4()'s strings, and parsed ones). */
const v4Words = new Map<string, number>();

function v4(a: number): string {
  let s = v4Names.get(a);
  if (s === undefined) {
    s = `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
    if (v4Names.size >= V4_CACHE_MAX) {
      v4Names.clear();
      v4Words.clear();
    }
    v4Names.set(a, s);
    v4Words.set(s, a | 0);
  }
  return s;
}

/** An IPv4 address's host-order word (as M_ADDR), or undefined when `ip` is not dotted IPv4. */
export function v4Word(ip: string): number | undefined {
  const w = v4Words.get(ip);
  if (w !== undefined) return w;
  let word = 0;
  let part = -1;
  let parts = 0;
  for (let i = 0; i <= ip.length; i++) {
    const c = i === ip.length ? 46 : ip.charCodeAt(i);
    if (c === 46) {
      if (part < 0 || ++parts > 4) return undefined;
      word = (word << 8) | part;
      part = -1;
    } else if (c >= 48 && c <= 57) {
      part = part < 0 ? c - 48 : part * 10 + c - 48;
      if (part > 255) return undefined;
    } else return undefined;
  }
  return parts === 4 ? word | 0 : undefined;
}

/** Something with datagrams queued for sendMany: flushed once per turn of the event loop. */
export interface Flushable {
  flushOut(): void;
}

const dirty: Flushable[] = [];
let flushQueued = false;

function flushAll(): void {
  flushQueued = false;
  // (a flush may queue nothing new: sendMany does not call back into JavaScript)
  for (let i = 0; i < dirty.length; i++) dirty[i]!.flushOut();
  dirty.length = 0;
}

/**
 * Flush `f` at the end of this turn of the event loop (setImmediate: after every read of the
 * poll phase, so the datagrams queued by all of them leave in one sendmmsg per socket). The
 * caller queues itself once per turn (its own flag).
 */
export function queueFlush(f: Flushable): void {
  dirty.push(f);
  if (!flushQueued) {
    flushQueued = true;
    setImmediate(flushAll);
  }
}

/** IPv6 clients' 16 address bytes by their text, parsed once per address for the later replies' sendMany. */
const v6Addrs = new Map<string, Uint8Array>();

/** The 16 bytes of IPv6 address `ip` (as the A_ADDR words hold them), or undefined when it is not one. */
function v6Bytes(ip: string): Uint8Array | undefined {
  let b = v6Addrs.get(ip);
  if (b !== undefined) return b;
  b = ipBytes(ip);
  if (b === undefined || b.length !== 16) return undefined;
  if (v6Addrs.size >= V4_CACHE_MAX) v6Addrs.clear();
  v6Addrs.set(ip, b);
  return b;
}

/** RFC 5952 text of 16 address bytes at `off`. */
export function v6Text(b: Uint8Array, off: number): string {
  const g = new Array<number>(8);
  for (let i = 0; i < 8; i++) g[i] = (b[off + 2 * i]! << 8) | b[off + 2 * i + 1]!;
  return ip6Text(g);
}

export interface NativeUdpOptions {
  /** SO_REUSEPORT: several processes (-workers) bind the same address, the kernel spreads datagrams. */
  readonly reusePort?: boolean;
  /**
   * With reusePort: the number of processes in the group (-workers N). Above 1, every query for one
   * name goes to the same process (a BPF program hashes the name), so their caches make one.
   */
  readonly steer?: number;
}

/**
 * UDP before stream work. The event loop reads a socket once per turn, so a datagram that arrives
 * while the turn runs TCP queries, forwarded replies and their writes waits for all of them. The
 * stream paths call udpFirst() between their queries: when no native listener was read for
 * `udpFirstAfter` ms, each one is drained at once (recvmmsg, served, sendmmsg; native drain()),
 * so UDP waits about that long at most behind stream work (GC and other processes aside).
 * TYPEDNS_UDP_PRIORITY sets it (a duration, `250us` by default; 0: off). With node:dgram nothing
 * is drained (no listener registers).
 */
let udpFirstBad = '';
const udpFirstAfter = ((): number => {
  const v = process.env.TYPEDNS_UDP_PRIORITY;
  if (v === undefined || v === '') return 0.25;
  const ms = parseDuration(v);
  if (ms !== undefined && Number.isFinite(ms) && ms >= 0) return ms;
  udpFirstBad = `TYPEDNS_UDP_PRIORITY: invalid duration '${v}', 250us used`;
  return 0.25;
})();

/**
 * Read coalescing (native/udp.c coalesce()). When a read of a listener finds several datagrams
 * but not a full batch, they arrive faster than the thread wakes for them, and each wake-up pays
 * a whole batch's cost (the wake-up, the entry into JavaScript, recvmmsg and sendmmsg) for a few
 * queries. So after such a read, once its replies are sent, the thread pauses and reads again
 * (at most 8 reads per wake-up): fuller batches, less CPU per query, more of the cores for
 * everything else. A lone query never waits; a datagram that arrives during a pause waits for
 * its end. TYPEDNS_UDP_COALESCE sets the pause (a duration, `50us` by default, at most `1s`; 0:
 * off; the kernel may add its timer slack, ~50 µs), TYPEDNS_UDP_COALESCE_MIN the datagrams a
 * read must find (2 by default). With node:dgram there is no coalescing.
 */
let coalesceBad = '';
const coalesce = ((): [number, number] => {
  let us = 50;
  let min = 2;
  const v = process.env.TYPEDNS_UDP_COALESCE;
  if (v !== undefined && v !== '') {
    const ms = parseDuration(v);
    if (ms !== undefined && Number.isFinite(ms) && ms >= 0 && ms <= 1000) us = ms * 1000;
    else coalesceBad = `TYPEDNS_UDP_COALESCE: invalid duration '${v}' (0 to 1s), 50us used`;
  }
  const m = process.env.TYPEDNS_UDP_COALESCE_MIN;
  if (m !== undefined && m !== '') {
    if (/^\d+$/.test(m) && Number(m) >= 1 && Number(m) <= 64) min = Number(m);
    else coalesceBad += `${coalesceBad === '' ? '' : '; '}TYPEDNS_UDP_COALESCE_MIN: not a number from 1 to 64 '${m}', 2 used`;
  }
  return [us, min];
})();
let coalesceSet = false;

/**
 * bench/hostile.mjs --loop-delay: with TYPEDNS_UDP_GAPS_FILE set, one line per second
 * "<epoch ms> <reads> <longest gap ms> <gaps over 1 ms> <over 2> <over 5> <longest busy gap ms>
 * <busy over 1 ms> <over 2> <over 5>", a gap being the time since the listeners were last looked
 * at when a batch comes (what a datagram may have waited), its busy part the CPU time this thread
 * spent meanwhile (its own work — JavaScript, GC, system calls — without the time it waited for a
 * core).
 */
const gapsFile = process.env.TYPEDNS_UDP_GAPS_FILE;
const gaps = { reads: 0, max: 0, over1: 0, over2: 0, over5: 0, cpuMax: 0, cpu1: 0, cpu2: 0, cpu5: 0, cpuSeen: 0, timer: undefined as NodeJS.Timeout | undefined };

function noteGap(ms: number, cpu: number): void {
  const g = gaps;
  const busy = cpu - g.cpuSeen;
  g.cpuSeen = cpu;
  if (g.timer === undefined) {
    g.timer = setInterval(() => {
      appendFileSync(gapsFile!, `${Date.now()} ${g.reads} ${g.max.toFixed(2)} ${g.over1} ${g.over2} ${g.over5} ${g.cpuMax.toFixed(2)} ${g.cpu1} ${g.cpu2} ${g.cpu5}\n`);
      g.reads = g.max = g.over1 = g.over2 = g.over5 = g.cpuMax = g.cpu1 = g.cpu2 = g.cpu5 = 0;
    }, 1000);
    g.timer.unref();
    return; // (the first read: no gap before it)
  }
  g.reads++;
  if (ms > g.max) g.max = ms;
  if (ms > 1) g.over1++;
  if (ms > 2) g.over2++;
  if (ms > 5) g.over5++;
  if (busy > g.cpuMax) g.cpuMax = busy;
  if (busy > 1) g.cpu1++;
  if (busy > 2) g.cpu2++;
  if (busy > 5) g.cpu5++;
}

/** The open native listeners that udpFirst() drains. */
const firstListeners: NativeUdpListener[] = [];
/** When a native listener was last read (performance.now() ms): a batch served, or a drain. */
let udpSeen = 0;

/**
 * Called by stream paths (TCP and DoT queries, forwarded replies) between their units of work,
 * never inside a plugin chain: serves the datagrams waiting on the native listeners when none was
 * read for `udpFirstAfter` ms. Cheap when it is not time (one clock read) or nothing waits (one
 * recvmmsg per listener).
 */
export function udpFirst(): void {
  if (firstListeners.length === 0 || udpFirstAfter === 0) return;
  const now = performance.now();
  if (now - udpSeen < udpFirstAfter) return;
  udpSeen = now;
  if (gapsFile !== undefined) gaps.cpuSeen = nativeUdp()?.threadCpu?.() ?? 0;
  for (let i = 0; i < firstListeners.length; i++) firstListeners[i]!.drainNow();
}

/** Replies written after their batch (after an await) that wait for the turn's sendMany, at most. */
const ASYNC_MAX = 256;

export class NativeUdpListener implements Sender, Flushable {
  private h: unknown;
  private readonly mod: NativeUdp;
  private local: LocalAddr = { ip: '', port: 0 };
  private v6 = false;
  private readonly inBuf: ArrayBuffer;
  private readonly inBytes: Buffer;
  private readonly inMeta: Int32Array;
  private readonly metaBytes: Uint8Array;
  private readonly outBuf: ArrayBuffer;
  private readonly outBytes: Uint8Array;
  private readonly outMeta: Int32Array;
  private nOut = 0;
  private outOff = 0;
  /** The datagram being served (its index in the batch) and its client, while a batch runs. */
  private cur = -1;
  private curClient: Client | undefined;
  /** Replies written later (after an await): queued for one sendMany per turn (queueFlush). */
  private asyncBuf: ArrayBuffer | undefined;
  private asyncBytes: Uint8Array | undefined;
  private asyncMeta: Int32Array | undefined;
  /** asyncMeta's bytes (an IPv6 address is written into its A_ADDR words as bytes). */
  private asyncMetaBytes: Uint8Array | undefined;
  private nAsync = 0;
  private asyncOff = 0;
  private asyncQueued = false;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly ctx: ServeContext,
    private readonly opts: NativeUdpOptions = {},
  ) {
    const mod = nativeUdp();
    if (mod === undefined) throw new Error(`native UDP unavailable: ${nativeModuleError()}`);
    this.mod = mod;
    this.inBuf = new ArrayBuffer(L.BATCH * L.SLOT);
    this.inBytes = Buffer.from(this.inBuf);
    const meta = new ArrayBuffer(L.BATCH * L.META * 4);
    this.inMeta = new Int32Array(meta);
    this.metaBytes = new Uint8Array(meta);
    this.outBuf = new ArrayBuffer(OUT_BYTES);
    this.outBytes = new Uint8Array(this.outBuf);
    this.outMeta = new Int32Array(L.BATCH * L.OUT_META);
  }

  listen(): Promise<number> {
    this.v6 = net.isIPv6(this.host);
    const onBatch = (n: number): number => this.onBatch(n);
    try {
      this.h = this.mod.open({
        host: this.host,
        port: this.port,
        v6: this.v6,
        rcvbuf: 4 << 20,
        sndbuf: 4 << 20,
        reusePort: this.opts.reusePort === true,
        in: this.inBuf,
        inMeta: this.inMeta.buffer as ArrayBuffer,
        out: this.outBuf,
        outMeta: this.outMeta.buffer as ArrayBuffer,
        onBatch,
        resource: this,
      });
    } catch (e) {
      return Promise.reject(e as Error);
    }
    const group = this.opts.steer ?? 1;
    if (this.opts.reusePort === true && group > 1) {
      const rc = this.mod.steer === undefined ? -1 : this.mod.steer(this.h, group);
      if (rc < 0) this.ctx.log.warn(`udp ${this.host}:${this.port}: cannot steer queries by name across the workers (${this.mod.steer === undefined ? 'native module built before steer' : `errno ${-rc}`}); each worker caches on its own`);
    }
    const port = this.mod.localPort(this.h);
    this.local = { ip: this.host, port };
    if (this.mod.drain !== undefined) firstListeners.push(this);
    if (udpFirstBad !== '') {
      this.ctx.log.warn(udpFirstBad);
      udpFirstBad = '';
    }
    if (!coalesceSet) {
      coalesceSet = true;
      if (coalesceBad !== '') this.ctx.log.warn(coalesceBad);
      this.mod.coalesce?.(coalesce[0], coalesce[1]);
    }
    return Promise.resolve(port);
  }

  /** Serve datagrams 0..n-1 of the batch; returns how many replies were queued for sendmmsg. */
  private onBatch(n: number): number {
    const now = performance.now();
    if (gapsFile !== undefined) noteGap(now - udpSeen, this.mod.threadCpu?.() ?? 0);
    udpSeen = now;
    this.nOut = 0;
    this.outOff = 0;
    const m = this.inMeta;
    const META = L.META;
    const SLOT = L.SLOT;
    try {
      for (let i = 0; i < n; i++) this.serveOne(i, m, i * META, SLOT);
    } finally {
      this.cur = -1;
      this.curClient = undefined;
    }
    return this.nOut;
  }

  /** Datagram `i` of the batch: its client from the meta words at `k`, its bytes copied out of the slot. */
  private serveOne(i: number, m: Int32Array, k: number, SLOT: number): void {
    const len = m[k + L.M_LEN]!;
    if (len < 0) return; // larger than a slot: not a DNS query we answer over UDP
    let client: Client;
    const port = m[k + L.M_PORT]!;
    if (m[k + L.M_FAMILY] === 4) {
      client = { ip: v4(m[k + L.M_ADDR]!), port, family: 4 };
    } else {
      const b = this.metaBytes;
      const at = (k + L.M_ADDR) * 4;
      // an IPv4 client of a dual-stack socket (::ffff:a.b.c.d) is reported as IPv4, as udp.ts does
      let mapped = b[at + 10] === 0xff && b[at + 11] === 0xff;
      for (let j = 0; mapped && j < 10; j++) if (b[at + j] !== 0) mapped = false;
      client = mapped ? { ip: `${b[at + 12]}.${b[at + 13]}.${b[at + 14]}.${b[at + 15]}`, port, family: 4 } : { ip: v6Text(b, at), port, family: 6 };
    }
    // The query gets its own bytes: plugins may keep req.wire after the batch (async answers).
    const msg = Buffer.allocUnsafe(len);
    this.inBytes.copy(msg, 0, i * SLOT, i * SLOT + len);
    this.cur = i;
    this.curClient = client;
    try {
      serveQuery(this.ctx, msg, client, this.local, 'udp', this);
    } catch (e) {
      // serveQuery does not throw; if it ever did, the rest of the batch is still served
      this.ctx.log.error(`udp ${this.host}:${this.local.port}: ${(e as Error).message}`);
    }
  }

  send(buf: Uint8Array, w: CoreWriter): void {
    const h = this.h;
    if (h === undefined) return;
    const c = w.req.client;
    // the reply to the datagram being served: queued for the batch's sendmmsg
    if (c === this.curClient && this.nOut < L.BATCH && this.outOff + buf.length <= OUT_BYTES) {
      this.outBytes.set(buf, this.outOff);
      const k = this.nOut++ * L.OUT_META;
      this.outMeta[k + L.O_INDEX] = this.cur;
      this.outMeta[k + L.O_OFFSET] = this.outOff;
      this.outMeta[k + L.O_LENGTH] = buf.length;
      this.outOff += buf.length;
      return;
    }
    // a reply written later (after an await): queued for this turn's sendMany
    if (this.queueAsync(buf, c)) return;
    // one too large for the queue, or to an address the queue cannot hold: on its own
    this.mod.sendTo(h, buf, c.ip, c.port);
  }

  /** Queue a later reply to an IPv4 or IPv6 client for this turn's sendMany; false when it cannot be. */
  private queueAsync(buf: Uint8Array, c: Client): boolean {
    if (this.mod.sendMany === undefined || L.ASYNC_META === undefined) return false;
    const word = c.family === 4 ? v4Word(c.ip) : undefined;
    const v6 = c.family === 6 ? v6Bytes(c.ip) : undefined;
    if ((word === undefined && v6 === undefined) || buf.length > OUT_BYTES) return false;
    if (this.asyncBuf === undefined) {
      this.asyncBuf = new ArrayBuffer(OUT_BYTES);
      this.asyncBytes = new Uint8Array(this.asyncBuf);
      this.asyncMeta = new Int32Array(ASYNC_MAX * L.ASYNC_META);
      this.asyncMetaBytes = new Uint8Array(this.asyncMeta.buffer);
    }
    if (this.nAsync === ASYNC_MAX || this.asyncOff + buf.length > OUT_BYTES) this.flushOut();
    this.asyncBytes!.set(buf, this.asyncOff);
    const m = this.asyncMeta!;
    const k = this.nAsync++ * L.ASYNC_META;
    m[k + L.A_OFFSET!] = this.asyncOff;
    m[k + L.A_LENGTH!] = buf.length;
    m[k + L.A_PORT!] = c.port;
    if (v6 !== undefined) {
      // four words of network-order bytes, as the native side copies them into sin6_addr
      m[k + L.A_FAMILY!] = 6;
      this.asyncMetaBytes!.set(v6, (k + L.A_ADDR!) * 4);
    } else {
      m[k + L.A_FAMILY!] = 4;
      m[k + L.A_ADDR!] = word!;
    }
    this.asyncOff += buf.length;
    if (!this.asyncQueued) {
      this.asyncQueued = true;
      queueFlush(this);
    }
    return true;
  }

  /** Send the queued later replies (one sendmmsg per 64). */
  flushOut(): void {
    this.asyncQueued = false;
    const n = this.nAsync;
    this.nAsync = 0;
    this.asyncOff = 0;
    if (n === 0 || this.h === undefined) return;
    this.mod.sendMany!(this.h, this.asyncBuf!, this.asyncMeta!.buffer as ArrayBuffer, n);
  }

  /**
   * Serve what waits on the socket now (udpFirst): a batch like a readiness event's, called from a
   * stream path. Nothing is read while this listener's own batch is being served (native side).
   */
  drainNow(): void {
    if (this.h === undefined) return;
    try {
      this.mod.drain!(this.h);
    } catch (e) {
      // onBatch catches per query; if anything still escaped, the stream path goes on
      this.ctx.log.error(`udp ${this.host}:${this.local.port}: ${(e as Error).message}`);
    }
  }

  /** sendmmsg calls this socket made and the datagrams they carried (batch replies and later ones). */
  get sendStats(): { calls: number; sent: number } {
    const st = this.h === undefined || this.mod.stats === undefined ? [0, 0] : this.mod.stats(this.h);
    return { calls: st[0]!, sent: st[1]! };
  }

  /** Replies the kernel refused (full send buffer, unreachable client) and socket errors cleared. */
  get sendErrors(): number {
    return this.h === undefined ? 0 : this.mod.sendErrors(this.h);
  }

  get address(): { ip: string; port: number } {
    return this.local;
  }

  close(): Promise<void> {
    if (this.nAsync > 0) this.flushOut(); // replies already written leave before the socket closes
    const h = this.h;
    this.h = undefined;
    const at = firstListeners.indexOf(this);
    if (at >= 0) firstListeners.splice(at, 1);
    if (h !== undefined) this.mod.close(h);
    // the socket closes on the next turn of the event loop
    return new Promise((resolve) => setImmediate(resolve));
  }
}

/** Bytes per reply slot of the client sockets' shared receive area: any UDP datagram fits. */
const CLIENT_SLOT = 65536;
/** Queries queued on one client socket for the turn's sendmmsg, at most (more: flushed early). */
const CLIENT_QUEUE = 64;
/** Bytes of queries queued on one client socket at most; a larger query goes out on its own. */
const CLIENT_QUEUE_BYTES = 32 * 1024;

/** The receive area every client socket shares (a batch is read during its onBatch call). */
let clientIn: { buf: ArrayBuffer; bytes: Buffer; meta: Int32Array } | undefined;

/** Client sockets opened, sendMany calls made for queued queries and the datagrams they carried (tests, bench). */
export const clientStats = { sockets: 0, flushes: 0, datagrams: 0 };

/** True when the native module can make client sockets (connectTo, sendMany). */
export function nativeUdpClients(): boolean {
  const m = nativeUdp();
  return m !== undefined && m.connectTo !== undefined && m.sendMany !== undefined && L.ASYNC_META !== undefined;
}

/**
 * A UDP socket connected to one upstream from a random local port, on the native module: the
 * datagrams sent during a turn of the event loop leave in one sendmmsg at its end, replies are
 * read with recvmmsg and handed over once per batch. `onReply(bytes, off, len)` sees each reply
 * in the shared area (valid only during the call), `onError(code)` a socket error
 * (ECONNREFUSED: nothing listens there), `onSendFailed(tag, code)` a datagram the kernel refused.
 */
export class NativeUdpClient<T> implements Flushable {
  private h: unknown;
  private readonly mod: NativeUdp;
  /** The send queue: taken from the closed sockets' (forward replaces a socket every 1,000 queries). */
  private readonly q: SendQueue = spareQueues.pop() ?? newSendQueue();
  private readonly out = this.q.out;
  private readonly outBytes = this.q.outBytes;
  private readonly outMeta = this.q.outMeta;
  /** What each queued datagram stands for (given back by onSendFailed). */
  private readonly tags = this.q.tags as Array<T | undefined>;
  private n = 0;
  private off = 0;
  private queued = false;

  constructor(
    host: string,
    port: number,
    private readonly onReply: (bytes: Buffer, off: number, len: number) => void,
    private readonly onError: (code: string) => void,
    private readonly onSendFailed: (tag: T, code: string) => void,
  ) {
    const mod = nativeUdp();
    if (mod === undefined || !nativeUdpClients()) throw new Error(`native UDP client sockets unavailable: ${nativeModuleError() || 'module built before connectTo'}`);
    this.mod = mod;
    clientIn ??= (() => {
      const buf = new ArrayBuffer(L.BATCH * CLIENT_SLOT);
      return { buf, bytes: Buffer.from(buf), meta: new Int32Array(L.BATCH * L.META) };
    })();
    const area = clientIn;
    // throws (ECONNREFUSED, ENETUNREACH, …) like a failed connect: the caller fails the query
    this.h = mod.connectTo!({
      host,
      port,
      v6: net.isIPv6(host),
      rcvbuf: 1 << 20,
      sndbuf: 1 << 20,
      in: area.buf,
      inMeta: area.meta.buffer as ArrayBuffer,
      slot: CLIENT_SLOT,
      onBatch: (n: number) => this.batch(n),
      resource: this,
    });
    clientStats.sockets++;
  }

  private batch(n: number): void {
    if (n < 0) return this.onError(errName(n));
    const area = clientIn!;
    const META = L.META;
    for (let i = 0; i < n && this.h !== undefined; i++) {
      const len = area.meta[i * META + L.M_LEN]!;
      // (-1: larger than a slot, which no UDP datagram is)
      if (len >= 0) this.onReply(area.bytes, i * CLIENT_SLOT, len);
    }
  }

  /** Queue `q` with the DNS ID `id` for this turn's sendmmsg (`q` is not changed); `tag` is given back if the kernel refuses it. */
  send(q: Uint8Array, tag: T, id: number): void {
    if (this.h === undefined) return this.onSendFailed(tag, 'EBADF');
    if (q.length < 12) return this.onSendFailed(tag, 'EINVAL');
    if (q.length > CLIENT_QUEUE_BYTES) {
      // too large for the queue: a sendMany of its own
      const one = new ArrayBuffer(q.length);
      const b = new Uint8Array(one);
      b.set(q);
      b[0] = id >> 8;
      b[1] = id & 0xff;
      const m = new Int32Array(L.ASYNC_META!);
      m[L.A_OFFSET!] = 0;
      m[L.A_LENGTH!] = q.length;
      if (this.mod.sendMany!(this.h, one, m.buffer as ArrayBuffer, 1) > 0) this.onSendFailed(tag, errName(m[L.A_LENGTH!]!));
      return;
    }
    if (this.n === CLIENT_QUEUE || this.off + q.length > CLIENT_QUEUE_BYTES) this.flushOut();
    const o = this.outBytes;
    o.set(q, this.off);
    o[this.off] = id >> 8;
    o[this.off + 1] = id & 0xff;
    const k = this.n * L.ASYNC_META!;
    this.outMeta[k + L.A_OFFSET!] = this.off;
    this.outMeta[k + L.A_LENGTH!] = q.length;
    this.tags[this.n++] = tag;
    this.off += q.length;
    if (!this.queued) {
      this.queued = true;
      queueFlush(this);
    }
  }

  /** Send what is queued: one sendmmsg (per 64). */
  flushOut(): void {
    this.queued = false;
    const n = this.n;
    this.n = 0;
    this.off = 0;
    if (n === 0) return;
    const h = this.h;
    const failed = h === undefined ? n : this.mod.sendMany!(h, this.out, this.outMeta.buffer as ArrayBuffer, n);
    clientStats.flushes++;
    clientStats.datagrams += n;
    for (let i = 0; i < n; i++) {
      const tag = this.tags[i]!;
      this.tags[i] = undefined;
      if (failed === 0) continue;
      const r = h === undefined ? -9 : this.outMeta[i * L.ASYNC_META! + L.A_LENGTH!]!;
      if (r < 0) this.onSendFailed(tag, h === undefined ? 'EBADF' : errName(r));
    }
  }

  /** The kernel's port for this socket (random: connect() without bind). */
  get localPort(): number {
    return this.h === undefined ? 0 : this.mod.localPort(this.h);
  }

  /** sendmmsg calls made and datagrams sent. */
  get sendStats(): { calls: number; sent: number } {
    const st = this.h === undefined || this.mod.stats === undefined ? [0, 0] : this.mod.stats(this.h);
    return { calls: st[0]!, sent: st[1]! };
  }

  /** Close now: queued datagrams are dropped (their queries are failed by the caller). */
  close(): void {
    const h = this.h;
    this.h = undefined;
    this.n = 0;
    this.off = 0;
    this.tags.fill(undefined);
    if (h !== undefined) {
      this.mod.close(h);
      // (a flush still scheduled finds nothing queued: n is 0 and stays so, h being gone)
      if (spareQueues.length < MAX_SPARE_QUEUES) spareQueues.push(this.q);
    }
  }
}

/** A client socket's send queue: the datagrams' bytes, their offsets and lengths, their tags. */
interface SendQueue {
  readonly out: ArrayBuffer;
  readonly outBytes: Uint8Array;
  readonly outMeta: Int32Array;
  readonly tags: unknown[];
}

function newSendQueue(): SendQueue {
  const out = new ArrayBuffer(CLIENT_QUEUE_BYTES);
  return { out, outBytes: new Uint8Array(out), outMeta: new Int32Array(CLIENT_QUEUE * L.ASYNC_META!), tags: new Array<unknown>(CLIENT_QUEUE).fill(undefined) };
}

/** Send queues of closed client sockets, for the next ones (at most MAX_SPARE_QUEUES kept). */
const spareQueues: SendQueue[] = [];
const MAX_SPARE_QUEUES = 16;

/** A libuv errno (negative) by name: ECONNREFUSED, … */
function errName(n: number): string {
  try {
    return getSystemErrorName(n);
  } catch {
    return `errno ${n}`;
  }
}
