// The autopath handler: a query whose name lies under the first element of the client's search
// path (a pod with ndots:5 asking example.org.<ns>.svc.cluster.local) is completed on the server:
// the base name is tried with each element of the path, then as asked, through the plugins below,
// and the first reply that is not NXDOMAIN is sent with a CNAME from the asked name to the name
// that answered — one round trip instead of one per search domain. When every try is NXDOMAIN the
// first reply goes out and the client walks its search path as usual.
import { CaptureWriter, RCODE, type Message, type Next, type Rcode, type Request, type ResponseWriter, type RR, type Zones } from '../../src/plugin/api.js';

/** A plugin that gives each query's search path (CoreDNS's AutoPather): the last element is ''. */
export interface AutoPather {
  autoPath(req: Request): readonly string[] | undefined;
}

export const isAutoPather = (p: unknown): p is AutoPather => typeof (p as Partial<AutoPather> | undefined)?.autoPath === 'function';

/** CoreDNS's plugin.ClientWrite: these returned rcodes mean the plugin wrote nothing. */
const clientWrite = (rc: Rcode): boolean => rc !== RCODE.SERVFAIL && rc !== RCODE.REFUSED && rc !== RCODE.FORMERR && rc !== RCODE.NOTIMP;

const strip = (n: string): string => (n.endsWith('.') && n !== '.' ? n.slice(0, -1) : n);

/** Prefix the answer with a CNAME from `original` to the owner of its first record not already `original`. */
export function cnamer(m: Message, original: string): Message {
  const answers = m.answers ?? [];
  const o = strip(original);
  for (const a of answers) {
    if (a.name.toLowerCase() === o.toLowerCase()) continue;
    const cname = { name: o, type: 'CNAME', class: 'IN', ttl: (a as { ttl?: number }).ttl ?? 0, data: a.name } as RR;
    return { ...m, answers: [cname, ...answers] };
  }
  return m;
}

export class Autopath {
  constructor(
    private readonly zones: Zones,
    private readonly search: (req: Request) => readonly string[] | undefined,
    private readonly success: { inc(): void },
  ) {}

  serve(req: Request, w: ResponseWriter, next: Next): Rcode | Promise<Rcode> {
    if (this.zones.match(req.name) === undefined) return next(req, w);
    const path = this.search(req);
    if (path === undefined || path.length === 0) return next(req, w);
    const first = path[0]!;
    // the name must lie strictly under the first element: its base is what the client asked
    if (first === '.' || !req.name.endsWith(`.${first}`)) return next(req, w);
    const base = req.qname.slice(0, req.qname.length - first.length - 1);
    return this.walk(req, w, next, base, path);
  }

  private async walk(req: Request, w: ResponseWriter, next: Next, base: string, path: readonly string[]): Promise<Rcode> {
    let firstMsg: Message | undefined;
    let firstRcode: Rcode = RCODE.SERVFAIL;
    for (let i = 0; i < path.length; i++) {
      const s = path[i]!;
      const name = s === '' || s === '.' ? `${base}.` : `${base}.${s}`;
      const cw = new CaptureWriter();
      const rc = await next(req.withQuestion(name, req.qtype), cw);
      if (i === 0) {
        firstMsg = cw.msg;
        firstRcode = rc;
      }
      // as CoreDNS: an rcode that means "nothing written" (SERVFAIL, REFUSED, …) or NXDOMAIN: next element
      if (!clientWrite(rc) || cw.msg === undefined) continue;
      if (cw.rcode === RCODE.NXDOMAIN) continue;
      w.write(cnamer(cw.msg, req.qname));
      this.success.inc();
      return rc;
    }
    if (clientWrite(firstRcode) && firstMsg !== undefined) w.write(firstMsg);
    return firstRcode;
  }
}
