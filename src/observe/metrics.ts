// Metrics: one prom-client Registry per process (passed down, never the global default), with
// families named coredns_<subsystem>_<name>. Asking for a family that exists returns it, so a
// reload keeps counting into the same series (CoreDNS's metrics survive reload too).
import client from 'prom-client';

export type Counter = client.Counter<string>;
export type Gauge = client.Gauge<string>;
export type Histogram = client.Histogram<string>;

export interface Metrics {
  /** coredns_<plugin>_<name> counter. */
  counter(name: string, help: string, labels?: readonly string[]): Counter;
  gauge(name: string, help: string, labels?: readonly string[]): Gauge;
  histogram(name: string, help: string, labels?: readonly string[], buckets?: readonly number[]): Histogram;
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
}

export class MetricsRegistry implements FamilyFactory {
  readonly registry = new client.Registry();

  /** See Metrics.exposition; src/server/workers.ts replaces it in cluster workers. */
  exposition: () => Promise<string> = () => this.registry.metrics();

  private get<T>(name: string, make: () => T): T {
    const m = this.registry.getSingleMetric(name);
    return (m as T | undefined) ?? make();
  }

  counter(fullName: string, help: string, labels: readonly string[] = []): Counter {
    return this.get(fullName, () => new client.Counter({ name: fullName, help, labelNames: labels, registers: [this.registry] }));
  }

  gauge(fullName: string, help: string, labels: readonly string[] = []): Gauge {
    // Under -workers the primary merges the workers' registries: counters and histograms add up,
    // entry counts add up, but state and info gauges (build_info, plugin_enabled, …) take one worker's value.
    const aggregator = /_entries$/.test(fullName) ? 'sum' : 'first';
    return this.get(fullName, () => new client.Gauge({ name: fullName, help, labelNames: labels, registers: [this.registry], aggregator }));
  }

  histogram(fullName: string, help: string, labels: readonly string[] = [], buckets?: readonly number[]): Histogram {
    return this.get(
      fullName,
      () => new client.Histogram({ name: fullName, help, labelNames: labels, registers: [this.registry], ...(buckets ? { buckets: [...buckets] } : {}) }),
    );
  }

  /** The view a plugin gets: families prefixed coredns_<subsystem>_. */
  scoped(subsystem: string): Metrics {
    const prefix = `coredns_${subsystem}_`;
    return {
      counter: (n, h, l) => this.counter(prefix + n, h, l),
      gauge: (n, h, l) => this.gauge(prefix + n, h, l),
      histogram: (n, h, l, b) => this.histogram(prefix + n, h, l, b),
      family: this,
      registry: this.registry,
      exposition: () => this.exposition(),
    };
  }
}
