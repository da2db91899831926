/** The Istio adapter against the strict Kubernetes API test server, through the real @kubernetes/client-node. */
import { afterEach, describe, expect, it } from 'vitest';
import { IstioMeshAdapter } from '../../src/mesh/istio.js';
import { DriftError } from '../../src/mesh/errors.js';
import { parsePlan } from '../../src/plan/load.js';
import {
  KubeStatusError,
  startKubeApiServer,
  type KubeApiServer,
  type KubeObject,
} from '../../src/sim/kube/index.js';
import { seedMigrationScenario } from '../../src/sim/istio-fixtures.js';
import type { ScenarioFixture, SeedOptions } from '../../src/sim/scenario-fixture.js';
import { planYamlFor } from '../../src/sim/scenario.js';

let kube: KubeApiServer | undefined;
afterEach(async () => {
  await kube?.close();
  kube = undefined;
});

async function world(
  seed: SeedOptions = {},
  serverOpts: Parameters<typeof startKubeApiServer>[0] = {},
  extra = '',
) {
  kube = await startKubeApiServer(serverOpts);
  const fx = seedMigrationScenario(kube, seed);
  const plan = parsePlan(planYamlFor(fx, 'default', extra), 'plan.yaml');
  return { kube, fx, plan, mesh: new IstioMeshAdapter(kube.kubeConfig()) };
}
const vsRef = (fx: ScenarioFixture) => ({
  group: 'networking.istio.io',
  plural: 'virtualservices',
  namespace: fx.namespace,
  name: fx.virtualService,
});
const routeWeights = (k: KubeApiServer, fx: ScenarioFixture, i = 0) =>
  (k.get(vsRef(fx))!.spec as { http: Array<{ route: Array<{ weight?: number }> }> }).http[i]!.route.map(
    (d) => d.weight,
  );
const failed = (checks: Array<{ id: string; ok: boolean }>) => checks.filter((c) => !c.ok).map((c) => c.id);

describe('preflight', () => {
  it('passes on a well-formed VM + container setup and derives the metric selectors', async () => {
    const { mesh, plan, fx } = await world();
    const r = await mesh.preflight(plan);
    expect(failed(r.checks)).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.istioVersion).toBe('v1');
    expect(r.selectors).toEqual({
      source: { destination_service: fx.host, destination_version: 'vm' },
      target: { destination_service: fx.host, destination_version: 'k8s' },
    });
  });

  it('refuses a MESH_EXTERNAL ServiceEntry and explains why', async () => {
    const { mesh, plan } = await world({ meshExternal: true });
    const r = await mesh.preflight(plan);
    expect(failed(r.checks)).toEqual(['serviceentry']);
    expect(r.checks.find((c) => c.id === 'serviceentry')!.message).toMatch(
      /MESH_EXTERNAL.*only client-side metrics/,
    );
  });

  it('reports every problem at once: no WorkloadEntries, Deployment not ready, missing subset', async () => {
    const { mesh, plan, kube: k, fx } = await world({ withWorkloadEntries: false, deploymentReady: false });
    k.edit(
      {
        group: 'networking.istio.io',
        plural: 'destinationrules',
        namespace: fx.namespace,
        name: fx.destinationRule,
      },
      (dr) => {
        (dr.spec as { subsets: unknown[] }).subsets = [{ name: 'vm', labels: { version: 'vm' } }];
      },
    );
    const r = await mesh.preflight(plan);
    expect(failed(r.checks).sort()).toEqual(['deployment', 'destinationrule', 'vm-endpoints']);
    expect(r.checks.find((c) => c.id === 'destinationrule')!.message).toMatch(/lacks subset k8s/);
    expect(r.checks.find((c) => c.id === 'deployment')!.message).toMatch(/0\/2 available/);
  });

  it('catches a target subset that selects no pod of the Deployment', async () => {
    const { mesh, plan, kube: k, fx } = await world();
    k.edit(
      {
        group: 'networking.istio.io',
        plural: 'destinationrules',
        namespace: fx.namespace,
        name: fx.destinationRule,
      },
      (dr) => {
        (dr.spec as { subsets: Array<{ name: string; labels: Record<string, string> }> }).subsets[1]!.labels =
          { version: 'v2' };
      },
    );
    const r = await mesh.preflight(plan);
    expect(failed(r.checks)).toContain('target-subset-pods');
  });

  it('uses the version a cluster serves (v1alpha3 only) and says so when the plan asks for another', async () => {
    const a = await world({ istioVersion: 'v1alpha3' }, { istioVersions: ['v1alpha3'] });
    expect((await a.mesh.preflight(a.plan)).istioVersion).toBe('v1alpha3');
    await a.kube.close();
    const b = await world({ istioVersion: 'v1alpha3' }, { istioVersions: ['v1alpha3'] }, 'apiVersion: v1');
    const r = await b.mesh.preflight(b.plan);
    expect(r.ok).toBe(false);
    expect(r.checks[0]!.message).toMatch(/serves networking\.istio\.io v1alpha3, not v1/);
  });

  it('a VirtualService with two routes to the source needs the route named', async () => {
    const { mesh, plan, kube: k, fx } = await world();
    k.edit(vsRef(fx), (vs) => {
      const http = (vs.spec as { http: Array<Record<string, unknown>> }).http;
      http.unshift({ ...structuredClone(http[0]!), name: 'other', match: [{ uri: { prefix: '/admin' } }] });
    });
    const r = await mesh.preflight(plan);
    expect(r.checks.find((c) => c.id === 'virtualservice')).toMatchObject({
      ok: false,
      fix: expect.stringMatching(/spec\.virtualService\.route/),
    });
  });
});

describe('weight writes', () => {
  it('changes exactly two weights with a guarded JSON patch', async () => {
    const { mesh, plan, kube: k, fx } = await world({ extraHeaderRoute: true });
    const before = k.get(vsRef(fx))!;
    const w = await mesh.setWeight(plan, 25, { expected: 0, force: false });
    expect(w).toMatchObject({ weight: 25, wrote: true, attempts: 1 });
    const after = k.get(vsRef(fx))!;
    expect(routeWeights(k, fx, 1)).toEqual([75, 25]);
    const strip = (o: KubeObject) => {
      const c = structuredClone(o) as KubeObject & {
        spec: { http: Array<{ route: Array<{ weight?: number }> }> };
      };
      for (const d of c.spec.http[1]!.route) delete d.weight;
      delete c.metadata.resourceVersion;
      delete c.metadata.generation;
      delete c.metadata.managedFields; // the writer now owns the weights it changed
      return c;
    };
    expect(strip(after)).toEqual(strip(before));
    // Idempotent: the same weight again writes nothing.
    expect(await mesh.setWeight(plan, 25, { expected: 25, force: false })).toMatchObject({ wrote: false });
  });

  it('drift: a weight someone else wrote is reported, not overwritten; force overwrites', async () => {
    const { mesh, plan, kube: k, fx } = await world();
    await mesh.setWeight(plan, 10, { expected: 0, force: false });
    k.edit(vsRef(fx), (vs) => {
      const r = (vs.spec as { http: Array<{ route: Array<{ weight: number }> }> }).http[0]!.route;
      r[0]!.weight = 60;
      r[1]!.weight = 40;
    });
    await expect(mesh.setWeight(plan, 25, { expected: 10, force: false })).rejects.toBeInstanceOf(DriftError);
    expect(routeWeights(k, fx)).toEqual([60, 40]);
    await mesh.setWeight(plan, 0, { expected: 10, force: true });
    expect(routeWeights(k, fx)).toEqual([100, 0]);
  });

  it('retries through 409 Conflict answers and loses no write', async () => {
    const { mesh, plan, kube: k, fx } = await world();
    let conflicts = 0;
    k.onRequest((req) => {
      if (req.method === 'PATCH' && conflicts < 2) {
        conflicts++;
        throw new KubeStatusError(
          409,
          'Conflict',
          `Operation cannot be fulfilled on virtualservices.networking.istio.io "${fx.virtualService}": the object has been modified; please apply your changes to the latest version and try again`,
        );
      }
    });
    const w = await mesh.setWeight(plan, 5, { expected: 0, force: false });
    expect(w.attempts).toBe(3);
    expect(routeWeights(k, fx)).toEqual([95, 5]);
  });

  it('adds the target destination to a route that only lists the VMs (make-before-break, one patch)', async () => {
    const { mesh, plan, kube: k, fx } = await world();
    k.edit(vsRef(fx), (vs) => {
      const r = (vs.spec as { http: Array<{ route: Array<{ weight?: number }> }> }).http[0]!;
      r.route = [{ ...r.route[0]!, weight: undefined }];
      delete r.route[0]!.weight;
    });
    expect(await mesh.currentWeight(plan)).toBe(0);
    await mesh.setWeight(plan, 1, { expected: 0, force: false });
    const route = (
      k.get(vsRef(fx))!.spec as {
        http: Array<{ route: Array<{ destination: { subset: string; port: unknown }; weight: number }> }>;
      }
    ).http[0]!.route;
    expect(route.map((d) => [d.destination.subset, d.weight])).toEqual([
      ['vm', 99],
      ['k8s', 1],
    ]);
    expect(route[1]!.destination.port).toEqual(route[0]!.destination.port);
  });

  it('a 404 VirtualService is a clear error', async () => {
    const { mesh, plan, kube: k, fx } = await world();
    k.remove(vsRef(fx));
    await expect(mesh.setWeight(plan, 5, { expected: 0, force: false })).rejects.toThrow(
      /virtualservices\.networking\.istio\.io "productcatalogservice" not found/,
    );
  });
});
