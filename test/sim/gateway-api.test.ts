/**
 * Gateway API in the simulated cluster: the HTTPRoute CRD as published (v1.6.1) validates HTTPRoutes on the test
 * API server, the GAMMA conformance samples apply untouched, and the mesh simulator routes by an HTTPRoute's
 * weights, reporting L7 metrics as a waypoint in ambient.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import * as k8s from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { migrationPlanCrd } from '../../src/controller/crd-schema.js';
import { gatewayApiCrds, gatewayApiSample } from '../../src/sim/gateway-api.js';
import { seedMigrationScenario } from '../../src/sim/istio-fixtures.js';
import { startKubeApiServer, type KubeApiServer, type KubeObject } from '../../src/sim/kube/index.js';
import { startMeshSim, subsetScenarioBackends, type MeshSim } from '../../src/sim/mesh/index.js';

const GW = { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes' };
let server: KubeApiServer | undefined;
let sim: MeshSim | undefined;
afterEach(async () => {
  await sim?.close();
  await server?.close();
  sim = server = undefined;
});

async function start(): Promise<KubeApiServer> {
  server = await startKubeApiServer({ crds: [migrationPlanCrd() as KubeObject, ...gatewayApiCrds()] });
  // The namespace of the conformance samples.
  server.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'gateway-conformance-mesh' } });
  return server;
}
const codeOf = async (p: Promise<unknown>) =>
  p.then(
    () => 200,
    (e: { code?: number }) => e.code,
  );

describe('HTTPRoute on the Kubernetes API test server (published CRD schema)', () => {
  it('the GAMMA conformance samples apply untouched and come back with the schema defaults', async () => {
    const kube = await start();
    const api = kube.kubeConfig().makeApiClient(k8s.CustomObjectsApi);
    for (const name of ['httproute-weight', 'httproute-matching', 'mesh-split']) {
      const body = gatewayApiSample(name);
      const namespace = body.metadata.namespace!;
      await api.createNamespacedCustomObject({ ...GW, namespace, body });
      const got = kube.get({ group: GW.group, plural: GW.plural, namespace, name: body.metadata.name })!;
      const refs = (got.spec as { rules: Array<{ backendRefs: Array<Record<string, unknown>> }> }).rules[0]!
        .backendRefs;
      // Defaults of the published schema: a backendRef is a core Service unless it says otherwise.
      expect(refs[0]).toMatchObject({ group: '', kind: 'Service' });
    }
    const weighted = kube.get({
      group: GW.group,
      plural: GW.plural,
      namespace: 'gateway-conformance-mesh',
      name: 'mesh-weighted-backends',
    })!;
    expect(
      (
        weighted.spec as { rules: Array<{ backendRefs: Array<{ weight: number }> }> }
      ).rules[0]!.backendRefs.map((b) => b.weight),
    ).toEqual([70, 30]);
  });

  it('refuses what the schema refuses: a negative weight (422), an unknown field (400, strict)', async () => {
    const kube = await start();
    const api = kube.kubeConfig().makeApiClient(k8s.CustomObjectsApi);
    const body = gatewayApiSample('httproute-weight') as KubeObject & {
      spec: { rules: Array<{ backendRefs: Array<{ weight: number }> }> };
    };
    body.spec.rules[0]!.backendRefs[0]!.weight = -1;
    const namespace = body.metadata.namespace!;
    const bad = await api
      .createNamespacedCustomObject({ ...GW, namespace, body })
      .catch((e: { code: number; body: string }) => e);
    expect((bad as { code: number }).code).toBe(422);
    expect((bad as { body: string }).body).toMatch(/spec\.rules\[0\]\.backendRefs\[0\]\.weight/);
    const unknown = gatewayApiSample('httproute-weight') as KubeObject & { spec: Record<string, unknown> };
    unknown.spec.weights = { vm: 100 };
    expect(
      await codeOf(
        api.createNamespacedCustomObject({ ...GW, namespace, body: unknown, fieldValidation: 'Strict' }),
      ),
    ).toBe(400);
  });
});

describe('the scenario fixture', () => {
  it('is stored as the API server stores it: a replace through the schema changes nothing in spec', async () => {
    const kube = await start();
    const f = seedMigrationScenario(kube, {
      routeKind: 'HTTPRoute',
      extraHeaderRoute: true,
      extraBackend: true,
    });
    const ref = { group: GW.group, plural: GW.plural, namespace: f.namespace, name: f.virtualService };
    const seeded = kube.get(ref)!;
    const api = kube.kubeConfig().makeApiClient(k8s.CustomObjectsApi);
    await api.replaceNamespacedCustomObject({
      ...GW,
      namespace: f.namespace,
      name: f.virtualService,
      body: seeded,
      fieldValidation: 'Strict',
    });
    expect(kube.get(ref)!.spec).toEqual(seeded.spec);
  });
});

describe('the mesh simulator on an HTTPRoute', () => {
  it('routes by the backendRef weights, skips a header-match rule, and reports as a waypoint in ambient', async () => {
    const kube = await start();
    const f = seedMigrationScenario(kube, {
      routeKind: 'HTTPRoute',
      dataPlane: 'ambient',
      extraHeaderRoute: true,
      extraBackend: true,
    });
    sim = await startMeshSim({
      backends: subsetScenarioBackends({
        namespace: f.namespace,
        service: f.service,
        mode: 'hosts',
        routeKind: 'HTTPRoute',
      }),
      rps: 400,
      routing: {
        kubeConfig: kube.kubeConfig(),
        namespace: f.namespace,
        name: f.virtualService,
        kind: 'HTTPRoute',
      },
      dataPlane: 'ambient',
    });
    expect(sim.currentWeights()).toEqual({ vm: 100, k8s: 0 });
    const api = kube.kubeConfig().makeApiClient(k8s.CustomObjectsApi);
    const patch = [
      { op: 'replace', path: '/spec/rules/1/backendRefs/0/weight', value: 3 },
      { op: 'replace', path: '/spec/rules/1/backendRefs/1/weight', value: 1 },
    ];
    await api.patchNamespacedCustomObject(
      { ...GW, namespace: f.namespace, name: f.virtualService, body: patch },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
    );
    // Relative weights: 3:1 is 75/25; the third backendRef (weight 0) gets nothing.
    await sim.waitForWeights((w) => w.k8s === 25, 5000);
    await sleep(600);
    expect(sim.stats().k8s!.requests).toBeGreaterThan(20);
    expect(sim.unrouted()).toBe(0);
    const text = await (await fetch(sim.metricsUrl)).text();
    expect(text).toMatch(
      /istio_requests_total\{reporter="waypoint",[^}]*destination_service="productcatalogservice-vm\.shop\.svc\.cluster\.local"/,
    );
    expect(text).toMatch(
      /reporter="waypoint",[^}]*destination_service="productcatalogservice-k8s\.shop\.svc\.cluster\.local"/,
    );
    // ztunnel reports L4 only: no source or destination sidecar series in ambient.
    expect(text).not.toMatch(/reporter="(source|destination)"/);
  });
});
