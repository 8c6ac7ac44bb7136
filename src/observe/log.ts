// Logging: CoreDNS-style text lines ("[INFO] plugin/reload: …") written through pino's
// sonic-boom destination, so a log call formats one string and hands it to a buffered,
// asynchronous writer: no I/O on the query path. Disabled levels are no-op functions (pino's
// levels.js idea), so a `debug()` costs an empty call unless the debug plugin is on.
import { createRequire } from 'node:module';
import type { SonicBoom as SonicBoomType } from 'sonic-boom';

// sonic-boom, pino's destination, is loaded without pino itself: pino's main module pulls in its
// serializers, redaction and worker-thread transport, ~6 MB of RSS that these text lines never use
// (#17). It is resolved from pino's own location, so it is the copy pino depends on.
const requireFromPino = createRequire(createRequire(import.meta.url).resolve('pino'));

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  /** A logger whose lines start with "plugin/<name>: ". */
  child(name: string): Logger;
  /** Write one line as it is: no level, no "plugin/<name>: " prefix (the log plugin's query lines). */
  raw(line: string): void;
}

export type LogSink = (line: string) => void;

const noop = (): void => {};

let destination: SonicBoomType | undefined;
/** Asynchronous stdout as pino.destination(1) builds it: stop writing on EPIPE, flush at exit. */
function openStdout(): SonicBoomType {
  const { SonicBoom } = requireFromPino('sonic-boom') as { SonicBoom: typeof SonicBoomType };
  const d = new SonicBoom({ fd: 1, sync: false, minLength: 0 });
  const onError = (err: NodeJS.ErrnoException): void => {
    if (err.code === 'EPIPE') {
      d.write = () => true;
      d.end = noop;
      d.flushSync = noop;
      d.destroy = noop;
      return;
    }
    d.removeListener('error', onError);
    d.emit('error', err);
  };
  d.on('error', onError);
  process.once('exit', flushLogs);
  return d;
}
function stdoutSink(): LogSink {
  destination ??= openStdout();
  const d = destination;
  return (line) => {
    d.write(line + '\n');
  };
}

/** Flush buffered log lines (at shutdown). */
export function flushLogs(): void {
  try {
    destination?.flushSync();
  } catch {
    // not ready yet or already closed: nothing to flush
  }
}

export class TextLogger implements Logger {
  debug: (msg: string) => void;
  constructor(
    private readonly sink: LogSink,
    private readonly prefix = '',
    readonly debugEnabled = false,
  ) {
    this.debug = debugEnabled ? (msg) => this.sink(`[DEBUG] ${this.prefix}${msg}`) : noop;
  }
  info(msg: string): void {
    this.sink(`[INFO] ${this.prefix}${msg}`);
  }
  warn(msg: string): void {
    this.sink(`[WARNING] ${this.prefix}${msg}`);
  }
  error(msg: string): void {
    this.sink(`[ERROR] ${this.prefix}${msg}`);
  }
  child(name: string): Logger {
    return new TextLogger(this.sink, `plugin/${name}: `, this.debugEnabled);
  }
  withDebug(on: boolean): TextLogger {
    return new TextLogger(this.sink, this.prefix, on);
  }
  raw(line: string): void {
    this.sink(line);
  }
}

export function createLogger(sink?: LogSink): TextLogger {
  return new TextLogger(sink ?? stdoutSink());
}

/** A logger that keeps lines in memory (tests), and hands each to `tap` as it is logged. */
export function memoryLogger(tap?: (line: string) => void): TextLogger & { lines: string[] } {
  const lines: string[] = [];
  const l = new TextLogger((s) => {
    lines.push(s);
    tap?.(s);
  }) as TextLogger & { lines: string[] };
  l.lines = lines;
  return l;
}
