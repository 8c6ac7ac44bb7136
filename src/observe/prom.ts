// prom-client's classes without its index module. The index also loads the push gateway (http,
// https), the default metrics (which load @opentelemetry/api), summaries (tdigest) and more:
// ~70 ms of CPU at every start, before a Corefile is even read, for parts only the prometheus
// plugin's default metrics use (it imports the index itself). These are the same module
// instances as the index's (node's module cache), so classes and registries are shared with it.
import { createRequire } from 'node:module';
import type client from 'prom-client';

const load = createRequire(import.meta.url);

export const Registry = load('prom-client/lib/registry') as typeof client.Registry;
export const Counter = load('prom-client/lib/counter') as typeof client.Counter;
export const Gauge = load('prom-client/lib/gauge') as typeof client.Gauge;
export const Histogram = load('prom-client/lib/histogram') as typeof client.Histogram;
export const AggregatorRegistry = load('prom-client/lib/cluster') as typeof client.AggregatorRegistry;
