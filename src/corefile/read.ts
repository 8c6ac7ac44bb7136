// Reading a Corefile or an imported file: regular files only, and at most MAX_COREFILE_BYTES.
// `-conf /dev/zero` (or an import of a FIFO) would otherwise read forever; a 2 GiB file would
// fill the heap before the lexer saw a byte. Standard input (`-conf stdin`) is not a regular
// file, so it is read in chunks and refused once past the cap.
import { closeSync, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';

/** The largest Corefile, and the largest imported file, typedns reads: 1 MiB (real ones are a few KiB). */
export const MAX_COREFILE_BYTES = 1024 * 1024;

/** Why a file cannot be read as a Corefile; thrown by readCorefileText. */
export class CorefileReadError extends Error {
  readonly code = 'TDNS_ERR_COREFILE_READ';
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
    this.name = 'CorefileReadError';
  }
}

function kind(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a named pipe';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

const tooLarge = (file: string): CorefileReadError =>
  new CorefileReadError(file, `larger than ${MAX_COREFILE_BYTES} bytes (1 MiB), the limit for a Corefile or an imported file`);

/** Read `fd` to its end, but never more than MAX_COREFILE_BYTES (one byte more means "too large"). */
function readCapped(fd: number, file: string, expect: number): string {
  let buf = Buffer.allocUnsafe(Math.min(Math.max(expect, 4096), MAX_COREFILE_BYTES) + 1);
  let n = 0;
  for (;;) {
    if (n === buf.length) {
      if (n > MAX_COREFILE_BYTES) throw tooLarge(file);
      const bigger = Buffer.allocUnsafe(Math.min(buf.length * 2, MAX_COREFILE_BYTES + 1));
      buf.copy(bigger, 0, 0, n);
      buf = bigger;
    }
    let got: number;
    try {
      got = readSync(fd, buf, n, buf.length - n, null);
    } catch (e) {
      // a non-blocking standard input with nothing buffered yet: wait a little and try again
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
        continue;
      }
      throw e;
    }
    if (got === 0) break;
    n += got;
  }
  if (n > MAX_COREFILE_BYTES) throw tooLarge(file);
  return buf.toString('utf8', 0, n);
}

/**
 * The text of `file` ('stdin' reads standard input). Throws CorefileReadError when it is not a
 * regular file or larger than MAX_COREFILE_BYTES, and the system error (ENOENT, EACCES…) otherwise.
 */
export function readCorefileText(file: string): string {
  if (file === 'stdin') return readCapped(0, file, 0);
  // Opening a FIFO for reading blocks until a writer appears: look before opening.
  let pre: Stats | undefined;
  try {
    pre = statSync(file);
  } catch {
    pre = undefined; // openSync reports why (ENOENT, EACCES…)
  }
  if (pre !== undefined && !pre.isFile()) throw new CorefileReadError(file, `${kind(pre)}, not a regular file`);
  const fd = openSync(file, 'r');
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new CorefileReadError(file, `${kind(st)}, not a regular file`);
    if (st.size > MAX_COREFILE_BYTES) throw tooLarge(file);
    return readCapped(fd, file, st.size);
  } finally {
    closeSync(fd);
  }
}
