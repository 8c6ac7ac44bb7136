// cancel: a deadline for each query (CoreDNS's cancel plugin, 5001 ms by default). Plugins that
// wait (forward) stop waiting once it has passed; when the rest of the chain has not answered by
// then, nothing is sent — the client (whose own timeout is 5 s) has given up — and a late reply is
// discarded.
import { definePlugin, deadlineOf, DROP, parseDuration, setDeadline, WrappedWriter, type Message, type Rcode, type ResponseWriter } from '../../src/plugin/api.js';

export interface CancelConfig {
  /** Milliseconds. */
  timeout: number;
}

/**
 * Drops writes once the deadline has passed: by the clock, not only once the timer has run (forward
 * stops at the same deadline, and its answer may settle before that timer in a busy process).
 */
class DeadlineWriter extends WrappedWriter {
  private timedOut = false;
  constructor(
    inner: ResponseWriter,
    private readonly at: number,
  ) {
    super(inner);
  }
  get expired(): boolean {
    return this.timedOut || performance.now() >= this.at;
  }
  expire(): void {
    this.timedOut = true;
  }
  override write(res: Message | Uint8Array): void {
    if (this.expired) return;
    this.inner.write(res);
  }
}

export default definePlugin<CancelConfig>({
  name: 'cancel',
  api: '^1',
  once: true,
  parse(d) {
    d.next();
    const args = d.remainingArgs();
    if (args.length > 1) throw d.argErr();
    if (args.length === 0) return { timeout: 5001 };
    // a Go duration, as CoreDNS reads it: a number needs its unit
    const ms = /^-?\d+$/.test(args[0]!) ? undefined : parseDuration(args[0]!);
    if (ms === undefined) throw d.err(`invalid duration: "${args[0]}"`);
    if (ms <= 0) throw d.err(`invalid negative duration: "${args[0]}"`);
    return { timeout: ms };
  },
  setup(cfg) {
    return {
      serve(req, w, next) {
        setDeadline(req, performance.now() + cfg.timeout);
        const at = deadlineOf(req)!;
        const dw = new DeadlineWriter(w, at);
        const r = next(req, dw);
        if (typeof r === 'number') return dw.expired ? DROP : r;
        return new Promise<Rcode>((resolve, reject) => {
          const timer = setTimeout(() => {
            dw.expire();
            resolve(DROP); // nothing written by now: send nothing
          }, Math.max(0, at - performance.now()));
          r.then(
            (rc) => {
              clearTimeout(timer);
              resolve(dw.expired ? DROP : rc);
            },
            (e: unknown) => {
              clearTimeout(timer);
              if (dw.expired) resolve(DROP);
              else reject(e);
            },
          );
        });
      },
    };
  },
});
