/** src/mesh/route.ts: finding the one route to shift, and the minimal guarded patch for it. Pure. */
import { describe, expect, it } from 'vitest';
import {
  RouteError,
  locateRoute,
  sameDestination,
  weightPatch,
  type VirtualServiceObject,
  type VsHttpRoute,
} from '../../src/mesh/route.js';
import { JsonPatchError, applyJsonPatch } from '../../src/sim/kube/index.js';

const NS = 'shop';
const FQDN = 'pcs.shop.svc.cluster.local';
const vm = { host: FQDN, subset: 'vm' };
const k8s = { host: FQDN, subset: 'k8s' };

function vs(http: VsHttpRoute[], resourceVersion = '42'): VirtualServiceObject {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name: 'pcs', namespace: NS, resourceVersion },
    spec: { hosts: ['pcs'], http },
  };
}

const headerRoute: VsHttpRoute = {
  name: 'canary-header',
  match: [{ headers: { 'x-canary': { exact: 'true' } } }],
  route: [{ destination: { host: 'pcs', subset: 'k8s' }, weight: 100 }],
  timeout: '2s',
  retries: { attempts: 3, perTryTimeout: '500ms' },
};
const primary = (vmWeight = 100, k8sWeight = 0): VsHttpRoute => ({
  name: 'primary',
  route: [
    { destination: { host: 'pcs', subset: 'vm', port: { number: 3550 } }, weight: vmWeight },
    { destination: { host: 'pcs', subset: 'k8s', port: { number: 3550 } }, weight: k8sWeight },
  ],
});

const errorOf = (f: () => unknown): RouteError => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(RouteError);
    return e as RouteError;
  }
  throw new Error('expected a RouteError');
};

describe('sameDestination', () => {
  it('qualifies short hosts in the object namespace and compares subsets', () => {
    expect(sameDestination({ host: 'pcs', subset: 'vm' }, vm, NS)).toBe(true);
    expect(sameDestination({ host: FQDN, subset: 'vm' }, { host: 'pcs', subset: 'vm' }, NS)).toBe(true);
    expect(sameDestination({ host: 'pcs', subset: 'k8s' }, vm, NS)).toBe(false);
    expect(sameDestination({ host: 'pcs' }, vm, NS)).toBe(false);
    expect(sameDestination({ host: 'pcs' }, vm, 'other')).toBe(false);
    expect(sameDestination(undefined, vm, NS)).toBe(false);
  });
});

describe('locateRoute', () => {
  it('subsets of one host: finds source and target in the route that has both', () => {
    expect(locateRoute(vs([primary(90, 10)]), vm, k8s)).toEqual({
      httpIndex: 0,
      routeName: 'primary',
      sourceIndex: 0,
      targetIndex: 1,
      sourceWeight: 90,
      targetWeight: 10,
    });
  });

  it('two hosts: the VM ServiceEntry host and the pod Service host', () => {
    const doc = vs([
      {
        route: [
          { destination: { host: 'pcs' }, weight: 80 },
          { destination: { host: 'pcs-gke' }, weight: 20 },
        ],
      },
    ]);
    const loc = locateRoute(doc, { host: 'pcs' }, { host: 'pcs-gke.shop.svc.cluster.local' });
    expect(loc).toMatchObject({
      httpIndex: 0,
      sourceIndex: 0,
      targetIndex: 1,
      sourceWeight: 80,
      targetWeight: 20,
    });
    expect(loc.routeName).toBeUndefined();
  });

  it('a lone source without a weight has 100 %, and a missing target is index -1 at 0 %', () => {
    const loc = locateRoute(vs([{ route: [{ destination: { host: 'pcs', subset: 'vm' } }] }]), vm, k8s);
    expect(loc).toMatchObject({ sourceIndex: 0, targetIndex: -1, sourceWeight: 100, targetWeight: 0 });
  });

  it('skips a header route that only goes to the target', () => {
    expect(locateRoute(vs([headerRoute, primary()]), vm, k8s)).toMatchObject({
      httpIndex: 1,
      routeName: 'primary',
    });
  });

  it('refuses to guess between two routes to the source, and says how to choose', () => {
    const twin = { ...primary(), name: undefined, match: [{ uri: { prefix: '/v2' } }] };
    const e = errorOf(() => locateRoute(vs([twin, primary()]), vm, k8s));
    expect(e.message).toMatch(/has 2 http routes to the source \(#0 \(unnamed\), primary\)/);
    expect(e.fix).toMatch(/spec\.virtualService\.route/);
  });

  it('a named route wins over the search, and an unknown name lists the routes', () => {
    const other = { ...primary(), name: 'other' };
    expect(locateRoute(vs([other, primary(70, 30)]), vm, k8s, 'primary')).toMatchObject({
      httpIndex: 1,
      targetWeight: 30,
    });
    const e = errorOf(() => locateRoute(vs([headerRoute, primary()]), vm, k8s, 'main'));
    expect(e.message).toMatch(/no http route named "main" \(routes: canary-header, primary\)/);
  });

  it('a named route that does not go to the source is refused', () => {
    expect(
      errorOf(() => locateRoute(vs([headerRoute, primary()]), vm, k8s, 'canary-header')).message,
    ).toMatch(/route canary-header does not route to the source \(.* subset vm\)/);
  });

  it('reports no http routes, no route to the source, a third destination and a bad weight', () => {
    expect(errorOf(() => locateRoute(vs([]), vm, k8s)).message).toMatch(/has no http routes/);
    expect(errorOf(() => locateRoute(vs([headerRoute]), vm, k8s)).message).toMatch(
      /no http route to the source/,
    );
    const three = primary();
    three.route!.push({ destination: { host: 'pcs', subset: 'canary' }, weight: 0 });
    expect(errorOf(() => locateRoute(vs([three]), vm, k8s)).message).toMatch(/has 3 destinations/);
    expect(errorOf(() => locateRoute(vs([primary(99.5, 0.5)]), vm, k8s)).message).toMatch(
      /weight 99\.5; Istio weights are integers 0–100/,
    );
  });
});

describe('weightPatch', () => {
  it('pins resourceVersion and both destinations with test ops, then sets the pair of weights', () => {
    const doc = vs([headerRoute, primary()]);
    const ops = weightPatch(doc, locateRoute(doc, vm, k8s), 25, k8s);
    expect(ops).toEqual([
      { op: 'test', path: '/metadata/resourceVersion', value: '42' },
      { op: 'test', path: '/spec/http/1/route/0/destination', value: primary().route![0]!.destination },
      { op: 'test', path: '/spec/http/1/route/1/destination', value: primary().route![1]!.destination },
      { op: 'add', path: '/spec/http/1/route/0/weight', value: 75 },
      { op: 'add', path: '/spec/http/1/route/1/weight', value: 25 },
    ]);
  });

  it('applied, it changes only the two weights: the header route and everything else stay as they were', () => {
    const doc = vs([headerRoute, primary()]);
    const out = applyJsonPatch(
      doc,
      weightPatch(doc, locateRoute(doc, vm, k8s), 10, k8s),
    ) as VirtualServiceObject;
    expect(out.spec!.http![0]).toEqual(headerRoute);
    expect(out.spec!.http![1]).toEqual(primary(90, 10));
    expect({ ...out, spec: { ...out.spec, http: undefined } }).toEqual({
      ...doc,
      spec: { ...doc.spec, http: undefined },
    });
  });

  it('adds a missing target in the same patch (make-before-break), with the source port', () => {
    const doc = vs([{ route: [{ destination: { host: 'pcs', subset: 'vm', port: { number: 3550 } } }] }]);
    const out = applyJsonPatch(
      doc,
      weightPatch(doc, locateRoute(doc, vm, k8s), 1, k8s),
    ) as VirtualServiceObject;
    expect(out.spec!.http![0]!.route).toEqual([
      { destination: { host: 'pcs', subset: 'vm', port: { number: 3550 } }, weight: 99 },
      { destination: { host: FQDN, subset: 'k8s', port: { number: 3550 } }, weight: 1 },
    ]);
  });

  it('fails on the server when the object changed since it was read', () => {
    const read = vs([primary()], '42');
    const ops = weightPatch(read, locateRoute(read, vm, k8s), 5, k8s);
    expect(() => applyJsonPatch(vs([primary()], '43'), ops)).toThrow(JsonPatchError);
    const moved = vs([{ ...primary(), route: [...primary().route!].reverse() }], '42');
    expect(() => applyJsonPatch(moved, ops)).toThrow(JsonPatchError);
  });

  it.each([-1, 101, 2.5, Number.NaN])('rejects target weight %s', (w) => {
    const doc = vs([primary()]);
    expect(() => weightPatch(doc, locateRoute(doc, vm, k8s), w, k8s)).toThrow(RangeError);
  });
});
