// explain: GET /explain?name=…&type=…[&from=IP][&tcp=1][&do=1][&port=N][&format=json] on the address
// it is given runs that query through the running configuration — its real cache, upstreams and
// cluster state — with a trace, and answers what `typedns explain` prints (JSON with format=json or
// an Accept: application/json header). Nothing goes to a DNS client; the query does count in the
// metrics and fills the cache as any other would. Process-wide like health: one HTTP listener per
// address, kept across reloads.
//
// With `edns0 CODE`, a query that carries the EDNS(0) option CODE gets its own trace back in TXT
// records of the reply's additional section, from this plugin's place in the chain down — unless
// the block's acl would not allow it (or its client is outside the NETs given). Only then is
// explain in the chain: without `edns0` it adds no hop.
import { definePlugin, httpListeners, httpText, nextSettled, parseAddress, parseCidr, typeName, WrappedWriter, type HttpHandle, type Message, type Plugin, type Request, type ResponseWriter, type SetupContext } from '../../src/plugin/api.js';
import { renderText, stepText } from '../../src/explain/format.js';
import { ExplainError, type ExplainQuery } from '../../src/explain/explain.js';
// the core's request and writer (not in typedns/plugin): the trace goes on the request the chain
// below sees, and the reply's final bytes (finish()) get the TXT records
import { DnsRequest } from '../../src/request/request.js';
import { CoreWriter } from '../../src/request/writer.js';
import { QueryTrace } from '../../src/plugin/trace.js';
import { addAdditional, queryHasOption } from '../../src/dns/padding.js';
import { isAcl, NetSet, type AclPlugin } from '../acl/index.js';

export interface ExplainConfig {
  /** The HTTP endpoint's address; absent: no endpoint (edns0 only). */
  address?: string;
  /** `edns0 CODE [NET...]`: queries with this EDNS(0) option get their trace in TXT records. */
  edns0?: { code: number; nets: string[] };
}

export interface ExplainPlugin extends Plugin {
  readonly handle: HttpHandle | undefined;
}

/** One TXT record for the question's name (a pointer to offset 12), TTL 0, the text cut in strings of 255 bytes. */
function txtRecord(line: string, qdcount: number): Buffer {
  const text = Buffer.from(line);
  const strings: Buffer[] = [];
  for (let i = 0; i < text.length || strings.length === 0; i += 255) {
    const part = text.subarray(i, i + 255);
    strings.push(Buffer.from([part.length]), part);
  }
  const rdata = Buffer.concat(strings);
  const owner = qdcount > 0 ? Buffer.from([0xc0, 0x0c]) : Buffer.from([0]);
  const head = Buffer.alloc(10);
  head.writeUInt16BE(16, 0); // TXT
  head.writeUInt16BE(1, 2); // IN
  head.writeUInt32BE(0, 4); // TTL 0: never cached
  head.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([owner, head, rdata]);
}

/** The writer under the wrappers, whose finish() gives a Message's final bytes. */
function coreOf(w: ResponseWriter): CoreWriter | undefined {
  let x = w;
  while (x instanceof WrappedWriter) x = x.inner;
  return x instanceof CoreWriter ? x : undefined;
}

/** Puts the trace so far in TXT records of the reply, as many as fit in the client's size. */
class TraceWriter extends WrappedWriter {
  constructor(
    inner: ResponseWriter,
    private readonly req: Request,
    private readonly trace: QueryTrace,
  ) {
    super(inner);
  }

  override write(res: Message | Uint8Array): void {
    if (this.inner.written) return;
    const core = coreOf(this.inner);
    const bytes = res instanceof Uint8Array ? res : core?.finish(res);
    if (bytes === undefined || bytes.length < 12) {
      this.inner.write(res);
      return;
    }
    const by = core?.plugin ?? '';
    this.trace.note(`the reply (${bytes.length} bytes) is written${by === '' ? '' : ` by ${by}`}: the trace ends here`, 'explain');
    const qd = (bytes[4]! << 8) | bytes[5]!;
    const steps = this.trace.steps;
    const records: Buffer[] = [];
    // room for the cut notice, should the trace not fit
    let room = this.req.size - bytes.length - 120;
    for (let i = 0; i < steps.length; i++) {
      const r = txtRecord(stepText(steps[i]!), qd);
      if (r.length > room) {
        records.push(txtRecord(`trace cut: ${steps.length - i} more line(s) do not fit in ${this.req.size} bytes; ask over TCP for all of them`, qd));
        break;
      }
      room -= r.length;
      records.push(r);
    }
    this.inner.write(addAdditional(bytes, records));
  }
}

const plugin = definePlugin<ExplainConfig>({
  name: 'explain',
  api: '^1',
  once: true,
  parse(d) {
    d.next();
    const args = d.remainingArgs();
    if (args.length > 1) throw d.argErr();
    const cfg: ExplainConfig = {};
    if (args.length === 1) {
      if (parseAddress(args[0]!) === undefined) throw d.err(`invalid address '${args[0]}', expected [HOST]:PORT`);
      cfg.address = args[0]!;
    }
    while (d.nextBlock()) {
      if (d.val() !== 'edns0') throw d.unknownProperty();
      const a = d.remainingArgs();
      if (a.length === 0) throw d.argErr();
      const code = a[0]!;
      if (!/^(0x[0-9a-fA-F]{1,4}|\d{1,5})$/.test(code) || Number(code) > 65535) throw d.err(`invalid EDNS0 option code '${code}', expected 0-65535 (decimal or 0x hex)`);
      for (const n of a.slice(1)) if (parseCidr(n) === undefined) throw d.err(`invalid network '${n}', expected an address or CIDR`);
      cfg.edns0 = { code: Number(code), nets: a.slice(1) };
    }
    if (cfg.address === undefined && cfg.edns0 === undefined) throw d.err('explain needs the ADDRESS to listen on (e.g. explain 127.0.0.1:8054), an edns0 option, or both');
    return cfg;
  },
  async setup(cfg, ctx): Promise<ExplainPlugin> {
    const edns = cfg.edns0;
    if (edns === undefined) return { handle: cfg.address === undefined ? undefined : await endpoint(cfg.address, ctx) };
    const code = edns.code;
    const nets = edns.nets.length === 0 ? undefined : new NetSet(edns.nets.map((n) => parseCidr(n)!));
    // acl decides who may have a trace: a query it would not let through gets none
    let acls: AclPlugin[] = [];
    ctx.onStartup(() => {
      acls = ctx.plugins().flatMap((p) => (isAcl(p.plugin) ? [p.plugin] : []));
    });
    const handle = cfg.address === undefined ? undefined : await endpoint(cfg.address, ctx);
    return {
      handle,
      serve(req, w, next) {
        if (!req.edns || req.trace !== undefined || !(req instanceof DnsRequest) || !queryHasOption(req.wire, code)) return next(req, w);
        if (nets !== undefined && !nets.contains(req.client.ip)) return next(req, w);
        for (const a of acls) if (a.decide(req) !== 'allow') return next(req, w);
        const trace = new QueryTrace();
        trace.phase = 'explain';
        trace.note(`EDNS0 option ${code} from ${req.client.ip}: the trace of ${req.name} ${typeName(req.qtype)} follows, from the plugin after explain`);
        req.trace = trace;
        const tw = new TraceWriter(w, req, trace);
        // a reply the server would write for a returned rcode (forward's SERVFAIL) is written here,
        // through the TraceWriter, so that it carries the trace too
        return nextSettled(next, req, tw);
      },
    };
  },
});

/** The HTTP endpoint: GET /explain on `address` (process-wide, kept across reloads). */
async function endpoint(address: string, ctx: SetupContext): Promise<HttpHandle> {
  const handle = await httpListeners(ctx.process).acquire(address, '/explain', (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET');
      httpText(res, 405, 'method not allowed: use GET /explain?name=NAME&type=TYPE\n');
      return;
    }
    const u = new URL(req.url ?? '/', 'http://localhost');
    const p = u.searchParams;
    const name = p.get('name');
    if (name === null || name === '') {
      httpText(res, 400, 'missing name: GET /explain?name=NAME[&type=TYPE][&from=IP][&tcp=1][&do=1][&port=N][&format=json]\n');
      return;
    }
    const q: ExplainQuery = { name };
    const type = p.get('type');
    if (type !== null && type !== '') q.type = type;
    const from = p.get('from');
    if (from !== null && from !== '') q.from = from;
    if (p.get('tcp') === '1') q.tcp = true;
    if (p.get('do') === '1') q.do = true;
    const port = p.get('port');
    if (port !== null && port !== '') {
      if (!/^\d{1,5}$/.test(port)) {
        httpText(res, 400, `invalid port '${port}'\n`);
        return;
      }
      q.port = Number(port);
    }
    const json = p.get('format') === 'json' || (req.headers.accept ?? '').includes('application/json');
    ctx.explain(q).then(
      (r) => {
        if (json) {
          const body = JSON.stringify(r);
          res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
          res.end(body);
        } else httpText(res, 200, renderText(r));
      },
      (e: unknown) => httpText(res, e instanceof ExplainError ? 400 : 500, `${e instanceof Error ? e.message : String(e)}\n`),
    );
  });
  ctx.onShutdown(() => handle.release());
  return handle;
}

export default plugin;
