import { afterEach, describe, expect, inject, it } from 'vitest';
import type { KubeObject } from '../../src/sim/kube/index.js';
import { startScenario, type Scenario, type ScenarioOptions } from '../../src/sim/scenario.js';

const prom = () => ({ prometheusUrl: inject('prometheusUrl'), sdDir: inject('prometheusSdDir') });
let s: Scenario | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

type Weights = (sc: Scenario & { before?: KubeObject }) => number[];
type Rule = { name?: string; backendRefs: Array<{ name: string; weight: number }> };
const httpRoute = (sc: Scenario): KubeObject =>
  sc.kube.get({
    group: 'gateway.networking.k8s.io',
    plural: 'httproutes',
    namespace: sc.fixture.namespace,
    name: sc.fixture.virtualService,
  })!;
/** The HTTPRoute with the shifted pair's weights (rule primary, refs 0 and 1) and write bookkeeping blanked. */
function withoutPairWeights(route: KubeObject): unknown {
  const copy = structuredClone(route) as KubeObject & { spec: { rules: Rule[] } };
  for (const r of copy.spec.rules)
    if (r.name === 'primary')
      for (const b of r.backendRefs.slice(0, 2)) delete (b as { weight?: number }).weight;
  for (const k of ['resourceVersion', 'managedFields', 'generation'] as const) delete copy.metadata[k];
  return copy;
}
const ROUTES: Array<{ name: string; opts: Partial<ScenarioOptions>; weights: Weights }> = [
  {
    name: 'VirtualService, sidecars',
    opts: {},
    weights: (sc) => {
      const vs = sc.kube.get({
        group: 'networking.istio.io',
        plural: 'virtualservices',
        namespace: sc.fixture.namespace,
        name: sc.fixture.virtualService,
      });
      return (vs!.spec as { http: Array<{ route: Array<{ weight: number }> }> }).http[0]!.route.map(
        (r) => r.weight,
      );
    },
  },
  {
    // Also the hygiene case: a header-match rule before it and a third backendRef in it stay byte-for-byte.
    name: 'HTTPRoute, ambient (metrics from the waypoint), header rule and a third backendRef',
    opts: {
      routeKind: 'HTTPRoute',
      dataPlane: 'ambient',
      seed: { extraHeaderRoute: true, extraBackend: true },
    },
    weights: (sc) => {
      const after = httpRoute(sc);
      expect(JSON.stringify(withoutPairWeights(after))).toBe(JSON.stringify(withoutPairWeights(sc.before!)));
      const rules = (after.spec as { rules: Rule[] }).rules;
      expect(rules.map((r) => r.name)).toEqual(['canary-header', 'primary']);
      expect(rules[1]!.backendRefs[2]).toMatchObject({ name: `${sc.fixture.service}-debug`, weight: 0 });
      // Every write was a JSON patch guarded by a resourceVersion test and a test of both backendRefs.
      const patches = sc.kube.requests.filter((r) => r.method === 'PATCH');
      for (const p of patches) {
        expect(p.contentType).toMatch(/^application\/json-patch\+json/);
        const tests = (p.body as Array<{ op: string; path: string }>).filter((o) => o.op === 'test');
        expect(tests.map((o) => o.path)).toEqual([
          '/metadata/resourceVersion',
          '/spec/rules/1/backendRefs/0',
          '/spec/rules/1/backendRefs/1',
        ]);
      }
      return rules[1]!.backendRefs.slice(0, 2).map((r) => r.weight);
    },
  },
];

describe('end to end with real Prometheus', () => {
  it.each(ROUTES)(
    'healthy migration completes at 100 % target, one write per step: $name',
    async ({ opts, weights }) => {
      s = await startScenario({ metrics: prom(), policy: 'default', ...opts });
      const before = opts.routeKind === 'HTTPRoute' ? httpRoute(s) : undefined;
      await s.waitForTraffic();
      const started = Date.now();
      const { result, events } = await s.run({ timeScale: 0.05 });
      console.log(
        `healthy run: ${((Date.now() - started) / 1000).toFixed(1)} s, ${events.filter((e) => e.type === 'verdict').length} analyses`,
      );
      expect(result.phase, result.reason).toBe('completed');
      expect(s.weightWrites()).toEqual([1, 5, 10, 25, 50, 100]);
      expect(weights(before ? Object.assign(s, { before }) : s)).toEqual([0, 100]);
      await s.sim.waitForWeights((w) => w.k8s === 100, 5000);
    },
  );
});
