/**
 * One migration scenario wired end to end: the Kubernetes API test server seeded with the VM/Istio objects,
 * the mesh simulator routing real loopback HTTP by the VirtualService it watches, metrics from a real Prometheus
 * (or the simulator's counters), and the real IstioMeshAdapter + runner. Used by e2e tests, the demo and bench.
 */
import { randomBytes } from 'node:crypto';
import { migrationPlanCrd } from '../controller/crd-schema.js';
import type { MetricsProvider } from '../gate/input/provider.js';
import { PrometheusProvider } from '../gate/prometheus.js';
import { IstioMeshAdapter } from '../mesh/istio.js';
import { parsePlan, type ResolvedPlan } from '../plan/load.js';
import type { EngineEvent } from '../engine/history.js';
import { MigrationRunner, type RunResult } from '../runner/runner.js';
import type { Logger } from '../log/logger.js';
import { seedMigrationScenario } from './istio-fixtures.js';
import type { ScenarioFixture, SeedOptions } from './scenario-fixture.js';
import {
  startKubeApiServer,
  type KubeApiServer,
  type KubeApiServerOptions,
  type KubeObject,
} from './kube/index.js';
import {
  startMeshSim,
  subsetScenarioBackends,
  type BackendBehavior,
  type BackendSpec,
  type MeshSim,
} from './mesh/index.js';
import { registerScrapeTarget } from './prometheus.js';
import { SimulatorMetricsProvider } from './sim-metrics.js';
import { gatewayApiCrds } from './gateway-api.js';

export interface ScenarioOptions {
  mode?: 'subsets' | 'hosts';
  /** The route meshshift shifts: a VirtualService (default) or a Gateway API HTTPRoute (GAMMA). */
  routeKind?: 'VirtualService' | 'HTTPRoute';
  /** sidecar (default) or ambient (metrics from the waypoint). */
  dataPlane?: 'sidecar' | 'ambient';
  /** Unique per scenario so that several scenarios can share one Prometheus. Default: random. */
  namespace?: string;
  seed?: SeedOptions;
  rps?: number;
  simSeed?: number;
  vm?: Partial<BackendBehavior>;
  k8s?: Partial<BackendBehavior>;
  /** A policy name from policies/ or an inline policy spec as YAML (indented freely). */
  policy?: string;
  /** Extra lines of the plan's route block (e.g. `route: primary` under virtualService, `rule: primary` under route). */
  planSpecExtra?: string;
  /** Real Prometheus (shared, file-sd) or the simulator's counters. */
  metrics: { prometheusUrl: string; sdDir: string } | 'simulator';
  slowThresholdMs?: number;
  /** Options for the Kubernetes API test server (e.g. `crds: []` to start without meshshift's CRD). */
  kube?: KubeApiServerOptions;
}

export interface RunOptions {
  timeScale?: number;
  onEvent?: (e: EngineEvent, runner: MigrationRunner) => void;
  logger?: Logger;
  id?: string;
}

export interface Scenario {
  kube: KubeApiServer;
  fixture: ScenarioFixture;
  sim: MeshSim;
  backends: BackendSpec[];
  plan: ResolvedPlan;
  planYaml: string;
  metrics: MetricsProvider;
  mesh: IstioMeshAdapter;
  /** Waits until the metrics source reports traffic to the VMs (observability first). */
  waitForTraffic(timeoutMs?: number): Promise<void>;
  /** Target weights written to the route (VirtualService or HTTPRoute), in the order the API server applied them. */
  weightWrites(): number[];
  run(opts?: RunOptions): Promise<{ result: RunResult; events: EngineEvent[]; runner: MigrationRunner }>;
  close(): Promise<void>;
}

function routeYaml(fixture: ScenarioFixture, extra: string): string {
  const lines = extra.replace(/^/gm, '    ').trimEnd() ? `${extra.replace(/^/gm, '    ')}\n` : '';
  // A fixture without a routeKind (built by hand in a test) is the VirtualService layout.
  if (fixture.routeKind !== 'HTTPRoute')
    return `  virtualService:\n    name: ${fixture.virtualService}\n${lines}`;
  const dataPlane = fixture.dataPlane === 'ambient' ? '  dataPlane: ambient\n' : '';
  return `  route:\n    kind: HTTPRoute\n    name: ${fixture.virtualService}\n${lines}${dataPlane}`;
}

function sidesYaml(fixture: ScenarioFixture): string {
  if (fixture.routeKind === 'HTTPRoute')
    return `  source:\n    host: ${fixture.sourceHost}\n  target:\n    host: ${fixture.targetHost}\n    deployment: ${fixture.deployment}\n`;
  return fixture.mode === 'subsets'
    ? `  source:\n    subset: ${fixture.sourceSubset}\n    serviceEntry: ${fixture.serviceEntry}\n  target:\n    subset: ${fixture.targetSubset}\n    deployment: ${fixture.deployment}\n`
    : `  source:\n    serviceEntry: ${fixture.serviceEntry}\n  target:\n    host: ${fixture.targetHost}\n    deployment: ${fixture.deployment}\n`;
}

export function planYamlFor(fixture: ScenarioFixture, policy: string, extra = ''): string {
  const policyYaml = /^[a-z0-9-]+$/.test(policy.trim())
    ? ` ${policy.trim()}`
    : `\n${policy.replace(/^\s*\n/, '').replace(/^/gm, '    ')}`;
  return `apiVersion: meshshift.io/v1alpha1
kind: MigrationPlan
metadata:
  name: ${fixture.service}-to-k8s
spec:
  namespace: ${fixture.namespace}
  host: ${fixture.host}
${routeYaml(fixture, extra)}${sidesYaml(fixture)}  policy:${policyYaml}
`;
}

/** Target weight of each successful route PATCH, read from the JSON-patch bodies the server applied. */
export function targetWeightsFromRequests(
  kube: KubeApiServer,
  vsName: string,
  plural: 'virtualservices' | 'httproutes' = 'virtualservices',
): number[] {
  const out: number[] = [];
  for (const r of kube.requests) {
    if (r.method !== 'PATCH' || r.status >= 300 || !r.path.endsWith(`/${plural}/${vsName}`)) continue;
    const ops = Array.isArray(r.body) ? (r.body as Array<{ op: string; path: string; value: unknown }>) : [];
    const last = ops.filter((o) => o.op !== 'test').at(-1);
    if (!last) continue;
    if (typeof last.value === 'number') out.push(last.value);
    else if (last.value && typeof last.value === 'object' && 'weight' in last.value)
      out.push((last.value as { weight: number }).weight);
  }
  return out;
}

export async function startScenario(opts: ScenarioOptions): Promise<Scenario> {
  const namespace = opts.namespace ?? `e2e-${randomBytes(3).toString('hex')}`;
  const mode = opts.routeKind === 'HTTPRoute' ? 'hosts' : (opts.mode ?? 'subsets');
  const routeKind = opts.routeKind ?? 'VirtualService';
  const kube = await startKubeApiServer(
    routeKind === 'HTTPRoute'
      ? {
          ...opts.kube,
          crds: [...(opts.kube?.crds ?? [migrationPlanCrd() as KubeObject]), ...gatewayApiCrds()],
        }
      : opts.kube,
  );
  const cleanups: Array<() => Promise<void>> = [() => kube.close()];
  try {
    const fixture = seedMigrationScenario(kube, {
      namespace,
      mode,
      routeKind,
      ...(opts.dataPlane ? { dataPlane: opts.dataPlane } : {}),
      ...opts.seed,
    });
    const { sim, backends } = await startMesh(opts, kube, fixture, { namespace, mode, routeKind });
    cleanups.unshift(() => sim.close());
    const metrics = await metricsFor(opts, sim, backends, namespace, cleanups);
    const planYaml = planYamlFor(fixture, opts.policy ?? 'default', opts.planSpecExtra);
    const plan = parsePlan(planYaml, `${namespace}-plan.yaml`);
    const mesh = new IstioMeshAdapter(kube.kubeConfig());
    return {
      kube,
      fixture,
      sim,
      backends,
      plan,
      planYaml,
      metrics,
      mesh,
      waitForTraffic: (timeoutMs = 20_000) => waitForTraffic(metrics, fixture, mode, plan, timeoutMs),
      weightWrites: () =>
        targetWeightsFromRequests(
          kube,
          fixture.virtualService,
          routeKind === 'HTTPRoute' ? 'httproutes' : 'virtualservices',
        ),
      run: (runOpts: RunOptions = {}) => runPlan(plan, mesh, metrics, runOpts),
      async close() {
        for (const c of cleanups) await c().catch(() => undefined);
      },
    };
  } catch (err) {
    for (const c of cleanups) await c().catch(() => undefined);
    throw err;
  }
}

/** The backends of both sides and the mesh simulator routing between them by the route it watches. */
async function startMesh(
  opts: ScenarioOptions,
  kube: KubeApiServer,
  fixture: ScenarioFixture,
  // The scenario's own, as the fixture's may differ when `opts.seed` overrides them.
  { namespace, mode, routeKind }: Pick<ScenarioFixture, 'namespace' | 'mode' | 'routeKind'>,
): Promise<{ sim: MeshSim; backends: BackendSpec[] }> {
  const backends = subsetScenarioBackends({
    namespace,
    service: fixture.service,
    mode,
    routeKind,
    ...(opts.vm ? { vm: opts.vm } : {}),
    ...(opts.k8s ? { k8s: opts.k8s } : {}),
  });
  const sim = await startMeshSim({
    backends,
    rps: opts.rps ?? 600,
    seed: opts.simSeed ?? 42,
    routing: {
      kubeConfig: kube.kubeConfig(),
      namespace,
      name: fixture.virtualService,
      kind: routeKind,
      version: routeKind === 'HTTPRoute' ? 'v1' : (opts.seed?.istioVersion ?? 'v1'),
    },
    dataPlane: fixture.dataPlane,
    ...(opts.slowThresholdMs ? { slowThresholdMs: opts.slowThresholdMs } : {}),
  });
  return { sim, backends };
}

/** The simulator's counters, or the shared Prometheus scraping the simulator (a file-sd target per scenario). */
async function metricsFor(
  opts: ScenarioOptions,
  sim: MeshSim,
  backends: BackendSpec[],
  namespace: string,
  cleanups: Array<() => Promise<void>>,
): Promise<MetricsProvider> {
  if (opts.metrics === 'simulator') {
    const p = new SimulatorMetricsProvider(sim, backends);
    cleanups.unshift(async () => p.close());
    return p;
  }
  const unregister = await registerScrapeTarget(opts.metrics.sdDir, namespace, sim.metricsTarget);
  cleanups.unshift(unregister);
  return new PrometheusProvider({ url: opts.metrics.prometheusUrl, timeoutMs: 2000 });
}

/** Waits until `metrics` reports requests to the VMs (observability first). */
async function waitForTraffic(
  metrics: MetricsProvider,
  fixture: ScenarioFixture,
  mode: 'subsets' | 'hosts',
  plan: ResolvedPlan,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const selector = {
    destination_service: fixture.sourceHost,
    ...(mode === 'subsets' ? { destination_version: 'vm' } : {}),
  };
  const reporter = plan.policy.analysis.reporter;
  for (;;) {
    const n = await metrics.recentRequests(selector, reporter, 10_000).catch(() => 0);
    if (n > 0) return;
    if (Date.now() > deadline)
      throw new Error(`no traffic for ${fixture.host} visible in metrics after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** `meshshift run`'s driver on the scenario's plan, to the end; every engine event is collected. */
async function runPlan(
  plan: ResolvedPlan,
  mesh: IstioMeshAdapter,
  metrics: MetricsProvider,
  runOpts: RunOptions,
): Promise<{ result: RunResult; events: EngineEvent[]; runner: MigrationRunner }> {
  const events: EngineEvent[] = [];
  const runner: MigrationRunner = new MigrationRunner({
    plan,
    mesh,
    metrics,
    timeScale: runOpts.timeScale ?? 0.05,
    ...(runOpts.logger ? { logger: runOpts.logger } : {}),
    ...(runOpts.id ? { id: runOpts.id } : {}),
    onEvent: (e) => {
      events.push(e);
      runOpts.onEvent?.(e, runner);
    },
  });
  await runner.start();
  const result = await runner.done;
  runner.stop();
  return { result, events, runner };
}
