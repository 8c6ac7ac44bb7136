// Per-query metadata (CoreDNS's plugin/metadata): labels such as `kubernetes/namespace` or
// `forward/upstream` whose values other plugins read (log's {/label} placeholders, view's
// metadata()). Values are functions, computed only when read. A query carries metadata only when
// the block's *metadata* plugin started it for that query; until then setMetadata does nothing,
// so plugins may publish unconditionally at no cost.
import { newSlot } from '../request/request.js';
import type { Request } from './types.js';

const slot = newSlot<Map<string, () => string>>();

/** Give `req` a metadata set (the metadata plugin does, for queries in its zones). Idempotent. */
export function startMetadata(req: Request): void {
  if (slot.get(req) === undefined) slot.set(req, new Map());
}

/** Publish `label` for this query. False (and nothing kept) when the query carries no metadata. */
export function setMetadata(req: Request, label: string, value: () => string): boolean {
  const m = slot.get(req);
  if (m === undefined) return false;
  m.set(label, value);
  return true;
}

/** The value of `label` for this query, or undefined when it was not published. */
export function metadataValue(req: Request, label: string): string | undefined {
  const f = slot.get(req)?.get(label);
  return f === undefined ? undefined : f();
}

/** Every label published for this query, sorted. */
export function metadataLabels(req: Request): string[] {
  return [...(slot.get(req)?.keys() ?? [])].sort();
}

/** A plugin that collects a query's metadata on demand (the metadata plugin; view asks it before routing). */
export interface MetadataCollector {
  collect(req: Request): void;
}

export const isMetadataCollector = (p: unknown): p is MetadataCollector => typeof (p as Partial<MetadataCollector> | undefined)?.collect === 'function';
