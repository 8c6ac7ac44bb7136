import { describe, expect, it } from 'vitest';
import { DEFAULT_HTTP, httpLimits } from './http.js';

describe('HTTP limits from the environment', () => {
  it('reads the HTTP limits; the request timeout is never shorter than the header timeout', () => {
    expect(httpLimits({})).toEqual(DEFAULT_HTTP);
    expect(httpLimits({ TYPEDNS_HTTP_HEADERS_TIMEOUT: '20s', TYPEDNS_HTTP_MAX_CONNECTIONS: '10' })).toEqual({ ...DEFAULT_HTTP, headersTimeout: 20_000, requestTimeout: 20_000, maxConnections: 10 });
    expect(() => httpLimits({ TYPEDNS_HTTP_IDLE_TIMEOUT: '-1s' })).toThrow(/TYPEDNS_HTTP_IDLE_TIMEOUT/);
  });
});
