// explain: GET /explain?name=…&type=…[&from=IP][&tcp=1][&do=1][&port=N][&format=json] on the address
// it is given runs that query through the running configuration — its real cache, upstreams and
// cluster state — with a trace, and answers what `typedns explain` prints (JSON with format=json or
// an Accept: application/json header). Nothing goes to a DNS client; the query does count in the
// metrics and fills the cache as any other would. Process-wide like health: one HTTP listener per
// address, kept across reloads. Not in the chain.
import { definePlugin, type Plugin, httpListeners, parseAddress, httpText, type HttpHandle } from '../../src/plugin/api.js';
import { renderText } from '../../src/explain/format.js';
import { ExplainError, type ExplainQuery } from '../../src/explain/explain.js';

export interface ExplainConfig {
  address: string;
}

export interface ExplainPlugin extends Plugin {
  readonly handle: HttpHandle;
}

export default definePlugin<ExplainConfig>({
  name: 'explain',
  api: '^1',
  once: true,
  parse(d) {
    d.next();
    const args = d.remainingArgs();
    if (args.length !== 1) throw d.err('explain needs the ADDRESS to listen on, e.g. explain 127.0.0.1:8054');
    if (parseAddress(args[0]!) === undefined) throw d.err(`invalid address '${args[0]}', expected [HOST]:PORT`);
    while (d.nextBlock()) throw d.unknownProperty();
    return { address: args[0]! };
  },
  async setup(cfg, ctx): Promise<ExplainPlugin> {
    const handle = await httpListeners(ctx.process).acquire(cfg.address, '/explain', (req, res) => {
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
    return { handle };
  },
});
