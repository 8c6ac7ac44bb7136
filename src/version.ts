// The version typedns reports (-version, the start banner, explain --json): package.json's.
import { readFileSync } from 'node:fs';

/** package.json's version, found upwards from this file: src/ in a checkout, dist/src/ in the package. */
function packageVersion(): string {
  for (const up of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'typedns' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not at this level
    }
  }
  return '0.0.0';
}

export const VERSION = packageVersion();
