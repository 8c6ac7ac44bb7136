// UDP listener on the native batch socket (native/udp.c): recvmmsg/sendmmsg, one call into
// JavaScript per batch of datagrams. Same behaviour as UdpListener (udp.ts), which is used when
// the native module is not built (scripts/build-native.mjs), was built for another Node ABI or
// platform (its stamp, build/typedns_udp.json, says so), does not load, or TYPEDNS_NATIVE_UDP=0.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '../plugin/types.js';
import type { CoreWriter, Sender } from '../request/writer.js';
import type { LocalAddr } from '../request/request.js';
import { serveQuery, type ServeContext } from './serve.js';
import { ip6Text } from '../dns/names.js';

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
}

/** The native module's functions (native/udp.c). */
interface NativeUdp {
  open(o: OpenOptions): unknown;
  localPort(h: unknown): number;
  sendTo(h: unknown, bytes: Uint8Array, host: string, port: number): number;
  sendErrors(h: unknown): number;
  steer?(h: unknown, groupSize: number): number;
  close(h: unknown): void;
  readonly layout: Layout;
}

/** The layout, read once when the module loads. */
let L: Layout;

let loaded: NativeUdp | null | undefined;
let loadError = '';

/** The package's root folder: from src/server (tests) or dist/src/server (the built CLI), the one with native/udp.c. */
function packageRoot(): string | undefined {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const up of ['../..', '../../..']) {
    const root = path.resolve(here, up);
    if (existsSync(path.join(root, 'native/udp.c'))) return root;
  }
  return undefined;
}

/** scripts/build-native.mjs of this installation (`typedns build-native` runs it). */
export function nativeBuildScript(): string | undefined {
  const root = packageRoot();
  const p = root === undefined ? undefined : path.join(root, 'scripts/build-native.mjs');
  return p !== undefined && existsSync(p) ? p : undefined;
}

/**
 * What scripts/build-native.mjs records beside the module (build/typedns_udp.json): the Node ABI,
 * platform and architecture it was compiled for. The module uses libuv structures as well as
 * Node-API, so it is loaded only by a Node with the same ABI on the same platform and architecture.
 */
interface NativeStamp {
  node?: string;
  modules?: string;
  platform?: string;
  arch?: string;
}

const target = (s: NativeStamp): string => `Node ABI ${s.modules ?? '?'} ${s.platform ?? '?'}/${s.arch ?? '?'}`;

/** Why the module at `p` (with its stamp) must not be loaded by this Node, or '' when it may. */
function stampMismatch(p: string): string {
  const file = p.replace(/\.node$/, '.json');
  let stamp: NativeStamp;
  try {
    stamp = JSON.parse(readFileSync(file, 'utf8')) as NativeStamp;
  } catch {
    return `build/typedns_udp.node has no readable build stamp (${path.basename(file)}), so not loaded`;
  }
  const here: NativeStamp = { modules: process.versions.modules, platform: process.platform, arch: process.arch };
  if (stamp.modules === here.modules && stamp.platform === here.platform && stamp.arch === here.arch) return '';
  return `build/typedns_udp.node was built for ${target(stamp)}${stamp.node ? ` (Node ${stamp.node})` : ''}, this is ${target(here)} (Node ${process.versions.node})`;
}

/** How to rebuild: in an installed package the bin's subcommand, in a checkout the npm script. */
function rebuildHint(p: string): string {
  return p.split(path.sep).includes('node_modules') ? 'run `npx typedns build-native`' : 'run `npm run build:native`';
}

/**
 * The native module, or undefined (not built, built for another Node or platform, not loadable,
 * or TYPEDNS_NATIVE_UDP=0): then UDP is served with node:dgram and nativeUdpError() says why.
 */
export function nativeUdp(): NativeUdp | undefined {
  if (loaded !== undefined) return loaded ?? undefined;
  loaded = null;
  if (process.env.TYPEDNS_NATIVE_UDP === '0') {
    loadError = 'disabled by TYPEDNS_NATIVE_UDP=0';
    return undefined;
  }
  const root = packageRoot();
  const p = root === undefined ? undefined : path.join(root, 'build/typedns_udp.node');
  if (p === undefined || !existsSync(p)) {
    loadError = `build/typedns_udp.node not built; ${rebuildHint(root ?? '')}`;
    return undefined;
  }
  const mismatch = stampMismatch(p);
  if (mismatch !== '') {
    loadError = `${mismatch}; ${rebuildHint(p)}`;
    return undefined;
  }
  try {
    const mod = createRequire(import.meta.url)(p) as Partial<NativeUdp>;
    if (typeof mod.layout !== 'object' || mod.layout === null) {
      loadError = `build/typedns_udp.node was built from an older native/udp.c (no layout export); ${rebuildHint(p)}`;
      return undefined;
    }
    L = { ...mod.layout };
    loaded = mod as NativeUdp;
  } catch (e) {
    loadError = `build/typedns_udp.node did not load: ${(e as Error).message.split('\n')[0]}; ${rebuildHint(p)}`;
  }
  return loaded ?? undefined;
}

/** Why nativeUdp() is undefined ('' when it is loaded). */
export const nativeUdpError = (): string => (nativeUdp() ? '' : loadError);

/** Largest reply kept for the batch send; larger ones go out on their own. */
const OUT_BYTES = 256 * 1024;
/** IPv4 addresses as strings, by address (cleared when it grows past this). */
const V4_CACHE_MAX = 65_536;
const v4Names = new Map<number, string>();

function v4(a: number): string {
  let s = v4Names.get(a);
  if (s === undefined) {
    s = `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
    if (v4Names.size >= V4_CACHE_MAX) v4Names.clear();
    v4Names.set(a, s);
  }
  return s;
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

export class NativeUdpListener implements Sender {
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

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly ctx: ServeContext,
    private readonly opts: NativeUdpOptions = {},
  ) {
    const mod = nativeUdp();
    if (mod === undefined) throw new Error(`native UDP unavailable: ${loadError}`);
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
    return Promise.resolve(port);
  }

  /** Serve datagrams 0..n-1 of the batch; returns how many replies were queued for sendmmsg. */
  private onBatch(n: number): number {
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
    // a reply written later (after an await) or too large for the batch area: on its own
    this.mod.sendTo(h, buf, c.ip, c.port);
  }

  /** Replies the kernel refused (full send buffer, unreachable client) and socket errors cleared. */
  get sendErrors(): number {
    return this.h === undefined ? 0 : this.mod.sendErrors(this.h);
  }

  get address(): { ip: string; port: number } {
    return this.local;
  }

  close(): Promise<void> {
    const h = this.h;
    this.h = undefined;
    if (h !== undefined) this.mod.close(h);
    // the socket closes on the next turn of the event loop
    return new Promise((resolve) => setImmediate(resolve));
  }
}
