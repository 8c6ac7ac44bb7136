// The process-wide state of a configuration set up outside a running server (`typedns explain`,
// the unit-test SetupContext): values are shared within it alone, nothing reloads, fatal throws.
import type { ProcessState } from '../plugin/types.js';

export function detachedProcess(o: { version: string; files: readonly string[]; explaining?: boolean }): ProcessState {
  const shared = new Map<string, unknown>();
  return {
    shared: <T>(key: string, create: () => T): T => {
      if (!shared.has(key)) shared.set(key, create());
      return shared.get(key) as T;
    },
    readiness: [],
    shuttingDown: false,
    reload: async () => false,
    version: o.version,
    files: o.files,
    fatal: (msg: string) => {
      throw new Error(msg);
    },
    ...(o.explaining ? { explaining: true } : {}),
  };
}
