// Zone files that live for one test: written into a temp folder, replaced atomically (a reload
// never reads half a file), removed by the afterEach this registers. Call at the top of a test file,
// before its own afterEach (hooks run last-registered first: its servers stop before the files go).
import { afterEach } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface ZoneFiles {
  /** A new temp folder. */
  tempDir(): string;
  /** A new file `db` holding `text`, in a temp folder of its own. */
  zoneFile(text: string): string;
  /** Replace `file`'s content by a rename. */
  put(file: string, text: string): void;
}

export function zoneFilesPerTest(prefix: string): ZoneFiles {
  const dirs: string[] = [];
  afterEach(() => {
    while (dirs.length) fs.rmSync(dirs.pop()!, { recursive: true, force: true });
  });
  const tempDir = (): string => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
  return {
    tempDir,
    zoneFile(text) {
      const f = path.join(tempDir(), 'db');
      fs.writeFileSync(f, text);
      return f;
    },
    put(file, text) {
      fs.writeFileSync(`${file}.tmp`, text);
      fs.renameSync(`${file}.tmp`, file);
    },
  };
}
