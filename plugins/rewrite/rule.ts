// What every rewrite rule shares, and nothing else (no rule kind imports another through here):
// an argument with its place in the Corefile, the error it fails with, the per-query State the
// rules change, the Rule interface, and what a matched rule asks of the reply.
import { CorefileError, type OptRecord, type Request } from '../../src/plugin/api.js';

/** One argument with where it came from (the block form joins lines, errors still name the right line). */
export interface Arg {
  readonly text: string;
  readonly file: string;
  readonly line: number;
}

export const fail = (a: Arg, msg: string): CorefileError => new CorefileError(a.file, a.line, `plugin/rewrite: ${msg}`);

export type Mode = 'stop' | 'continue';

/** Map a (lower-case, fully qualified) name to another, or undefined when it does not apply. */
export type NameMap = (name: string) => string | undefined;

/** What a matched rule asks the writer to do to the reply. */
export interface ResponseRule {
  /** Applied to owner names (answer, authority, additional). */
  owner: NameMap[];
  /** Applied to names inside record data (CNAME, DNAME, NS, PTR, MX, SRV, SOA, NAPTR). */
  value: NameMap[];
  ttl?: readonly [number, number];
  rcode?: readonly [number, number];
  /** A cname rule applied: CNAME targets in the reply are checked against the cname rules. */
  cname?: true;
}

/** The request's OPT as the edns0 rules see and change it. */
export interface OptState extends OptRecord {
  present: boolean;
  changed: boolean;
}

/** The question as the rules have left it so far. */
export class State {
  name: string;
  qtype: number;
  qclass: number;
  opt: OptState | null = null;
  resp: ResponseRule[] | null = null;
  constructor(readonly req: Request) {
    this.name = req.name;
    this.qtype = req.qtype;
    this.qclass = req.qclass;
  }
  addResponse(r: ResponseRule): void {
    (this.resp ??= []).push(r);
  }
}

export interface Rule {
  readonly mode: Mode;
  /** True when the rule matched (and changed the state). */
  apply(s: State): boolean;
  readonly field: string;
}
