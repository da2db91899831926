/**
 * deploy/examples/productcatalogservice: the MigrationPlan validates (loader and `meshshift validate`), and the
 * example's own YAML objects, seeded into the Kubernetes API test server, carry a real migration end to end —
 * mesh simulator routing by the VirtualService, real Prometheus, real IstioMeshAdapter + runner — followed by
 * the "policy second" step (mTLS preflight on the real metrics, then PERMISSIVE → STRICT).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { PrometheusProvider } from '../../src/gate/prometheus.js';
import { IstioMeshAdapter } from '../../src/mesh/istio.js';
import { PeerAuthenticationAdapter } from '../../src/mesh/peer-authentication.js';
import { loadPlanFile, parsePlan } from '../../src/plan/load.js';
import type { EngineEvent } from '../../src/engine/history.js';
import { MigrationRunner } from '../../src/runner/runner.js';
import { startKubeApiServer, type KubeApiServer, type KubeObject } from '../../src/sim/kube/index.js';
import { startMeshSim, subsetScenarioBackends, type MeshSim } from '../../src/sim/mesh/index.js';
import { registerScrapeTarget } from '../../src/sim/prometheus.js';
import { targetWeightsFromRequests } from '../../src/sim/scenario.js';
import { renderKustomization } from './kustomize.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const EXAMPLE = path.join(ROOT, 'deploy/examples/productcatalogservice');
const PLAN = path.join(EXAMPLE, 'migrationplan.yaml');
const SERVICE = 'productcatalogservice';

describe('example MigrationPlan', () => {
  it('validates with the plan loader', () => {
    const plan = loadPlanFile(PLAN);
    expect(plan).toMatchObject({
      name: 'productcatalogservice-to-k8s',
      namespace: 'shop',
      mode: 'subsets',
      policyName: 'default',
      route: { kind: 'VirtualService', name: SERVICE, rule: 'primary' },
      source: { destination: { host: `${SERVICE}.shop.svc.cluster.local`, subset: 'vm' } },
      target: { destination: { subset: 'k8s' }, deployment: SERVICE },
      mtls: { peerAuthentication: SERVICE, tightenAfterCompletion: true },
    });
  });

  it('names objects that exist in the example', () => {
    const plan = loadPlanFile(PLAN);
    const objs = renderKustomization(path.join(EXAMPLE, 'cluster'));
    const has = (kind: string, name: string) =>
      objs.some(
        (o) => o.kind === kind && o.metadata.name === name && o.metadata.namespace === plan.namespace,
      );
    expect(has(plan.route.kind, plan.route.name)).toBe(true);
    expect(has('ServiceEntry', plan.source.serviceEntry!)).toBe(true);
    expect(has('Deployment', plan.target.deployment)).toBe(true);
    expect(has('PeerAuthentication', plan.mtls!.peerAuthentication)).toBe(true);
  });

  it('passes `meshshift validate` (CLI from source)', () => {
    const code =
      "const { main } = await import('./src/cli/main.ts'); process.exitCode = await main(['node', 'meshshift', 'validate', process.argv[1]]);";
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code, PLAN], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(
      /✓ .*migrationplan\.yaml: MigrationPlan productcatalogservice-to-k8s — subsets vm → k8s/,
    );
  });

  // The built CLI (npm test builds dist/ first; a stale build knows an older schema, so it fails, never skips).
  it('passes `node bin/meshshift.js validate` (the built CLI)', () => {
    const built = path.join(ROOT, 'dist/src/plan/schema.js');
    const fresh =
      existsSync(built) && statSync(built).mtimeMs >= statSync(path.join(ROOT, 'src/plan/schema.ts')).mtimeMs;
    expect(
      fresh,
      'dist/ is missing or older than src/plan/schema.ts: run npm run build (npm test does)',
    ).toBe(true);
    const r = spawnSync(process.execPath, ['bin/meshshift.js', 'validate', PLAN], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
  });
});

/** The example objects, moved into namespace `ns` (hosts included) so that runs can share one Prometheus. */
function exampleObjects(ns: string): KubeObject[] {
  const json = JSON.stringify(renderKustomization(path.join(EXAMPLE, 'cluster'))).replaceAll(
    '.shop.svc.cluster.local',
    `.${ns}.svc.cluster.local`,
  );
  return (JSON.parse(json) as KubeObject[]).map((o) => {
    if (o.kind === 'Namespace') return { ...o, metadata: { ...o.metadata, name: ns } };
    if (o.metadata.namespace === 'shop') return { ...o, metadata: { ...o.metadata, namespace: ns } };
    return o;
  });
}

function examplePlanYaml(ns: string): string {
  const doc = parse(readFileSync(PLAN, 'utf8')) as { spec: { namespace: string; host: string } };
  doc.spec.namespace = ns;
  doc.spec.host = doc.spec.host.replace('.shop.svc.cluster.local', `.${ns}.svc.cluster.local`);
  return stringify(doc);
}

describe('example end to end (real Prometheus, mesh simulator)', () => {
  let kube: KubeApiServer | undefined;
  let sim: MeshSim | undefined;
  let unregister: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await unregister?.().catch(() => undefined);
    await sim?.close();
    await kube?.close();
  });

  it('the example migrates to 100 % k8s, then tightens mTLS to STRICT', async () => {
    const ns = `e2e-deploy-${randomBytes(3).toString('hex')}`;
    const host = `${SERVICE}.${ns}.svc.cluster.local`;
    kube = await startKubeApiServer();

    // Seed exactly the example's objects (every kind of it is served, RBAC and ServiceAccounts included).
    const objects = exampleObjects(ns);
    for (const o of [...objects].sort(
      (a, b) => Number(b.kind === 'Namespace') - Number(a.kind === 'Namespace'),
    )) {
      kube.put(o);
    }
    // What the Deployment controller would report once the pods are up.
    kube.edit({ group: 'apps', plural: 'deployments', namespace: ns, name: SERVICE }, (d) => {
      d.status = {
        observedGeneration: d.metadata.generation ?? 1,
        replicas: 2,
        updatedReplicas: 2,
        readyReplicas: 2,
        availableReplicas: 2,
      };
    });

    const backends = subsetScenarioBackends({ namespace: ns, service: SERVICE, mode: 'subsets' });
    sim = await startMeshSim({
      backends,
      rps: 600,
      seed: 7,
      routing: { kubeConfig: kube.kubeConfig(), namespace: ns, name: SERVICE, version: 'v1' },
    });
    unregister = await registerScrapeTarget(inject('prometheusSdDir'), ns, sim.metricsTarget);
    const prometheus = new PrometheusProvider({ url: inject('prometheusUrl'), timeoutMs: 2000 });

    const plan = parsePlan(examplePlanYaml(ns), `${ns}/migrationplan.yaml`);
    const deadline = Date.now() + 20_000;
    while (
      (await prometheus
        .recentRequests({ destination_service: host, destination_version: 'vm' }, 'destination', 10_000)
        .catch(() => 0)) === 0
    ) {
      if (Date.now() > deadline) throw new Error('no VM traffic visible in Prometheus');
      await new Promise((r) => setTimeout(r, 250));
    }

    // Policy second is part of the run: the plan asks for it, the engine checks the metrics show the sidecars'
    // mutual TLS, then moves the PeerAuthentication to STRICT before reporting completion.
    expect(plan.mtls).toEqual({ peerAuthentication: SERVICE, tightenAfterCompletion: true });
    const mtls = new PeerAuthenticationAdapter(kube.kubeConfig(), {
      query: (q) => prometheus.query(q),
      windowMs: 30_000,
    });
    const events: EngineEvent[] = [];
    const runner = new MigrationRunner({
      plan,
      mesh: new IstioMeshAdapter(kube.kubeConfig()),
      metrics: prometheus,
      mtls,
      timeScale: 0.05,
      onEvent: (e) => events.push(e),
    });
    await runner.start();
    const result = await runner.done;
    runner.stop();
    const preflight = events.find((e) => e.type === 'preflight');
    expect(preflight, 'preflight event').toBeDefined();
    expect(result.phase, `${result.reason ?? ''} ${JSON.stringify(preflight)}`).toBe('completed');
    expect(targetWeightsFromRequests(kube, SERVICE)).toEqual([1, 5, 10, 25, 50, 100]);
    await sim.waitForWeights((w) => w.k8s === 100, 5000);
    expect(events.filter((e) => e.type === 'mtls')).toEqual([
      expect.objectContaining({
        ok: true,
        changed: true,
        message: expect.stringMatching(/PERMISSIVE → STRICT \(100\.00 % of \d+ requests/),
      }),
    ]);
    expect(result.context.mtls).toMatch(/PERMISSIVE → STRICT/);
    expect(await mtls.tightenMtls(plan)).toMatchObject({ changed: false }); // idempotent
    const pa = kube.get({
      group: 'security.istio.io',
      plural: 'peerauthentications',
      namespace: ns,
      name: SERVICE,
    });
    expect(pa?.spec).toEqual({ selector: { matchLabels: { app: SERVICE } }, mtls: { mode: 'STRICT' } });
  });
});
