// The per-query request: one object per query, every field set in the constructor (one hidden
// class), the full message decoded only when a plugin reads `msg`.
import dnsPacket from 'dns-packet';
import type { Client, Message, Request, Slot, Trace } from '../plugin/types.js';
import { encodeName } from '../dns/names.js';
import { FLAG } from '../dns/constants.js';
import { findOpt } from '../dns/wire.js';
import { replaceOpt, type OptRecord } from '../dns/opt.js';

let slotCount = 0;

/** Allocate a slot id (at setup time). */
export function newSlot<T>(): Slot<T> {
  const id = slotCount++;
  return {
    get(req: Request): T | undefined {
      const s = (req as DnsRequest).slots;
      return s === null ? undefined : (s[id] as T | undefined);
    },
    set(req: Request, value: T): void {
      const r = req as DnsRequest;
      if (r.slots === null) r.slots = [];
      r.slots[id] = value;
    },
  };
}

export interface LocalAddr {
  readonly ip: string;
  readonly port: number;
}

export class DnsRequest implements Request {
  private decoded: Message | null = null;
  slots: unknown[] | null = null;
  /** The request the server built for this query (copies point at it): its writer fits replies to root.cap. */
  root: DnsRequest = this;
  /** The largest UDP reply for this query, lowered by withBufsize (CoreDNS's bufsize changes the request the scrub writer reads). */
  cap = 65535;

  constructor(
    readonly wire: Buffer,
    readonly id: number,
    readonly qname: string,
    readonly name: string,
    readonly qtype: number,
    readonly qclass: number,
    readonly questionEnd: number,
    readonly zone: string,
    readonly transport: 'udp' | 'tcp',
    readonly client: Client,
    readonly local: LocalAddr,
    readonly edns: boolean,
    readonly bufsize: number,
    doBit: boolean,
    readonly flags: number,
    readonly start: number,
  ) {
    this.do = doBit;
    this.trace = undefined;
  }

  readonly do: boolean;
  /** Set (right after construction) only on a query being explained; undefined otherwise, so every request has one shape. */
  trace: Trace | undefined;

  get cd(): boolean {
    return (this.flags & 0x0010) !== 0;
  }

  get rd(): boolean {
    return (this.flags & 0x0100) !== 0;
  }

  /** 512 without EDNS over UDP, the advertised size (at least 512) with it, 65535 over TCP. */
  get size(): number {
    if (this.transport === 'tcp') return 65535;
    if (!this.edns) return 512;
    const size = this.bufsize < 512 ? 512 : this.bufsize;
    const cap = this.root.cap;
    return size > cap ? cap : size;
  }

  get msg(): Message {
    if (this.decoded === null) this.decoded = dnsPacket.decode(this.wire);
    return this.decoded;
  }

  withQuestion(name: string, qtype: number, qclass = this.qclass, zone = this.zone): DnsRequest {
    const nameBytes = encodeName(name);
    const rest = this.wire.subarray(this.questionEnd);
    const wire = Buffer.allocUnsafe(12 + nameBytes.length + 4 + rest.length);
    this.wire.copy(wire, 0, 0, 12);
    wire.set(nameBytes, 12);
    let p = 12 + nameBytes.length;
    wire[p++] = qtype >> 8;
    wire[p++] = qtype & 0xff;
    wire[p++] = qclass >> 8;
    wire[p++] = qclass & 0xff;
    wire.set(rest, p);
    const lower = name.toLowerCase();
    const fq = lower.endsWith('.') ? lower : lower + '.';
    const r = new DnsRequest(
      wire,
      this.id,
      name.endsWith('.') ? name : name + '.',
      fq,
      qtype,
      qclass,
      p,
      zone,
      this.transport,
      this.client,
      this.local,
      this.edns,
      this.bufsize,
      this.do,
      this.flags,
      this.start,
    );
    r.slots = this.slots === null ? null : this.slots.slice();
    r.root = this.root;
    r.trace = this.trace;
    return r;
  }

  withFlags(flags: number): Request {
    const f = (flags & ~(0x7800 | 0xf | FLAG.QR)) | (this.flags & (0x7800 | 0xf | FLAG.QR));
    const wire = Buffer.from(this.wire);
    wire[2] = f >> 8;
    wire[3] = f & 0xff;
    return this.copy(wire, f, this.bufsize);
  }

  withBufsize(size: number): Request {
    const at = this.edns ? findOpt(this.wire) : -1;
    if (at < 0) return this;
    const wire = Buffer.from(this.wire);
    wire[at + 3] = size >> 8;
    wire[at + 4] = size & 0xff;
    const r = this.copy(wire, this.flags, size);
    if (this.transport === 'udp' && size < this.root.cap) this.root.cap = size < 512 ? 512 : size;
    return r;
  }

  withOpt(opt: OptRecord): Request {
    return this.copy(replaceOpt(this.wire, opt, this.questionEnd), this.flags, opt.udp, true, (opt.flags & 0x8000) !== 0);
  }

  /** This request with another wire (same question) and header and OPT values. */
  private copy(wire: Buffer, flags: number, bufsize: number, edns = this.edns, doBit = this.do): DnsRequest {
    const r = new DnsRequest(
      wire,
      this.id,
      this.qname,
      this.name,
      this.qtype,
      this.qclass,
      this.questionEnd,
      this.zone,
      this.transport,
      this.client,
      this.local,
      edns,
      bufsize,
      doBit,
      flags,
      this.start,
    );
    r.slots = this.slots === null ? null : this.slots.slice();
    r.root = this.root;
    r.trace = this.trace;
    return r;
  }
}
