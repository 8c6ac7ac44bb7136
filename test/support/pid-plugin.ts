// A small external plugin (for -plugin, written to a .mjs file) for the -workers tests: it answers
// `pid.test. TXT` (and `*.pid.test.`) with the PID of the worker that serves it, counts those in
// the metric coredns_pid_served_total, and answers `count.test. TXT` with that metric's value as
// the process's metrics exposition gives it (summed over the workers).
export const PID_PLUGIN = `
export default {
  name: 'pid',
  api: '^1',
  position: { before: 'whoami' },
  parse(d) {
    d.next();
    return {};
  },
  setup(_cfg, ctx) {
    const served = ctx.metrics.counter('served_total', 'pid.test queries answered.');
    const txt = (name, value) => ({ type: 'response', flags: 0x0400, answers: [{ name, type: 'TXT', ttl: 0, data: value }] });
    return {
      serve(req, w, next) {
        if (req.name === 'pid.test.' || req.name.endsWith('.pid.test.')) {
          served.inc();
          w.write(txt(req.name, String(process.pid)));
          return 0;
        }
        if (req.name === 'count.test.') {
          return ctx.metrics.exposition().then((text) => {
            const m = /^coredns_pid_served_total (\\d+)/m.exec(text);
            w.write(txt('count.test', m ? m[1] : 'none'));
            return 0;
          });
        }
        return next(req, w);
      },
    };
  },
};
`;
