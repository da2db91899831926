/**
 * One closed-loop run in virtual time: the real runner and mesh adapter against the in-repo Kubernetes API
 * server, a seeded traffic model that serves the weights the engine actually wrote, samples pushed with virtual
 * timestamps into a real Prometheus, and the gate querying it at the virtual now.
 */
import { PrometheusProvider } from '../../src/gate/prometheus.js';
import { IstioMeshAdapter } from '../../src/mesh/istio.js';
import type { MeshAdapter } from '../../src/mesh/types.js';
import { parsePlan } from '../../src/plan/load.js';
import { MigrationRunner } from '../../src/runner/runner.js';
import { seedMigrationScenario } from '../../src/sim/istio-fixtures.js';
import { migrationPlanCrd } from '../../src/controller/crd-schema.js';
import { gatewayApiCrds } from '../../src/sim/gateway-api.js';
import { startKubeApiServer } from '../../src/sim/kube/server.js';
import type { KubeApiServer, KubeObject } from '../../src/sim/kube/types.js';
import { subsetScenarioBackends } from '../../src/sim/mesh/fixtures.js';
import { planYamlFor } from '../../src/sim/scenario.js';
import { HARM_HORIZON_MS, harmAfterRun, regressedAfterRun } from './harm.js';
import type { BenchProm } from './prom.js';
import { Rng, streamSeed } from './random.js';
import type { BenchRoute, PolicyRef, RunRow } from './results.js';
import { drawParams, vmBehaviour, type ScenarioDef } from './scenarios.js';
import { drawNoise } from './noise.js';
import { TrafficLoop } from './traffic-loop.js';
import { VirtualClock } from './vclock.js';
import { VirtualMetrics } from './virtual-metrics.js';
import { RunState } from './run-state.js';

export interface RunOneOptions {
  scenario: ScenarioDef;
  policy: PolicyRef;
  seed: number;
  prom: BenchProm;
  /** Virtual start time (epoch ms); concurrent runs are kept hours apart. */
  startAt: number;
  /** Give up (ABORT, outcome "timeout") after this much virtual time. */
  maxVirtualMs?: number;
  /** Called after every verdict with the provider and the virtual instant (e.g. to measure the evidence held). */
  observe?: (prom: PrometheusProvider, at: number) => void;
  /** The route moved: a VirtualService on sidecars (default) or an HTTPRoute in ambient (waypoint metrics). */
  route?: BenchRoute;
}

interface RouteLayout {
  crds: KubeObject[] | undefined;
  mode: 'subsets' | 'hosts';
  seed: { routeKind?: 'HTTPRoute'; dataPlane?: 'ambient' };
  reporter: 'destination' | 'waypoint';
}

/** The cluster a run's route needs: the Istio objects, plus the Gateway API and an ambient namespace for HTTPRoute. */
function routeLayout(route: BenchRoute | undefined): RouteLayout {
  if (route !== 'httproute-ambient')
    return { crds: undefined, mode: 'subsets', seed: {}, reporter: 'destination' };
  return {
    crds: [migrationPlanCrd() as KubeObject, ...gatewayApiCrds()],
    mode: 'hosts',
    seed: { routeKind: 'HTTPRoute', dataPlane: 'ambient' },
    reporter: 'waypoint',
  };
}

const SCRAPE_MS = 15_000;
const tick = () => new Promise<void>((r) => setImmediate(r));

/** Counts the mesh adapter's calls in flight (the driver advances time only when the engine is idle). */
function tracked(mesh: MeshAdapter, counter: { inflight: number }): MeshAdapter {
  return new Proxy(mesh, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        const r = (v as (...a: unknown[]) => unknown).apply(target, args);
        if (!(r instanceof Promise)) return r;
        counter.inflight++;
        return r.finally(() => counter.inflight--);
      };
    },
  });
}

/** The step whose weight turns the regression on (drawn from the seed alone: every policy meets the same traffic). */
function injectionWeight(scenario: ScenarioDef, steps: readonly number[], draw: number): number {
  const at = scenario.regression?.at;
  if (at === 'random') return steps[Math.floor(draw * Math.max(1, steps.length - 1))]!;
  if (typeof at === 'number') return at;
  return scenario.regression ? steps[0]! : Infinity;
}

/** One run's world: the plan, its traffic model and the adapters the runner gets. */
interface World {
  scenario: ScenarioDef;
  plan: ReturnType<typeof parsePlan>;
  traffic: TrafficLoop;
  prom: PrometheusProvider;
  metrics: VirtualMetrics;
  mesh: MeshAdapter;
  meshCalls: { inflight: number };
  clock: VirtualClock;
  injectAt: number;
  /** When the Prometheus outage starts (the scenario's, from the second weight written). */
  outage: { start: number | undefined };
}

function buildWorld(o: RunOneOptions, kube: KubeApiServer, layout: RouteLayout): World {
  const { seed } = o;
  // Ranged parameters and noise are drawn from the seed and the scenario alone: every policy meets the same
  // traffic, and each scenario its own (streamSeed), so per-scenario figures on the same seeds are independent.
  const params = drawParams(o.scenario, new Rng(streamSeed(seed, o.scenario.name, 'params')));
  const scenario: ScenarioDef = { ...o.scenario, rps: params.rps, baseErrorRate: params.baseErrorRate };
  const namespace = `d${seed}-${o.startAt.toString(36)}`.slice(0, 40);
  const fixture = seedMigrationScenario(kube, { namespace, mode: layout.mode, ...layout.seed });
  const [vm, k8s] = subsetScenarioBackends({
    namespace,
    service: fixture.service,
    mode: layout.mode,
    routeKind: fixture.routeKind,
  });
  const plan = parsePlan(planYamlFor(fixture, o.policy.policy), `${namespace}.yaml`);
  const outage = { start: undefined as number | undefined };
  const down = (t: number) =>
    outage.start !== undefined && t >= outage.start && t < outage.start + (scenario.outageMs ?? 0);
  const clock = new VirtualClock(o.startAt);
  const prom = new PrometheusProvider({ url: o.prom.url, timeoutMs: 10_000 });
  const meshCalls = { inflight: 0 };
  return {
    scenario,
    plan,
    traffic: new TrafficLoop({
      scenario,
      seed,
      vmLabels: vm!.labels,
      k8sLabels: k8s!.labels,
      vm: vmBehaviour(scenario.baseErrorRate, scenario.vmLatency),
      scrapeMs: SCRAPE_MS,
      noise: drawNoise(scenario.noise, seed, scenario.name),
      targetSlower: params.targetSlower,
      t0: o.startAt,
      scraping: (t) => !down(t),
      reporter: layout.reporter,
    }),
    prom,
    metrics: new VirtualMetrics(prom, clock, down),
    mesh: tracked(new IstioMeshAdapter(kube.kubeConfig()), meshCalls),
    meshCalls,
    clock,
    // The injection step is drawn from the seed alone, so every policy meets the same traffic.
    injectAt: injectionWeight(
      scenario,
      plan.policy.steps,
      new Rng(streamSeed(seed, scenario.name, 'inject')).next(),
    ),
    outage,
  };
}

interface Driven {
  outcome: RunRow['outcome'] | undefined;
  approvals: number;
  generatedTo: number;
}

/** Advances virtual time from one engine wake-up to the next, serving traffic at the weight it wrote. */
async function drive(o: RunOneOptions, w: World, runner: MigrationRunner, state: RunState): Promise<Driven> {
  const { clock, traffic } = w;
  const maxVirtual = o.maxVirtualMs ?? 4 * 3600_000;
  const out: Driven = { outcome: undefined, approvals: 0, generatedTo: o.startAt };
  for (;;) {
    // Let the engine finish what it is doing at this instant: it is idle once it has armed its next wake-up
    // and no adapter call or query is in flight.
    let quiet = 0;
    for (let spins = 0; quiet < 3 && !state.finished; spins++) {
      await (spins < 2000 ? tick() : new Promise((r) => setTimeout(r, 2)));
      const idle = clock.nextDue() !== undefined && w.meshCalls.inflight === 0 && w.metrics.inflight === 0;
      quiet = idle ? quiet + 1 : 0;
    }
    if (state.finished) return out;
    if (state.phase === 'awaitingApproval') {
      runner.command('PROMOTE', 'bench');
      out.approvals++;
      continue;
    }
    const next = clock.nextDue();
    if (next === undefined) continue;
    // A paused migration still guards its weight (a regression seen while held rolls back): nobody answers the
    // pause here, so it runs on until the harm horizon and ends as "paused" if nothing rolled it back.
    if (state.phase === 'paused' && next - o.startAt > HARM_HORIZON_MS) return { ...out, outcome: 'paused' };
    if (next - o.startAt > maxVirtual) return { ...out, outcome: 'timeout' };
    traffic.generate(out.generatedTo, next, state.weight);
    out.generatedTo = Math.max(out.generatedTo, next);
    await o.prom.push(traffic.drain());
    clock.advanceTo(next);
  }
}

const FINAL_OUTCOMES: Record<string, RunRow['outcome']> = {
  completed: 'completed',
  rolledBack: 'rolledBack',
  failed: 'failed',
};

/** The run's row: its outcome, what the regression cost (to the harm horizon) and what the engine wrote. */
function rowOf(o: RunOneOptions, w: World, state: RunState, d: Driven, wallStart: number): RunRow {
  const { scenario, traffic } = w;
  const end = state.finished?.at ?? w.clock.now();
  const outcome = d.outcome ?? FINAL_OUTCOMES[state.finished?.phase ?? ''] ?? 'aborted';
  const truth = traffic.truth();
  const regressed = traffic.injectedAt !== undefined;
  const detected = regressed && state.rollbackAt !== undefined;
  // After the run the final state holds until the horizon (a promoted bad build keeps serving everything).
  const afterRun = harmAfterRun({
    outcome,
    finalWeight: state.weight,
    regressed: regressedAfterRun(regressed, outcome, w.injectAt),
    endMs: d.generatedTo - o.startAt,
    excess: traffic.regressedExcess,
    rps: scenario.rps,
    volume: scenario.volume,
  });
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    scenario: scenario.name,
    family: scenario.family,
    policy: o.policy.label,
    seed: o.seed,
    ...(o.route && o.route !== 'virtualservice' ? { route: o.route } : {}),
    outcome,
    reason: state.reason(outcome),
    rps: scenario.rps,
    baseErrorRate: scenario.baseErrorRate,
    targetErrorRate: traffic.healthyTargetErrorRate,
    regression: !!scenario.regression,
    injectedAtMs: regressed ? traffic.injectedAt! - o.startAt : null,
    detectionMs: detected ? state.rollbackAt! - traffic.injectedAt! : null,
    oracleMs: regressed && traffic.oracleAt !== undefined ? traffic.oracleAt - traffic.injectedAt! : null,
    weightAtDetection: detected ? traffic.maxRegressedWeight : null,
    maxWeightRegressed: regressed ? traffic.maxRegressedWeight : null,
    harmed: round(truth.harmWithinHorizon + afterRun),
    harmedDuringRun: round(truth.harmDuringRun),
    harmedAfterRun: round(afterRun),
    exposed: truth.requests,
    approvals: d.approvals,
    virtualMs: end - o.startAt,
    promotedMs: state.promotedAt === undefined ? null : state.promotedAt - o.startAt,
    maxEvidence: state.maxEvidence,
    wallMs: Math.round(performance.now() - wallStart),
    queries: w.prom.queries,
    weights: state.weights,
    timeline: traffic.timeline.map((p) => ({ ...p, t: p.t - o.startAt })),
  };
}

export async function runOne(o: RunOneOptions): Promise<RunRow> {
  const wallStart = performance.now();
  const layout = routeLayout(o.route);
  const kube = await startKubeApiServer(layout.crds ? { crds: layout.crds } : {});
  try {
    const w = buildWorld(o, kube, layout);
    const state = new RunState({
      onWeight: (weight, at, writes) => {
        if (writes === 2 && w.scenario.outageMs) w.outage.start = at;
        if (weight >= w.injectAt && !w.traffic.regressed) w.traffic.inject(at);
      },
      ...(o.observe ? { onVerdict: (at: number) => o.observe!(w.prom, at) } : {}),
    });
    // Observability first: ten minutes of VM traffic before the migration starts.
    w.traffic.generate(o.startAt - 600_000, o.startAt, 0);
    await o.prom.push(w.traffic.drain());
    const runner = new MigrationRunner({
      plan: w.plan,
      mesh: w.mesh,
      metrics: w.metrics,
      clock: w.clock,
      timeScale: 1,
      onEvent: state.onEvent,
    });
    await runner.start();
    const driven = await drive(o, w, runner, state);
    runner.stop();
    return rowOf(o, w, state, driven, wallStart);
  } finally {
    await kube.close();
  }
}
