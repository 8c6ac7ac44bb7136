// Metrics: one prom-client Registry per process (passed down, never the global default), with
// families named coredns_<subsystem>_<name>. Asking for a family that exists returns it, so a
// reload keeps counting into the same series (CoreDNS's metrics survive reload too).
import type client from 'prom-client';
import * as prom from './prom.js';
import { FastCounter, FastHistogram } from './fast.js';

export { FastCounter, FastHistogram, type FastCounterChild, type FastHistogramChild } from './fast.js';

export type Counter = client.Counter<string>;
export type Gauge = client.Gauge<string>;
export type Histogram = client.Histogram<string>;

export interface Metrics {
  /** coredns_<plugin>_<name> counter. */
  counter(name: string, help: string, labels?: readonly string[]): Counter;
  gauge(name: string, help: string, labels?: readonly string[]): Gauge;
  histogram(name: string, help: string, labels?: readonly string[], buckets?: readonly number[]): Histogram;
  /** coredns_<plugin>_<name> counter for the per-query path (bound children, inc() is an addition). */
  fastCounter(name: string, help: string, labels?: readonly string[]): FastCounter;
  /** coredns_<plugin>_<name> histogram for the per-query path. */
  fastHistogram(name: string, help: string, labels?: readonly string[], buckets?: readonly number[]): FastHistogram;
  /** Families with a full name (coredns_dns_requests_total, coredns_proxy_…). */
  family: FamilyFactory;
  readonly registry: client.Registry;
  /**
   * The Prometheus text a /metrics endpoint serves: this process's families or, under
   * `-workers N`, every worker's summed (prom-client AggregatorRegistry, src/server/workers.ts).
   */
  exposition(): Promise<string>;
}

export interface FamilyFactory {
  counter(fullName: string, help: string, labels?: readonly string[]): Counter;
  gauge(fullName: string, help: string, labels?: readonly string[]): Gauge;
  histogram(fullName: string, help: string, labels?: readonly string[], buckets?: readonly number[]): Histogram;
  /** A counter for the per-query path: bind children once, inc() costs an addition (src/observe/fast.ts). */
  fastCounter(fullName: string, help: string, labels?: readonly string[]): FastCounter;
  /** A histogram for the per-query path (default buckets: prom-client's). */
  fastHistogram(fullName: string, help: string, labels?: readonly string[], buckets?: readonly number[]): FastHistogram;
}

const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class MetricsRegistry implements FamilyFactory {
  readonly registry = new prom.Registry();

  /** See Metrics.exposition; src/server/workers.ts replaces it in cluster workers. */
  exposition: () => Promise<string> = () => this.registry.metrics();

  private get<T>(name: string, make: () => T): T {
    const m = this.registry.getSingleMetric(name);
    return (m as T | undefined) ?? make();
  }

  counter(fullName: string, help: string, labels: readonly string[] = []): Counter {
    return this.get(fullName, () => new prom.Counter({ name: fullName, help, labelNames: labels, registers: [this.registry] }));
  }

  gauge(fullName: string, help: string, labels: readonly string[] = []): Gauge {
    // Under -workers the primary merges the workers' registries: counters and histograms add up,
    // entry counts add up, but state and info gauges (build_info, plugin_enabled, …) take one worker's value.
    const aggregator = /_entries$/.test(fullName) ? 'sum' : 'first';
    return this.get(fullName, () => new prom.Gauge({ name: fullName, help, labelNames: labels, registers: [this.registry], aggregator }));
  }

  histogram(fullName: string, help: string, labels: readonly string[] = [], buckets?: readonly number[]): Histogram {
    return this.get(
      fullName,
      () => new prom.Histogram({ name: fullName, help, labelNames: labels, registers: [this.registry], ...(buckets ? { buckets: [...buckets] } : {}) }),
    );
  }

  fastCounter(fullName: string, help: string, labels: readonly string[] = []): FastCounter {
    return this.get(fullName, () => {
      const m = new FastCounter(fullName, help, labels);
      this.registry.registerMetric(m as unknown as client.Metric);
      return m;
    });
  }

  fastHistogram(fullName: string, help: string, labels: readonly string[] = [], buckets: readonly number[] = DEFAULT_BUCKETS): FastHistogram {
    return this.get(fullName, () => {
      const m = new FastHistogram(fullName, help, labels, buckets);
      this.registry.registerMetric(m as unknown as client.Metric);
      return m;
    });
  }

  /** The view a plugin gets: families prefixed coredns_<subsystem>_. */
  scoped(subsystem: string): Metrics {
    const prefix = `coredns_${subsystem}_`;
    return {
      counter: (n, h, l) => this.counter(prefix + n, h, l),
      gauge: (n, h, l) => this.gauge(prefix + n, h, l),
      histogram: (n, h, l, b) => this.histogram(prefix + n, h, l, b),
      fastCounter: (n, h, l) => this.fastCounter(prefix + n, h, l),
      fastHistogram: (n, h, l, b) => this.fastHistogram(prefix + n, h, l, b),
      family: this,
      registry: this.registry,
      exposition: () => this.exposition(),
    };
  }
}
