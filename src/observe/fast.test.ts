import { describe, expect, it } from 'vitest';
import { MetricsRegistry } from './metrics.js';

describe('fast metrics', () => {
  it('format like prom-client counters and histograms, cumulative buckets, in the same registry', async () => {
    const m = new MetricsRegistry();
    const c = m.fastCounter('coredns_x_total', 'X.', ['zone']);
    const a = c.labels('a.');
    a.inc();
    a.inc(2);
    c.labels('b.').inc();
    const h = m.fastHistogram('coredns_y_seconds', 'Y.', ['zone'], [0.1, 1]);
    const y = h.labels('a.');
    for (const v of [0.05, 0.1, 0.5, 3]) y.observe(v);
    m.counter('coredns_z_total', 'Z.').inc();
    const text = await m.exposition();
    expect(text).toContain('# TYPE coredns_x_total counter\ncoredns_x_total{zone="a."} 3\ncoredns_x_total{zone="b."} 1');
    expect(text).toContain('coredns_y_seconds_bucket{le="0.1",zone="a."} 2');
    expect(text).toContain('coredns_y_seconds_bucket{le="1",zone="a."} 3');
    expect(text).toContain('coredns_y_seconds_bucket{le="+Inf",zone="a."} 4');
    expect(text).toContain('coredns_y_seconds_sum{zone="a."} 3.65');
    expect(text).toContain('coredns_y_seconds_count{zone="a."} 4');
    expect(text).toContain('coredns_z_total 1');
    // get-or-create: a reload keeps counting into the same family
    expect(m.fastCounter('coredns_x_total', 'X.', ['zone'])).toBe(c);
    expect(() => c.labels('only', 'too-many')).toThrow(/expected 1 label values/);
  });

  it('show a label set once it has counted something, as prom-client does; a family without labels always', async () => {
    const m = new MetricsRegistry();
    const c = m.fastCounter('coredns_bound_total', 'B.', ['proto']);
    const udp = c.labels('udp');
    c.labels('tcp'); // bound, never used
    const h = m.fastHistogram('coredns_bound_seconds', 'S.', ['rcode'], [1]);
    h.labels('SERVFAIL');
    m.fastCounter('coredns_plain_total', 'P.');
    m.fastCounter('coredns_plain_total', 'P.').labels();
    let text = await m.exposition();
    expect(text).not.toContain('coredns_bound_total{');
    expect(text).not.toContain('coredns_bound_seconds_count');
    expect(text).toContain('coredns_plain_total 0');
    udp.inc();
    h.labels('SERVFAIL').observe(0.5);
    text = await m.exposition();
    expect(text).toContain('coredns_bound_total{proto="udp"} 1');
    expect(text).not.toContain('proto="tcp"');
    expect(text).toContain('coredns_bound_seconds_count{rcode="SERVFAIL"} 1');
  });
});
