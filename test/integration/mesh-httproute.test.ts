/**
 * The adapter on a Gateway API HTTPRoute (GAMMA), sidecar or ambient, against the strict Kubernetes API test
 * server with the published HTTPRoute schema, through the real @kubernetes/client-node.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { migrationPlanCrd } from '../../src/controller/crd-schema.js';
import { DriftError } from '../../src/mesh/errors.js';
import { IstioMeshAdapter } from '../../src/mesh/istio.js';
import { parsePlan } from '../../src/plan/load.js';
import { gatewayApiCrds } from '../../src/sim/gateway-api.js';
import { seedMigrationScenario } from '../../src/sim/istio-fixtures.js';
import type { ScenarioFixture, SeedOptions } from '../../src/sim/scenario-fixture.js';
import { startKubeApiServer, type KubeApiServer, type KubeObject } from '../../src/sim/kube/index.js';
import { planYamlFor } from '../../src/sim/scenario.js';

let kube: KubeApiServer | undefined;
afterEach(async () => {
  await kube?.close();
  kube = undefined;
});

type Rule = { name?: string; backendRefs: Array<{ name: string; weight?: number }> };
async function world(seed: SeedOptions = {}) {
  kube = await startKubeApiServer({
    crds: [migrationPlanCrd() as KubeObject, ...gatewayApiCrds()],
  });
  const fx = seedMigrationScenario(kube, { routeKind: 'HTTPRoute', dataPlane: 'ambient', ...seed });
  const plan = parsePlan(planYamlFor(fx, 'default', 'rule: primary'), 'plan.yaml');
  return { kube, fx, plan, mesh: new IstioMeshAdapter(kube.kubeConfig()) };
}
const routeRef = (fx: ScenarioFixture) => ({
  group: 'gateway.networking.k8s.io',
  plural: 'httproutes',
  namespace: fx.namespace,
  name: fx.virtualService,
});
const rules = (k: KubeApiServer, fx: ScenarioFixture) =>
  (k.get(routeRef(fx))!.spec as { rules: Rule[] }).rules;
const pair = (k: KubeApiServer, fx: ScenarioFixture) =>
  rules(k, fx)
    .find((r) => r.name === 'primary')!
    .backendRefs.slice(0, 2)
    .map((b) => b.weight);
const failed = (checks: Array<{ id: string; ok: boolean }>) => checks.filter((c) => !c.ok).map((c) => c.id);

describe('HTTPRoute preflight', () => {
  it('passes on the ambient GAMMA layout: every check named, selectors by Service', async () => {
    const { mesh, plan, fx } = await world({ initialTargetWeight: 20 });
    const r = await mesh.preflight(plan);
    expect(failed(r.checks)).toEqual([]);
    expect(r.checks.map((c) => c.id)).toEqual([
      'gateway-api',
      'istio-api',
      'httproute-parent',
      'httproute',
      'no-virtualservice',
      'vm-backend',
      'k8s-backend',
      'deployment',
      'ambient-enrolment',
      'waypoint',
    ]);
    expect(r.initialWeight).toBe(20);
    expect(r.selectors).toEqual({
      source: { destination_service: fx.sourceHost },
      target: { destination_service: fx.targetHost },
    });
    expect(plan.policy.analysis.reporter).toBe('waypoint');
  });

  it('refuses an HTTPRoute plan when a VirtualService routes the same host, with the reason', async () => {
    const { mesh, plan, fx } = await world({ conflictingVirtualService: true });
    const r = await mesh.preflight(plan);
    expect(failed(r.checks)).toEqual(['no-virtualservice']);
    const c = r.checks.find((x) => x.id === 'no-virtualservice')!;
    expect(c.message).toMatch(
      new RegExp(`VirtualService ${fx.service}-legacy also routes ${fx.host.replace(/\./g, '\\.')}`),
    );
    expect(c.message).toMatch(/undefined/);
    expect(c.fix).toMatch(/delete VirtualService/);
  });

  it('ambient: names the missing enrolment, the missing waypoint, and a sidecar plan in an ambient namespace', async () => {
    const { mesh, plan, kube: k, fx } = await world();
    k.edit({ group: '', plural: 'namespaces', namespace: '', name: fx.namespace }, (ns) => {
      ns.metadata.labels = {};
    });
    const r = await mesh.preflight(plan);
    expect(failed(r.checks)).toEqual(['ambient-enrolment', 'waypoint']);
    expect(r.checks.find((c) => c.id === 'ambient-enrolment')!.fix).toMatch(
      /istio\.io\/dataplane-mode=ambient/,
    );
    expect(r.checks.find((c) => c.id === 'waypoint')!.fix).toMatch(/istioctl waypoint apply/);

    const sidecarPlan = parsePlan(
      planYamlFor(fx, 'default').replace('  dataPlane: ambient\n', ''),
      'plan.yaml',
    );
    k.edit({ group: '', plural: 'namespaces', namespace: '', name: fx.namespace }, (ns) => {
      ns.metadata.labels = { 'istio.io/dataplane-mode': 'ambient' };
    });
    const s = await mesh.preflight(sidecarPlan);
    expect(failed(s.checks)).toEqual(['data-plane']);
    expect(s.checks.find((c) => c.id === 'data-plane')!.fix).toBe('set spec.dataPlane: ambient');
  });

  it('no Gateway API served; a route attached to an ingress Gateway; VMs without WorkloadEntries', async () => {
    const w = await world({ withWorkloadEntries: false });
    const bare = await startKubeApiServer({ crds: [migrationPlanCrd() as KubeObject] });
    try {
      const r = await new IstioMeshAdapter(bare.kubeConfig()).preflight(w.plan);
      expect(failed(r.checks)).toEqual(['gateway-api']);
      expect(r.checks[0]!.message).toMatch(/does not serve gateway\.networking\.k8s\.io/);
      expect(r.checks[0]!.fix).toMatch(/install the Gateway API CRDs/);
    } finally {
      await bare.close();
    }
    w.kube.edit(routeRef(w.fx), (o) => {
      (o.spec as { parentRefs: unknown[] }).parentRefs = [
        { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'ingress' },
      ];
    });
    const g = await w.mesh.preflight(w.plan);
    expect(failed(g.checks)).toEqual(['httproute-parent', 'vm-backend']);
    expect(g.checks.find((c) => c.id === 'httproute-parent')!.message).toMatch(
      /attached to Gateway ingress, not to Service/,
    );
    expect(g.checks.find((c) => c.id === 'vm-backend')!.message).toMatch(/selects no WorkloadEntry/);
  });
});

describe('HTTPRoute weights', () => {
  it('one guarded write per step and one to roll back; the header rule and the third backendRef stay as they were', async () => {
    const { mesh, plan, kube: k, fx } = await world({ extraHeaderRoute: true, extraBackend: true });
    const before = structuredClone(rules(k, fx));
    let expected = 0;
    for (const w of [1, 5, 10]) {
      expect(await mesh.setWeight(plan, w, { expected, force: false })).toMatchObject({
        wrote: true,
        attempts: 1,
      });
      expected = w;
    }
    expect(pair(k, fx)).toEqual([90, 10]);
    await mesh.setWeight(plan, 0, { expected: 10, force: true });
    expect(pair(k, fx)).toEqual([100, 0]);
    const patches = k.requests.filter((q) => q.method === 'PATCH');
    expect(patches).toHaveLength(4);
    const after = rules(k, fx);
    after[1]!.backendRefs[0]!.weight = before[1]!.backendRefs[0]!.weight;
    after[1]!.backendRefs[1]!.weight = before[1]!.backendRefs[1]!.weight;
    expect(JSON.stringify(after)).toBe(JSON.stringify(before));
    // Re-applying a weight that is there writes nothing (a retried step after a restart).
    expect(await mesh.setWeight(plan, 0, { expected: 0, force: false })).toMatchObject({ wrote: false });
  });

  it('drift is reported, not overwritten; a concurrent edit fails the test ops (422) and the write is retried', async () => {
    const { mesh, plan, kube: k, fx } = await world();
    await mesh.setWeight(plan, 10, { expected: 0, force: false });
    k.edit(routeRef(fx), (o) => {
      const refs = (o.spec as { rules: Rule[] }).rules[0]!.backendRefs;
      refs[0]!.weight = 3;
      refs[1]!.weight = 2;
    });
    // Relative weights 3:2 are 40 % to the target: not what meshshift wrote.
    await expect(mesh.setWeight(plan, 25, { expected: 10, force: false })).rejects.toBeInstanceOf(DriftError);
    expect(await mesh.currentWeight(plan)).toBe(40);
    expect(pair(k, fx)).toEqual([3, 2]);
    await mesh.setWeight(plan, 10, { expected: 40, force: true });
    let edits = 0;
    k.onRequest((req) => {
      if (req.method !== 'PATCH' || edits > 0) return;
      edits++;
      k.edit(routeRef(fx), (o) => {
        o.metadata.annotations = { 'edited-by': 'someone-else' };
      });
    });
    const w = await mesh.setWeight(plan, 25, { expected: 10, force: false });
    expect(w.attempts).toBe(2);
    expect(k.requests.filter((q) => q.method === 'PATCH' && q.status === 422)).toHaveLength(1);
    expect(pair(k, fx)).toEqual([75, 25]);
    expect(k.get(routeRef(fx))!.metadata.annotations).toEqual({ 'edited-by': 'someone-else' });
  });
});
