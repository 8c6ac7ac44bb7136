// A list response decoded while its bytes arrive: `{"kind":…,"metadata":{…},"items":[{…},{…},…]}`
// is scanned for the boundaries of its top-level values and of each element of `items`, and each
// item is handed to JSON.parse on its own. A page of 500 EndpointSlices is ~1.5 MB of JSON: parsed
// whole, it is a tree of tens of thousands of objects that outlives several young-generation
// collections (and is promoted) before it is cut to slim records; parsed an item at a time, each
// item's objects die young, the page is never held as one string, and the work is done while the
// rest of the page is still on the wire. `metadata` is reported as soon as it is complete, which
// for the API server (it writes `metadata` before `items`) is before the first item: the
// `continue` token of the next page is known at once.
//
// The scanner only tracks what JSON.parse cannot be given piecewise: nesting depth, strings
// (with escapes, across chunk boundaries) and the top-level keys. Anything it lets through that is
// not valid JSON is rejected by JSON.parse of the piece holding it; what it skips (`kind`,
// `apiVersion`) is only checked for its structure.

export interface ListHandlers {
  /** The list's `metadata` object (resourceVersion, continue), once, as soon as it has arrived. */
  meta(m: { resourceVersion?: string; continue?: string }): void;
  /** One element of `items`, parsed. */
  item(obj: unknown): void;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const COMMA = 0x2c;

/** Where the scanner is, relative to the parts it cares about. */
const enum Capture {
  None,
  /** Inside the top-level `metadata` object. */
  Meta,
  /** Inside one element of `items`. */
  Item,
}

export class ListDecoder {
  /** Open objects/arrays; the list object itself is depth 1. */
  private depth = 0;
  private inString = false;
  /** Bytes to step over at the start of the next chunk (1: the previous one ended inside a string with a backslash). */
  private skip = 0;
  /** At depth 1: the next string is a key. */
  private expectKey = false;
  /** The top-level key being read (a string at depth 1 in key position), its bytes so far. */
  private keyParts: Buffer[] | undefined;
  private key = '';
  /** At depth 1: the next value is the current key's (after its colon). */
  private expectValue = false;
  /** Inside the `items` array (its elements are at depth 2). */
  private inItems = false;
  private capture = Capture.None;
  /** The captured piece's bytes in earlier chunks; `start` is where it begins in the current one. */
  private parts: Buffer[] = [];
  private start = -1;
  private metaSeen = false;
  private done = false;

  constructor(private readonly h: ListHandlers) {}

  /** Feed the next chunk of the body. Throws on malformed input or when a handler throws. */
  write(b: Buffer): void {
    const n = b.length;
    if (n === 0) return;
    let i = this.skip;
    this.skip = 0;
    if (this.capture !== Capture.None) this.start = 0;
    let keyStart = this.keyParts !== undefined ? 0 : -1;
    while (i < n) {
      if (this.capture === Capture.Item && this.depth > 2 && !this.inString) {
        // Inside an item, below its top: only nesting and strings matter until the byte that
        // closes the item. Most of a list's bytes are here; the general loop below, with its
        // field reads and branches per byte, costs several times as much.
        i = this.skipInItem(b, i, n);
        if (i >= n) break;
      }
      if (this.inString) {
        // To the closing quote, stepping over escapes (a backslash and the byte after it). A loop
        // here, not Buffer.indexOf: the strings of API objects are short, and a native call per
        // string cost more than reading their bytes.
        let q = i;
        while (q < n) {
          const c = b[q]!;
          if (c === QUOTE) break;
          q += c === BACKSLASH ? 2 : 1;
        }
        if (q >= n) {
          // The string goes on in the next chunk (which starts with the escaped byte when this one ended with a backslash).
          this.skip = q - n;
          if (keyStart >= 0) (this.keyParts ??= []).push(b.subarray(keyStart, n));
          break;
        }
        this.inString = false;
        if (keyStart >= 0) {
          const tail = b.subarray(keyStart, q);
          this.key = this.keyParts !== undefined && this.keyParts.length > 0 ? Buffer.concat([...this.keyParts, tail]).toString('utf8') : tail.toString('utf8');
          this.keyParts = undefined;
          keyStart = -1;
        }
        i = q + 1;
        continue;
      }
      const c = b[i]!;
      if (c <= 0x20) {
        i++;
        continue;
      }
      if (this.done) throw new Error('malformed list: data after the end');
      if (this.depth === 1 && this.expectValue) {
        // The first byte of a top-level value.
        this.expectValue = false;
        if (this.key === 'items' && c === LBRACKET) {
          this.inItems = true;
          this.depth = 2;
          i++;
          continue;
        }
        if (this.key === 'metadata' && c === LBRACE) {
          this.capture = Capture.Meta;
          this.start = i;
        }
      } else if (this.inItems && this.depth === 2 && c !== COMMA && c !== RBRACKET) {
        if (c !== LBRACE) throw new Error('malformed list: an item is not an object');
        this.capture = Capture.Item;
        this.start = i;
      }
      switch (c) {
        case QUOTE:
          this.inString = true;
          if (this.depth === 1 && this.expectKey) {
            this.expectKey = false;
            keyStart = i + 1;
            this.keyParts = [];
          }
          break;
        case LBRACE:
        case LBRACKET:
          if (this.depth === 0) {
            if (c !== LBRACE) throw new Error('malformed list: not an object');
            this.expectKey = true;
          }
          this.depth++;
          break;
        case RBRACE:
        case RBRACKET:
          if (this.depth === 0) throw new Error('malformed list: unbalanced');
          this.depth--;
          if (this.depth === 1 && this.inItems) {
            if (c !== RBRACKET) throw new Error('malformed list: unbalanced');
            this.inItems = false;
          } else if (this.depth === 2 && this.capture === Capture.Item) {
            this.emit(b, i + 1);
          } else if (this.depth === 1 && this.capture === Capture.Meta) {
            this.emit(b, i + 1);
          } else if (this.depth === 0) {
            this.done = true;
          }
          break;
        case COMMA:
          if (this.depth === 1) this.expectKey = true;
          break;
        case 0x3a: // ':'
          if (this.depth === 1) this.expectValue = true;
          break;
        default:
          break;
      }
      i++;
    }
    if (this.capture !== Capture.None && this.start >= 0) this.parts.push(b.subarray(this.start, n));
  }

  /**
   * From `i` (not in a string, depth > 2, inside an item) to the byte that closes the item (its
   * index, depth left at 3 for the general loop to take it) or to the end of the chunk (`n`, with
   * the depth and an unfinished string recorded).
   */
  private skipInItem(b: Buffer, i: number, n: number): number {
    let d = this.depth;
    while (i < n) {
      const c = b[i]!;
      if (c === QUOTE) {
        let q = i + 1;
        while (q < n) {
          const x = b[q]!;
          if (x === QUOTE) break;
          q += x === BACKSLASH ? 2 : 1;
        }
        if (q >= n) {
          this.inString = true;
          this.skip = q - n;
          this.depth = d;
          return n;
        }
        i = q + 1;
        continue;
      }
      if (c === LBRACE || c === LBRACKET) d++;
      else if (c === RBRACE || c === RBRACKET) {
        if (d === 3) break;
        d--;
      }
      i++;
    }
    this.depth = d;
    return i;
  }

  /** The body is complete: reports `metadata` if it never came; throws if the list is cut short. */
  end(): void {
    if (!this.done || this.inString) throw new Error('malformed list: truncated');
    if (!this.metaSeen) {
      this.metaSeen = true;
      this.h.meta({});
    }
  }

  private emit(b: Buffer, end: number): void {
    const piece = this.parts.length === 0 ? b.toString('utf8', this.start, end) : Buffer.concat([...this.parts, b.subarray(0, end)]).toString('utf8');
    const what = this.capture;
    this.parts = [];
    this.start = -1;
    this.capture = Capture.None;
    const v = JSON.parse(piece) as unknown;
    if (what === Capture.Meta) {
      if (this.metaSeen) return;
      this.metaSeen = true;
      this.h.meta(v as { resourceVersion?: string; continue?: string });
    } else {
      this.h.item(v);
    }
  }
}
