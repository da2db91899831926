/** spec.route (HTTPRoute | VirtualService), spec.virtualService (older spelling), spec.dataPlane and the reporter. */
import { describe, expect, it } from 'vitest';
import { ValidationError, formatFieldError } from '../../src/plan/errors.js';
import { parsePlan, upgradeResolvedPlan, type ResolvedPlan } from '../../src/plan/load.js';
import { GOOD_PLAN } from '../harness/plan-fixtures.js';

function errorsOf(text: string): string[] {
  try {
    parsePlan(text, 'plan.yaml');
  } catch (err) {
    if (err instanceof ValidationError) return err.errors.map((e) => formatFieldError('plan.yaml', e));
    throw err;
  }
  return [];
}

const HTTPROUTE_PLAN = `apiVersion: meshshift.io/v1alpha1
kind: MigrationPlan
metadata:
  name: pcs
spec:
  namespace: shop
  host: productcatalogservice.shop.svc.cluster.local
  route:
    kind: HTTPRoute
    name: productcatalogservice
    rule: primary
  dataPlane: ambient
  source:
    host: productcatalogservice-vm
  target:
    host: productcatalogservice-k8s
    deployment: productcatalogservice
  policy: default
`;

describe('a plan stored before spec.route (a migration in flight across an upgrade)', () => {
  it('reads as the same VirtualService route, sidecar data plane; a current plan is unchanged', () => {
    const current = parsePlan(
      GOOD_PLAN.replace(
        '    name: productcatalogservice\n',
        '    name: productcatalogservice\n    route: primary\n',
      ),
    );
    const { route: _route, dataPlane: _dp, ...rest } = current;
    const stored = { ...rest, virtualService: { name: 'productcatalogservice', route: 'primary' } };
    const upgraded = upgradeResolvedPlan(JSON.parse(JSON.stringify(stored)) as ResolvedPlan);
    expect(upgraded.route).toEqual({
      kind: 'VirtualService',
      name: 'productcatalogservice',
      rule: 'primary',
    });
    expect(upgraded.dataPlane).toBe('sidecar');
    expect(upgraded).not.toHaveProperty('virtualService');
    expect(upgradeResolvedPlan(current)).toBe(current);
  });
});

describe('spec.route', () => {
  it('an HTTPRoute plan resolves to kind, name, rule; ambient reads the waypoint reporter', () => {
    const p = parsePlan(HTTPROUTE_PLAN, 'plan.yaml');
    expect(p.route).toEqual({ kind: 'HTTPRoute', name: 'productcatalogservice', rule: 'primary' });
    expect(p.dataPlane).toBe('ambient');
    expect(p.mode).toBe('hosts');
    expect(p.source.serviceEntry).toBeUndefined();
    expect(p.policy.analysis.reporter).toBe('waypoint');
  });

  it('the older spec.virtualService and spec.route kind VirtualService resolve to the same route', () => {
    const old = parsePlan(
      GOOD_PLAN.replace(
        '    name: productcatalogservice\n',
        '    name: productcatalogservice\n    route: primary\n',
      ),
    );
    const neu = parsePlan(
      GOOD_PLAN.replace(
        '  virtualService:\n    name: productcatalogservice\n',
        '  route:\n    kind: VirtualService\n    name: productcatalogservice\n    rule: primary\n',
      ),
    );
    expect(old.route).toEqual({ kind: 'VirtualService', name: 'productcatalogservice', rule: 'primary' });
    expect(neu.route).toEqual(old.route);
    expect(old.dataPlane).toBe('sidecar');
    expect(old.policy.analysis.reporter).toBe('destination');
  });

  it('refuses both spellings at once, and neither, naming the field and the fix', () => {
    const both = GOOD_PLAN.replace(
      '  virtualService:',
      '  route: { kind: VirtualService, name: x }\n  virtualService:',
    );
    expect(errorsOf(both)).toEqual([
      expect.stringMatching(/spec\.route: give spec\.route or spec\.virtualService, not both/),
    ]);
    const neither = GOOD_PLAN.replace('  virtualService:\n    name: productcatalogservice\n', '');
    expect(errorsOf(neither)).toEqual([
      expect.stringMatching(/spec\.route: spec\.route is required: \{ kind: HTTPRoute/),
    ]);
  });

  it('an HTTPRoute plan with subsets, one host, a bad kind or apiVersion is refused with the fix', () => {
    const subsets = HTTPROUTE_PLAN.replace('    host: productcatalogservice-vm\n', '    subset: vm\n');
    expect(errorsOf(subsets)).toEqual([
      expect.stringMatching(
        /spec\.source\.subset: DestinationRule subsets do not apply to HTTPRoute backends/,
      ),
    ]);
    const oneHost = HTTPROUTE_PLAN.replace(
      '    host: productcatalogservice-k8s\n',
      '    host: productcatalogservice-vm\n',
    );
    expect(errorsOf(oneHost)).toEqual([
      expect.stringMatching(
        /spec\.target\.host: an HTTPRoute shifts between two backendRefs: set target\.host/,
      ),
    ]);
    expect(errorsOf(HTTPROUTE_PLAN.replace('kind: HTTPRoute', 'kind: GRPCRoute'))).toEqual([
      expect.stringMatching(
        /spec\.route\.kind: spec\.route\.kind is HTTPRoute \(Gateway API\) or VirtualService/,
      ),
    ]);
    expect(
      errorsOf(HTTPROUTE_PLAN.replace('    rule: primary\n', '    rule: primary\n    apiVersion: v1beta1\n')),
    ).toEqual([
      expect.stringMatching(/spec\.route\.apiVersion: HTTPRoute is patched as v1; remove apiVersion/),
    ]);
  });

  it('a VirtualService plan still needs the ServiceEntry; a sidecar plan cannot read waypoint series', () => {
    expect(errorsOf(GOOD_PLAN.replace('    serviceEntry: productcatalogservice-vm\n', ''))).toEqual([
      expect.stringMatching(/spec\.source\.serviceEntry: required with a VirtualService/),
    ]);
    // Reported together with the other errors of the plan, as a missing required field is.
    const twoBad = GOOD_PLAN.replace('    serviceEntry: productcatalogservice-vm\n', '').replace(
      'namespace: shop',
      'namespace: Shop',
    );
    expect(errorsOf(twoBad)).toEqual([
      expect.stringMatching(/spec\.namespace: namespace must be a DNS-1123 label/),
      expect.stringMatching(/spec\.source\.serviceEntry: required with a VirtualService/),
    ]);
    const waypointPolicy = HTTPROUTE_PLAN.replace('  dataPlane: ambient\n', '').replace(
      'policy: default',
      'policy:\n    steps: [50, 100]\n    stepDuration: 1m\n    analysis: { interval: 10s, window: 1m, reporter: waypoint }\n    slo: { errorRate: { max: 0.01 } }',
    );
    expect(errorsOf(waypointPolicy)).toEqual([
      expect.stringMatching(
        /spec\.policy: .*reporter waypoint, but the plan's data plane is sidecar: set spec\.dataPlane: ambient/,
      ),
    ]);
    expect(errorsOf(HTTPROUTE_PLAN.replace('dataPlane: ambient', 'dataPlane: ambiant'))).toEqual([
      expect.stringMatching(/spec\.dataPlane: spec\.dataPlane is sidecar \(the default\) or ambient/),
    ]);
  });
});
