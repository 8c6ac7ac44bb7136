// A reader for the dnstap protobuf this plugin writes (encode.ts): the Dnstap envelope and its
// Message, field by field. For tests and tools that check a stream; the plugin does not use it.

export interface DecodedTap {
  identity?: string;
  version?: string;
  extra?: string;
  /** Dnstap.Type (1: MESSAGE). */
  kind?: number;
  message?: {
    type?: number;
    family?: number;
    protocol?: number;
    queryAddress?: Uint8Array;
    responseAddress?: Uint8Array;
    queryPort?: number;
    responsePort?: number;
    /** Seconds since the epoch, with the nanoseconds as a fraction. */
    queryTime?: number;
    responseTime?: number;
    queryMessage?: Uint8Array;
    responseMessage?: Uint8Array;
  };
}

/** The fields of one protobuf message: number → values (varints as numbers, the rest as bytes). */
function fields(b: Uint8Array): Map<number, Array<number | Uint8Array>> {
  const out = new Map<number, Array<number | Uint8Array>>();
  let pos = 0;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (;;) {
      if (pos >= b.length) throw new Error('dnstap: varint past the end');
      const c = b[pos++]!;
      v += (c & 0x7f) * mul;
      if ((c & 0x80) === 0) return v;
      mul *= 0x80;
    }
  };
  while (pos < b.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    let v: number | Uint8Array;
    if (wire === 0) v = varint();
    else if (wire === 2) {
      const n = varint();
      if (pos + n > b.length) throw new Error('dnstap: bytes past the end');
      v = b.subarray(pos, pos + n);
      pos += n;
    } else if (wire === 5) {
      if (pos + 4 > b.length) throw new Error('dnstap: fixed32 past the end');
      v = (b[pos]! | (b[pos + 1]! << 8) | (b[pos + 2]! << 16) | (b[pos + 3]! << 24)) >>> 0;
      pos += 4;
    } else if (wire === 1) {
      pos += 8;
      continue;
    } else throw new Error(`dnstap: wire type ${wire} not expected`);
    const list = out.get(field);
    if (list === undefined) out.set(field, [v]);
    else list.push(v);
  }
  return out;
}

const num = (f: Map<number, Array<number | Uint8Array>>, n: number): number | undefined => {
  const v = f.get(n)?.[0];
  return typeof v === 'number' ? v : undefined;
};
const bytes = (f: Map<number, Array<number | Uint8Array>>, n: number): Uint8Array | undefined => {
  const v = f.get(n)?.[0];
  return v instanceof Uint8Array ? v : undefined;
};
const str = (f: Map<number, Array<number | Uint8Array>>, n: number): string | undefined => {
  const v = bytes(f, n);
  return v === undefined ? undefined : Buffer.from(v).toString();
};
const time = (f: Map<number, Array<number | Uint8Array>>, sec: number, nsec: number): number | undefined => {
  const s = num(f, sec);
  return s === undefined ? undefined : s + (num(f, nsec) ?? 0) / 1e9;
};

/** Decode one frame's payload (a Dnstap message). Throws on bytes that are not protobuf. */
export function decodeDnstap(payload: Uint8Array): DecodedTap {
  const f = fields(payload);
  const out: DecodedTap = {};
  const id = str(f, 1);
  if (id !== undefined) out.identity = id;
  const ver = str(f, 2);
  if (ver !== undefined) out.version = ver;
  const extra = str(f, 3);
  if (extra !== undefined) out.extra = extra;
  const kind = num(f, 15);
  if (kind !== undefined) out.kind = kind;
  const mb = bytes(f, 14);
  if (mb !== undefined) {
    const m = fields(mb);
    const msg: NonNullable<DecodedTap['message']> = {};
    const set = <K extends keyof typeof msg>(k: K, v: (typeof msg)[K] | undefined): void => {
      if (v !== undefined) msg[k] = v;
    };
    set('type', num(m, 1));
    set('family', num(m, 2));
    set('protocol', num(m, 3));
    set('queryAddress', bytes(m, 4));
    set('responseAddress', bytes(m, 5));
    set('queryPort', num(m, 6));
    set('responsePort', num(m, 7));
    set('queryTime', time(m, 8, 9));
    set('queryMessage', bytes(m, 10));
    set('responseTime', time(m, 12, 13));
    set('responseMessage', bytes(m, 14));
    out.message = msg;
  }
  return out;
}
