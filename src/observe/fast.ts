// Counters and histograms for the per-query path. A prom-client child hashes and validates its
// label set on every inc()/observe() (prom-client 15 histogram.js `observe`), which made the
// prometheus plugin double the in-process cost of a query (bench:chain: hosts 2.9 µs →
// errors+prometheus+hosts 5.8 µs). These keep one plain object per label set, bound once, with
// numbers that only add; the text and JSON forms are built when scraped. They register in the
// same prom-client Registry (registerMetric only needs name/help/type/get), so /metrics and the
// -workers aggregation treat them like prom-client's own.
type Labels = Record<string, string>;

/** What prom-client's Registry formats and AggregatorRegistry merges (a metric's get()). */
export interface MetricJson {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  values: Array<{ metricName?: string; labels: Record<string, string | number>; value: number }>;
}

export class FastCounterChild {
  value = 0;
  constructor(readonly labels: Labels) {}
  inc(n = 1): void {
    this.value += n;
  }
}

export class FastCounter {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  private readonly children = new Map<string, FastCounterChild>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {}

  /** The child for these label values (in labelNames order): bind it once, inc() it per query. */
  labels(...values: string[]): FastCounterChild {
    const key = values.join('\u0000');
    let c = this.children.get(key);
    if (c === undefined) {
      c = new FastCounterChild(toLabels(this.labelNames, values));
      this.children.set(key, c);
    }
    return c;
  }

  /**
   * A child bound on its first inc(), for label values that are final only after setup: the server
   * label (bind sets the addresses after the other plugins' setup), `lazyLabels(() => [ctx.server.label])`.
   */
  lazyLabels(values: () => string[]): { inc(n?: number): void } {
    let child: FastCounterChild | undefined;
    return { inc: (n = 1) => (child ??= this.labels(...values())).inc(n) };
  }

  get(): MetricJson {
    const values: MetricJson['values'] = [];
    // As prom-client does, a label set shows once it has counted something (binding is free).
    const all = this.labelNames.length === 0;
    for (const c of this.children.values()) if (all || c.value !== 0) values.push({ labels: c.labels, value: c.value });
    return { name: this.name, help: this.help, type: 'counter', aggregator: 'sum', values };
  }

  reset(): void {
    this.children.clear();
  }
}

export class FastHistogramChild {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Labels,
    private readonly bounds: Float64Array,
  ) {
    this.counts = new Float64Array(bounds.length);
  }
  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    if (i < b.length) this.counts[i]!++;
    this.sum += v;
    this.count++;
  }
}

export class FastHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly children = new Map<string, FastHistogramChild>();
  private readonly bounds: Float64Array;
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    buckets: readonly number[],
  ) {
    this.bounds = Float64Array.from([...buckets].sort((a, b) => a - b));
  }

  labels(...values: string[]): FastHistogramChild {
    const key = values.join('\u0000');
    let c = this.children.get(key);
    if (c === undefined) {
      c = new FastHistogramChild(toLabels(this.labelNames, values), this.bounds);
      this.children.set(key, c);
    }
    return c;
  }

  get(): MetricJson {
    const values: MetricJson['values'] = [];
    for (const c of this.children.values()) {
      if (c.count === 0 && this.labelNames.length > 0) continue; // not observed yet: not shown
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += c.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { le: this.bounds[i]!, ...c.labels }, value: acc });
      }
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', ...c.labels }, value: c.count });
      values.push({ metricName: `${this.name}_sum`, labels: c.labels, value: c.sum });
      values.push({ metricName: `${this.name}_count`, labels: c.labels, value: c.count });
    }
    return { name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values };
  }

  reset(): void {
    this.children.clear();
  }
}

function toLabels(names: readonly string[], values: readonly string[]): Labels {
  if (values.length !== names.length) throw new Error(`expected ${names.length} label values (${names.join(', ')}), got ${values.length}`);
  const out: Labels = {};
  names.forEach((n, i) => (out[n] = values[i]!));
  return out;
}
