// bufsize: caps the EDNS0 UDP payload size of requests (RFC 6891), so that neither the queries sent
// upstream nor the replies sent back need IP fragmentation (DNS flag day 2020: 1232 bytes). A
// request advertising more is passed down as a copy advertising SIZE, and its reply is fitted to
// SIZE (the core's writer follows the copy, as CoreDNS's scrub writer reads the changed request).
// Requests without EDNS, or asking for less, pass as they are: the size is never raised.
import { definePlugin } from '../../src/plugin/api.js';

export interface BufsizeConfig {
  size: number;
}

/** http://www.dnsflagday.net/2020/ */
export const DEFAULT_BUFSIZE = 1232;

export default definePlugin<BufsizeConfig>({
  name: 'bufsize',
  api: '^1',
  parse(d) {
    // As in CoreDNS, the first occurrence in a block decides; later ones are not read.
    d.next();
    const args = d.remainingArgs();
    let size = DEFAULT_BUFSIZE;
    if (args.length > 1) throw d.argErr();
    if (args.length === 1) {
      const s = args[0]!;
      // CoreDNS: strconv.Atoi (an optional sign, digits) and RFC 6891's 512..4096, else ArgErr
      const n = /^[+-]?\d+$/.test(s) ? Number(s) : NaN;
      if (!(n >= 512 && n <= 4096)) throw d.argErr();
      size = n;
    }
    if (d.nextBlock()) throw d.unknownProperty();
    return { size };
  },
  setup(cfg) {
    const size = cfg.size;
    return {
      serve(req, w, next) {
        return next(req.edns && req.bufsize > size ? req.withBufsize(size) : req, w);
      },
    };
  },
});
