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
