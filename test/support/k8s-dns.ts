// Helpers for end-to-end tests of the kubernetes plugin against the fake API server: poll with a
// deadline, ask a running server for a name's A records, and work out from the fake's objects what
// the answer must be.
import type { TestServer } from '../../src/testing/index.js';
import type { FakeApiServer, KubeObject } from './fake-apiserver.js';

/** Poll `f` every `every` ms until it returns true; throw `what` after `ms`. Returns the time it took. */
export async function until(f: () => boolean | Promise<boolean>, ms: number, what: string, every = 10): Promise<number> {
  const t0 = Date.now();
  const deadline = t0 + ms;
  for (;;) {
    if (await f()) return Date.now() - t0;
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** Lists the fake has served so far (of `kind` only, when given: 'services', 'endpointslices', …). */
export const listsServed = (fake: FakeApiServer, kind?: string): number => fake.requests.filter((r) => !r.watch && r.kind !== undefined && (kind === undefined || r.kind === kind) && r.status === 200).length;

/**
 * Run `f` (which waits, with a deadline that is only a guard against a hang, for a change made on
 * `fake` to show) and throw if the API was listed again meanwhile: a change seen without a new
 * list came through the watches already open, as it happened. That is what "live within a second"
 * meant, told without the clock (a loaded machine takes seconds for anything); a source that
 * re-lists to catch up is caught, one that never catches up hits `f`'s deadline. `kind`: count
 * only the lists of the changed kind (after an outage the others may still be listed again).
 */
export async function viaWatch<T>(fake: FakeApiServer, f: () => Promise<T>, kind?: string): Promise<T> {
  const before = listsServed(fake, kind);
  const v = await f();
  const lists = listsServed(fake, kind) - before;
  if (lists !== 0) throw new Error(`the API was listed ${lists} time(s)${kind === undefined ? '' : ` (${kind})`} before the change showed: it did not come through the open watches`);
  return v;
}

/** What a name answers for A: 'NX', or the sorted addresses (NOERROR; [] is NODATA). Other rcodes as `rcode:N`. */
export type AState = 'NX' | `rcode:${number}` | string[];

export async function aState(srv: TestServer, name: string): Promise<AState> {
  const r = await srv.query(name, 'A', { timeout: 2000 });
  if (r.rcode === 3) return 'NX';
  if (r.rcode !== 0) return `rcode:${r.rcode}`;
  return (r.msg.answers ?? [])
    .flatMap((a) => (a.type === 'A' ? [a.data] : []))
    .sort();
}

export const same = (a: AState, b: AState): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * The A answer a Service name must have given the fake's objects: NX without the namespace or the
 * Service; the ClusterIP; for a headless Service the ready addresses of the given slices that
 * belong to it (the caller names the slices it may have created).
 */
export function expectedA(fake: FakeApiServer, ns: string, name: string, sliceNames: readonly string[] = []): AState {
  if (fake.get('namespaces', undefined, ns) === undefined) return 'NX';
  const svc = fake.get('services', ns, name);
  if (svc === undefined) return 'NX';
  const ip = (svc['spec'] as { clusterIP?: string }).clusterIP;
  if (ip !== 'None') return [ip ?? ''];
  const ips: string[] = [];
  for (const s of sliceNames) {
    const sl: KubeObject | undefined = fake.get('endpointslices', ns, s);
    if (sl === undefined || sl.metadata.labels?.['kubernetes.io/service-name'] !== name) continue;
    for (const ep of sl['endpoints'] as { addresses: string[]; conditions: { ready: boolean } }[]) {
      if (ep.conditions.ready) ips.push(...ep.addresses);
    }
  }
  return [...new Set(ips)].sort();
}

/** Compare many names at once (batches of `par` concurrent queries); returns the mismatches. */
export async function mismatches(
  srv: TestServer,
  names: readonly { fqdn: string; want: AState }[],
  par = 64,
): Promise<{ fqdn: string; want: AState; got: AState }[]> {
  const bad: { fqdn: string; want: AState; got: AState }[] = [];
  for (let i = 0; i < names.length; i += par) {
    const batch = names.slice(i, i + par);
    const got = await Promise.all(batch.map((n) => aState(srv, n.fqdn)));
    batch.forEach((n, j) => {
      if (!same(got[j]!, n.want)) bad.push({ ...n, got: got[j]! });
    });
  }
  return bad;
}
