// The per-query request: one object per query, every field set in the constructor (one hidden
// class), the full message decoded only when a plugin reads `msg`.
import dnsPacket from 'dns-packet';
import type { Client, Message, Request, Slot, Trace } from '../plugin/types.js';
import { encodeName } from '../dns/names.js';

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
    return this.bufsize < 512 ? 512 : this.bufsize;
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
    r.trace = this.trace;
    return r;
  }
}
