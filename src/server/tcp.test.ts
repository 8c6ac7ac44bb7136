import { describe, expect, it } from 'vitest';
import { DEFAULT_TCP, tcpOptionsFromEnv } from './tcp.js';

describe('TCP limits from the environment', () => {
  it('reads the TCP limits: durations and byte counts; 0 only turns the per-client cap off', () => {
    expect(tcpOptionsFromEnv({})).toEqual({});
    expect(
      tcpOptionsFromEnv({ TYPEDNS_TCP_IDLE_TIMEOUT: '30s', TYPEDNS_TCP_READ_TIMEOUT: '500ms', TYPEDNS_TCP_WRITE_TIMEOUT: '2', TYPEDNS_TCP_MAX_PER_CLIENT: '0', TYPEDNS_TCP_MAX_QUEUED: '2097152', TYPEDNS_TCP_MAX_INFLIGHT: '32' }),
    ).toEqual({ idleTimeout: 30_000, readTimeout: 500, writeTimeout: 2000, maxPerClient: 0, maxQueued: 2_097_152, maxInflight: 32 });
    expect(() => tcpOptionsFromEnv({ TYPEDNS_TCP_MAX_INFLIGHT: '0' })).toThrow("TYPEDNS_TCP_MAX_INFLIGHT: invalid number '0'");
    expect(() => tcpOptionsFromEnv({ TYPEDNS_TCP_MAX_CONNECTIONS: '0' })).toThrow("TYPEDNS_TCP_MAX_CONNECTIONS: invalid number '0'");
    expect(() => tcpOptionsFromEnv({ TYPEDNS_TCP_HIGH_WATER: '64k' })).toThrow(/TYPEDNS_TCP_HIGH_WATER/);
    expect(() => tcpOptionsFromEnv({ TYPEDNS_TCP_READ_TIMEOUT: 'soon' })).toThrow("TYPEDNS_TCP_READ_TIMEOUT: invalid duration 'soon'");
    expect(DEFAULT_TCP.maxPerClient).toBeLessThan(DEFAULT_TCP.maxConnections);
  });

});
