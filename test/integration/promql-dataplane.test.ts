/**
 * The gate's queries pick the reporter from the plan's data plane (src/plan/reporter.ts reporterFor): sidecar plans
 * read reporter="destination", ambient plans reporter="waypoint". Both run against the real Prometheus the tests start,
 * on the series the mesh simulator exports for each data plane (window method and sequential method).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PrometheusProvider } from '../../src/gate/prometheus.js';
import { parsePlan, type ResolvedPlan } from '../../src/plan/load.js';
import { startMeshSim, subsetScenarioBackends, type MeshSim } from '../../src/sim/mesh/index.js';
import { registerScrapeTarget } from '../../src/sim/prometheus.js';

const sims: MeshSim[] = [];
const unregister: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const u of unregister) await u();
  for (const s of sims) await s.close();
});

const ns = {
  sidecar: `dp-sc-${randomBytes(3).toString('hex')}`,
  ambient: `dp-am-${randomBytes(3).toString('hex')}`,
};
const planFor = (dataPlane: 'sidecar' | 'ambient'): ResolvedPlan =>
  parsePlan(`apiVersion: meshshift.io/v1alpha1
kind: MigrationPlan
metadata: { name: pcs }
spec:
  namespace: ${ns[dataPlane]}
  host: productcatalogservice
  route: { kind: HTTPRoute, name: productcatalogservice }
  dataPlane: ${dataPlane}
  source: { host: productcatalogservice-vm }
  target: { host: productcatalogservice-k8s, deployment: productcatalogservice }
  policy: default
`);
const selectors = (p: ResolvedPlan) => ({
  source: { destination_service: `productcatalogservice-vm.${p.namespace}.svc.cluster.local` },
  target: { destination_service: `productcatalogservice-k8s.${p.namespace}.svc.cluster.local` },
});

beforeAll(async () => {
  for (const dataPlane of ['sidecar', 'ambient'] as const) {
    const sim = await startMeshSim({
      backends: subsetScenarioBackends({
        namespace: ns[dataPlane],
        service: 'productcatalogservice',
        mode: 'hosts',
        routeKind: 'HTTPRoute',
      }),
      rps: 200,
      routing: { static: { vm: 50, k8s: 50 } },
      dataPlane,
      seed: 7,
    });
    sims.push(sim);
    unregister.push(await registerScrapeTarget(inject('prometheusSdDir'), ns[dataPlane], sim.metricsTarget));
  }
});

describe('reporter by data plane, against a real Prometheus', () => {
  const provider = new PrometheusProvider({ url: inject('prometheusUrl'), timeoutMs: 5000 });

  it.each(['sidecar', 'ambient'] as const)(
    '%s: the plan reads its own reporter, and only that one has series',
    async (dataPlane) => {
      const plan = planFor(dataPlane);
      const reporter = plan.policy.analysis.reporter;
      expect(reporter).toBe(dataPlane === 'ambient' ? 'waypoint' : 'destination');
      const sel = selectors(plan);
      const deadline = Date.now() + 20_000;
      let seen = 0;
      while (
        (seen = await provider.recentRequests(sel.source, reporter, 30_000)) === 0 &&
        Date.now() < deadline
      )
        await new Promise((r) => setTimeout(r, 250));
      expect(seen).toBeGreaterThan(0);
      // The other reporter has nothing for this data plane (ambient: no sidecars; sidecar: no waypoint).
      const other = dataPlane === 'ambient' ? 'destination' : 'waypoint';
      expect(await provider.recentRequests(sel.source, other, 30_000)).toBe(0);

      const windowPolicy = {
        ...plan.policy,
        analysis: { ...plan.policy.analysis, method: 'window' as const, window: 30_000 },
      };
      const w = await provider.sample({ namespace: plan.namespace, selectors: sel, policy: windowPolicy });
      expect(w.queries).toBe(1);
      expect(w.source.requests).toBeGreaterThan(0);
      expect(w.target.requests).toBeGreaterThan(0);
      expect(w.target.latencyMs.p99).toBeGreaterThan(0);

      const since = Date.now() - 20_000;
      const seq = { ...plan.policy, analysis: { ...plan.policy.analysis, method: 'sequential' as const } };
      const s = await provider.sample({
        namespace: plan.namespace,
        selectors: sel,
        policy: seq,
        stepStartedAt: since,
      });
      expect(s.source.requests + s.target.requests).toBeGreaterThan(0);
    },
  );
});
