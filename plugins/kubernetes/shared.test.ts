// What a follower keeps of the leader's changes (-workers N, shared.ts): the objects come out of
// v8.deserialize (src/server/share.ts) with a copy of every string and list; the follower gives
// them the shared port lists the leader's own objects have, so its copy of the cluster is no
// larger than the leader's. The whole path through real workers: test/integration/workers-kubernetes.test.ts.
import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { ClusterStore } from './store.js';
import { shareDecoded } from './shared.js';
import { convertService, convertSlice } from './watch/convert.js';
import { endpointSlice, service } from '../../test/support/k8s-objects.js';
import type { SlimEndpointSlice, SlimService } from './watch/objects.js';

const roundTrip = <T>(x: T): T => v8.deserialize(v8.serialize(x)) as T;

describe('a follower of the shared API source', () => {
  it('keeps one port list for Services (and their slices) that have the same ports, as the leader does', () => {
    const leader = new ClusterStore();
    for (let i = 0; i < 3; i++) {
      leader.upsertService(convertService(service('ns', `s${i}`, `10.96.0.${i + 1}`, { ports: [{ name: 'http', port: 80 }] }))!);
      leader.upsertSlice(leader.prepare('endpointslices', convertSlice(endpointSlice('ns', `s${i}`, `s${i}-a`, [{ ip: `10.1.0.${i + 1}` }], { ports: [{ name: 'http', port: 8080 }] }))!) as SlimEndpointSlice);
    }
    leader.commit();
    const lp = [0, 1, 2].map((i) => leader.service(`s${i}`, 'ns')!.svc!.ports);
    expect(lp[1]).toBe(lp[0]); // convert.ts shares them in the leader
    expect(lp[2]).toBe(lp[0]);

    const snap = roundTrip(leader.snapshot());
    const follower = new ClusterStore();
    follower.replaceAll('services', snap.services.map((s) => shareDecoded<SlimService>('services', s)));
    follower.replaceAll('endpointslices', snap.endpointslices.map((s) => shareDecoded<SlimEndpointSlice>('endpointslices', s)));
    follower.commit();
    const fp = [0, 1, 2].map((i) => follower.service(`s${i}`, 'ns')!.svc!.ports);
    expect(fp[1]).toBe(fp[0]);
    expect(fp[2]).toBe(fp[0]);
    expect(fp[0]).toEqual([{ name: 'http', protocol: 'tcp', port: 80 }]);
    const eps = [0, 1, 2].map((i) => follower.service(`s${i}`, 'ns')!.eps);
    expect(eps.map((e) => e.map((x) => x.ip))).toEqual([['10.1.0.1'], ['10.1.0.2'], ['10.1.0.3']]);
    expect(eps[1]![0]!.ports).toBe(eps[0]![0]!.ports);
    expect(eps[0]![0]!.ports).toEqual([{ name: 'http', protocol: 'tcp', port: 8080 }]);

    // a change in a later message (v8.serialize keeps shared objects shared within one message only) shares them too
    const later = shareDecoded<SlimService>('services', roundTrip(convertService(service('ns', 's3', '10.96.0.4', { ports: [{ name: 'http', port: 80 }] }))!));
    expect(later.ports).toBe(fp[0]);
  });
});
