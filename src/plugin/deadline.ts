// A per-query deadline (CoreDNS's context.WithTimeout from the cancel plugin): plugins that wait
// (forward) stop waiting when it has passed. Times are performance.now() milliseconds.
import { newSlot } from '../request/request.js';
import type { Request } from './types.js';

const slot = newSlot<number>();

/** Set the time by which `req` must be done; an earlier deadline already set wins. */
export function setDeadline(req: Request, at: number): void {
  const cur = slot.get(req);
  if (cur === undefined || at < cur) slot.set(req, at);
}

/** The query's deadline (performance.now() ms), or undefined without one. */
export function deadlineOf(req: Request): number | undefined {
  return slot.get(req);
}
