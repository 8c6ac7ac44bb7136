// Stable error codes for setup and loading failures; tests assert on the code, not the text.
export type ErrorCode =
  | 'TDNS_ERR_COREFILE'
  | 'TDNS_ERR_SETUP'
  | 'TDNS_ERR_PLUGIN_LOAD'
  | 'TDNS_ERR_PLUGIN_NAME'
  | 'TDNS_ERR_PLUGIN_POSITION'
  | 'TDNS_ERR_PLUGIN_API'
  | 'TDNS_ERR_LISTEN';

export class TypednsError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TypednsError';
  }
}

/** "plugin/<name>: …" */
export function pluginError(name: string, err: unknown): TypednsError {
  const msg = err instanceof Error ? err.message : String(err);
  return new TypednsError('TDNS_ERR_SETUP', msg.startsWith(`plugin/${name}:`) ? msg : `plugin/${name}: ${msg}`, { cause: err });
}

/**
 * Marks an error a plugin has already logged (the errors plugin), so that the core, which logs
 * every error thrown out of a chain as a recovered panic, does not log it a second time. Keyed
 * with Symbol.for so that a second copy of this module (an external plugin bundling its own)
 * agrees on it.
 */
const LOGGED = Symbol.for('typedns.errors.logged');

/** Mark `e` as logged; a non-object (a thrown string) cannot carry the mark. */
export function markLogged(e: unknown): void {
  if (e !== null && typeof e === 'object') (e as Record<symbol, boolean>)[LOGGED] = true;
}

/** Whether a plugin has logged `e` already (markLogged). */
export function wasLogged(e: unknown): boolean {
  return e !== null && typeof e === 'object' && (e as Record<symbol, unknown>)[LOGGED] === true;
}
