/** src/mesh/http-route.ts: the rule to shift in an HTTPRoute, and the minimal guarded patch for it. Pure. */
import { describe, expect, it } from 'vitest';
import {
  httpRouteWeightPatch,
  locateHttpRoute,
  type HttpRouteObject,
  type HttpRouteRule,
} from '../../src/mesh/http-route.js';
import { RouteError } from '../../src/mesh/route.js';
import { gatewayApiSample } from '../../src/sim/gateway-api.js';
import { JsonPatchError, applyJsonPatch } from '../../src/sim/kube/index.js';

const NS = 'shop';
const vm = { host: 'pcs-vm' };
const k8s = { host: 'pcs-k8s.shop.svc.cluster.local' };
const want = (rule?: string) => ({
  source: vm,
  target: k8s,
  ruleField: 'spec.route.rule',
  ...(rule ? { rule } : {}),
});

function route(rules: HttpRouteRule[], resourceVersion = '7'): HttpRouteObject {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'pcs', namespace: NS, resourceVersion },
    spec: { parentRefs: [{ group: '', kind: 'Service', name: 'pcs', port: 3550 }], rules },
  };
}
const headerRule: HttpRouteRule = {
  name: 'canary-header',
  matches: [{ headers: [{ type: 'Exact', name: 'x-canary', value: 'true' }] }],
  filters: [
    { type: 'RequestHeaderModifier', requestHeaderModifier: { add: [{ name: 'x-via', value: 'canary' }] } },
  ],
  backendRefs: [{ group: '', kind: 'Service', name: 'pcs-k8s', port: 3550, weight: 1 }],
};
const primary = (
  vmWeight?: number,
  k8sWeight?: number,
  extra: HttpRouteRule['backendRefs'] = [],
): HttpRouteRule => ({
  name: 'primary',
  backendRefs: [
    {
      group: '',
      kind: 'Service',
      name: 'pcs-vm',
      port: 3550,
      ...(vmWeight !== undefined ? { weight: vmWeight } : {}),
    },
    ...(k8sWeight !== undefined
      ? [{ group: '', kind: 'Service', name: 'pcs-k8s', port: 3550, weight: k8sWeight }]
      : []),
    ...extra,
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

describe('locateHttpRoute', () => {
  it('finds the rule with both backends (a header rule to the target only is skipped); weights are shares', () => {
    expect(locateHttpRoute(route([headerRule, primary(90, 10)]), want())).toEqual({
      httpIndex: 1,
      routeName: 'primary',
      sourceIndex: 0,
      targetIndex: 1,
      sourceWeight: 90,
      targetWeight: 10,
    });
    // Relative weights (Gateway API): 3:1 is 25 %; an unset weight is 1.
    expect(locateHttpRoute(route([primary(3, 1)]), want())).toMatchObject({
      sourceWeight: 75,
      targetWeight: 25,
    });
    expect(locateHttpRoute(route([primary(undefined)]), want())).toMatchObject({
      targetIndex: -1,
      sourceWeight: 100,
      targetWeight: 0,
    });
  });

  it('a third backendRef is allowed and does not count in the pair; an Istio Hostname can be the VM side', () => {
    const third = [{ name: 'pcs-debug', port: 3550, weight: 0 }];
    expect(locateHttpRoute(route([primary(80, 20, third)]), want())).toMatchObject({ targetWeight: 20 });
    const hostname = route([
      {
        backendRefs: [
          { group: 'networking.istio.io', kind: 'Hostname', name: 'pcs.vm.example', port: 3550, weight: 100 },
        ],
      },
    ]);
    expect(locateHttpRoute(hostname, { ...want(), source: { host: 'pcs.vm.example' } })).toMatchObject({
      sourceIndex: 0,
      targetIndex: -1,
    });
  });

  it('refuses to guess between two rules to the source; an unknown rule name lists the rules', () => {
    const twin = {
      ...primary(100, 0),
      name: undefined,
      matches: [{ path: { type: 'PathPrefix', value: '/v2' } }],
    };
    const e = errorOf(() => locateHttpRoute(route([twin, primary(100, 0)]), want()));
    expect(e.message).toMatch(/has 2 rules to the source \(#0 \(unnamed\), primary\)/);
    expect(e.fix).toMatch(/name the rule in spec\.route\.rule/);
    const named = errorOf(() => locateHttpRoute(route([headerRule, primary(100, 0)]), want('main')));
    expect(named.message).toMatch(/no rule named "main" \(rules: canary-header, primary\)/);
    expect(locateHttpRoute(route([twin, primary(70, 30)]), want('primary'))).toMatchObject({
      targetWeight: 30,
    });
  });

  it('a real GAMMA sample (Gateway API conformance, mesh): 70/30 between echo-v1 and echo-v2', () => {
    const sample = gatewayApiSample('httproute-weight') as unknown as HttpRouteObject;
    const loc = locateHttpRoute(sample, {
      source: { host: 'echo-v1' },
      target: { host: 'echo-v2' },
      ruleField: 'spec.route.rule',
    });
    expect(loc).toMatchObject({ httpIndex: 0, sourceWeight: 70, targetWeight: 30 });
  });
});

describe('httpRouteWeightPatch', () => {
  it('changes the two weights and nothing else; tests the resourceVersion and both backendRefs', () => {
    const doc = route([headerRule, primary(90, 10, [{ name: 'pcs-debug', port: 3550, weight: 0 }])]);
    const ops = httpRouteWeightPatch(doc, locateHttpRoute(doc, want()), 25, k8s);
    expect(ops.filter((o) => o.op === 'test').map((o) => o.path)).toEqual([
      '/metadata/resourceVersion',
      '/spec/rules/1/backendRefs/0',
      '/spec/rules/1/backendRefs/1',
    ]);
    const after = applyJsonPatch(doc, ops) as HttpRouteObject;
    const expected = structuredClone(doc);
    expected.spec!.rules![1]!.backendRefs![0]!.weight = 75;
    expected.spec!.rules![1]!.backendRefs![1]!.weight = 25;
    expect(after).toEqual(expected);
  });

  it('make-before-break: a missing target joins the rule as a Service backendRef with the source port', () => {
    const doc = route([primary(undefined)]);
    const after = applyJsonPatch(
      doc,
      httpRouteWeightPatch(doc, locateHttpRoute(doc, want()), 1, k8s),
    ) as HttpRouteObject;
    expect(after.spec!.rules![0]!.backendRefs).toEqual([
      { group: '', kind: 'Service', name: 'pcs-vm', port: 3550, weight: 99 },
      { name: 'pcs-k8s', port: 3550, weight: 1 },
    ]);
  });

  it('a concurrent change of either weight (or the object) fails the patch instead of landing elsewhere', () => {
    const doc = route([primary(90, 10)]);
    const ops = httpRouteWeightPatch(doc, locateHttpRoute(doc, want()), 25, k8s);
    const moved = structuredClone(doc);
    moved.spec!.rules![0]!.backendRefs![1]!.weight = 50;
    expect(() => applyJsonPatch(moved, ops.slice(1))).toThrow(JsonPatchError);
    expect(() =>
      applyJsonPatch({ ...doc, metadata: { ...doc.metadata, resourceVersion: '8' } }, ops),
    ).toThrow(JsonPatchError);
    expect(() => httpRouteWeightPatch(doc, locateHttpRoute(doc, want()), 101, k8s)).toThrow(RangeError);
  });
});
