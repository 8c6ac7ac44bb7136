import type { Cidr, Fall, PluginDefinition, Zones } from 'typedns/plugin';

/** One `net` stanza: the networks it applies to and the names it answers. */
export interface SplitView {
  /** The CIDRs as written, joined by ",": the `view` label of the metric. */
  readonly label: string;
  readonly nets: readonly Cidr[];
  /** Lower-cased FQDN → addresses (IPv4 and IPv6 mixed). */
  readonly records: ReadonlyMap<string, readonly string[]>;
}

export interface SplitConfig {
  readonly zones: Zones;
  readonly views: readonly SplitView[];
  readonly ttl: number;
  readonly fall: Fall;
}

declare const split: PluginDefinition<SplitConfig>;
export default split;
