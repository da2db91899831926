/**
 * One closed-loop run in virtual time: the real runner and mesh adapter against the in-repo Kubernetes API
 * server, a seeded traffic model that serves the weights the engine actually wrote, samples pushed with virtual
 * timestamps into a real Prometheus, and the gate querying it at the virtual now.
 */
import type { EngineEvent } from '../../src/engine/history.js';
import { PrometheusProvider } from '../../src/gate/prometheus.js';
import { IstioMeshAdapter } from '../../src/mesh/istio.js';
import type { MeshAdapter } from '../../src/mesh/types.js';
import { parsePlan } from '../../src/plan/load.js';
import { MigrationRunner } from '../../src/runner/runner.js';
import { seedMigrationScenario } from '../../src/sim/istio-fixtures.js';
import { migrationPlanCrd } from '../../src/controller/crd-schema.js';
import { gatewayApiCrds } from '../../src/sim/gateway-api.js';
import { startKubeApiServer } from '../../src/sim/kube/server.js';
import type { KubeObject } from '../../src/sim/kube/types.js';
import { subsetScenarioBackends } from '../../src/sim/mesh/fixtures.js';
import { planYamlFor } from '../../src/sim/scenario.js';
import { HARM_HORIZON_MS, harmAfterRun, regressedAfterRun } from './harm.js';
import type { BenchProm } from './prom.js';
import { Rng } from './random.js';
import type { BenchRoute, PolicyRef, RunRow } from './results.js';
import { drawParams, vmBehaviour, type ScenarioDef } from './scenarios.js';
import { drawNoise } from './noise.js';
import { TrafficLoop } from './traffic-loop.js';
import { VirtualClock } from './vclock.js';
import { VirtualMetrics } from './virtual-metrics.js';
import { recordEvidence, type MaxEvidence } from './ville.js';

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

export async function runOne(o: RunOneOptions): Promise<RunRow> {
  const wallStart = performance.now();
  const { seed } = o;
  // Ranged parameters and noise are drawn from the seed alone: every policy meets the same traffic.
  const params = drawParams(o.scenario, new Rng(seed * 104_729 + 1));
  const scenario: ScenarioDef = { ...o.scenario, rps: params.rps, baseErrorRate: params.baseErrorRate };
  const namespace = `d${seed}-${o.startAt.toString(36)}`.slice(0, 40);
  const layout = routeLayout(o.route);
  const kube = await startKubeApiServer(layout.crds ? { crds: layout.crds } : {});
  try {
    const fixture = seedMigrationScenario(kube, { namespace, mode: layout.mode, ...layout.seed });
    const [vm, k8s] = subsetScenarioBackends({
      namespace,
      service: fixture.service,
      mode: layout.mode,
      routeKind: fixture.routeKind,
    });
    const plan = parsePlan(planYamlFor(fixture, o.policy.policy), `${namespace}.yaml`);
    const steps = plan.policy.steps;
    const rng = new Rng(seed);
    // The injection step is drawn from the seed alone, so every policy meets the same traffic.
    const injectionDraw = rng.next();
    const clock = new VirtualClock(o.startAt);
    const state = {
      weight: 0,
      stepStartedAt: undefined as number | undefined,
      firstWriteAt: undefined as number | undefined,
      phase: 'pending',
      finished: undefined as Extract<EngineEvent, { type: 'finished' }> | undefined,
      weights: [] as number[],
      rollbackAt: undefined as number | undefined,
      promotedAt: undefined as number | undefined,
      lastVerdict: '',
      /** Why the migration paused (the judge's words: maxBake, missing evidence), for a run that ends paused. */
      pauseReason: undefined as string | undefined,
      queries: 0,
      maxEvidence: {} as MaxEvidence,
    };
    let outageStart: number | undefined;
    const outage = (t: number) =>
      outageStart !== undefined && t >= outageStart && t < outageStart + (scenario.outageMs ?? 0);
    const at = scenario.regression?.at;
    const injectAtWeight =
      at === 'random'
        ? steps[Math.floor(injectionDraw * Math.max(1, steps.length - 1))]!
        : typeof at === 'number'
          ? at
          : scenario.regression
            ? steps[0]!
            : Infinity;
    const traffic = new TrafficLoop({
      scenario,
      seed,
      vmLabels: vm!.labels,
      k8sLabels: k8s!.labels,
      vm: vmBehaviour(scenario.baseErrorRate, scenario.vmLatency),
      scrapeMs: SCRAPE_MS,
      noise: drawNoise(scenario.noise, seed),
      targetSlower: params.targetSlower,
      t0: o.startAt,
      scraping: (t) => !outage(t),
      reporter: layout.reporter,
    });
    const prom = new PrometheusProvider({ url: o.prom.url, timeoutMs: 10_000 });
    const metrics = new VirtualMetrics(prom, clock, outage);
    const meshCalls = { inflight: 0 };
    const mesh = tracked(new IstioMeshAdapter(kube.kubeConfig()), meshCalls);

    // Observability first: ten minutes of VM traffic before the migration starts.
    traffic.generate(o.startAt - 600_000, o.startAt, 0);
    await o.prom.push(traffic.drain());

    const runner = new MigrationRunner({
      plan,
      mesh,
      metrics,
      clock,
      timeScale: 1,
      onEvent: (e) => {
        if (e.type === 'weight') {
          state.weight = e.weight;
          state.stepStartedAt = e.at;
          state.firstWriteAt ??= e.at;
          state.weights.push(e.weight);
          if (state.weights.length === 2 && scenario.outageMs) outageStart = e.at;
          if (e.rollback) state.rollbackAt = e.at;
          else if (e.weight >= 100) state.promotedAt ??= e.at;
          if (e.weight >= injectAtWeight && !traffic.regressed) traffic.inject(e.at);
        } else if (e.type === 'phase') {
          state.phase = e.phase;
          if (e.phase === 'paused' && e.reason) state.pauseReason = e.reason;
        } else if (e.type === 'verdict') {
          state.lastVerdict = `${e.verdict.outcome}: ${e.verdict.summary}`;
          recordEvidence(state.maxEvidence, e.verdict.checks);
          o.observe?.(prom, e.verdict.at);
        } else if (e.type === 'finished') state.finished = e;
      },
    });
    await runner.start();
    let approvals = 0;
    let outcome: RunRow['outcome'] | undefined;
    const maxVirtual = o.maxVirtualMs ?? 4 * 3600_000;
    let generatedTo = o.startAt;
    for (;;) {
      // Let the engine finish what it is doing at this instant: it is idle once it has armed its next wake-up
      // and no adapter call or query is in flight.
      let quiet = 0;
      for (let spins = 0; quiet < 3 && !state.finished; spins++) {
        await (spins < 2000 ? tick() : new Promise((r) => setTimeout(r, 2)));
        const idle = clock.nextDue() !== undefined && meshCalls.inflight === 0 && metrics.inflight === 0;
        quiet = idle ? quiet + 1 : 0;
      }
      if (state.finished) break;
      if (state.phase === 'awaitingApproval') {
        runner.command('PROMOTE', 'bench');
        approvals++;
        continue;
      }
      const next = clock.nextDue();
      if (next === undefined) continue;
      // A paused migration still guards its weight (a regression seen while held rolls back): nobody answers the
      // pause here, so it runs on until the harm horizon and ends as "paused" if nothing rolled it back.
      if (state.phase === 'paused' && next - o.startAt > HARM_HORIZON_MS) {
        outcome = 'paused';
        break;
      }
      if (next - o.startAt > maxVirtual) {
        outcome = 'timeout';
        break;
      }
      traffic.generate(generatedTo, next, state.weight);
      generatedTo = Math.max(generatedTo, next);
      await o.prom.push(traffic.drain());
      clock.advanceTo(next);
    }
    runner.stop();
    const end = state.finished?.at ?? clock.now();
    const phase = state.finished?.phase;
    outcome ??=
      phase === 'completed'
        ? 'completed'
        : phase === 'rolledBack'
          ? 'rolledBack'
          : phase === 'failed'
            ? 'failed'
            : 'aborted';
    const truth = traffic.truth();
    const regressed = traffic.injectedAt !== undefined;
    // After the run the final state holds until the horizon (a promoted bad build keeps serving everything).
    const afterRun = harmAfterRun({
      outcome,
      finalWeight: state.weight,
      regressed: regressedAfterRun(regressed, outcome, injectAtWeight),
      endMs: generatedTo - o.startAt,
      excess: traffic.regressedExcess,
      rps: scenario.rps,
      volume: scenario.volume,
    });
    const round = (x: number) => Math.round(x * 100) / 100;
    return {
      scenario: scenario.name,
      family: scenario.family,
      policy: o.policy.label,
      seed,
      ...(o.route && o.route !== 'virtualservice' ? { route: o.route } : {}),
      outcome,
      reason: (
        state.finished?.reason ??
        (outcome === 'paused' ? state.pauseReason : undefined) ??
        state.lastVerdict
      ).slice(0, 800),
      rps: scenario.rps,
      baseErrorRate: scenario.baseErrorRate,
      regression: !!scenario.regression,
      injectedAtMs: regressed ? traffic.injectedAt! - o.startAt : null,
      detectionMs:
        regressed && state.rollbackAt !== undefined ? state.rollbackAt - traffic.injectedAt! : null,
      oracleMs: regressed && traffic.oracleAt !== undefined ? traffic.oracleAt - traffic.injectedAt! : null,
      weightAtDetection: regressed && state.rollbackAt !== undefined ? traffic.maxRegressedWeight : null,
      maxWeightRegressed: regressed ? traffic.maxRegressedWeight : null,
      harmed: round(truth.harmWithinHorizon + afterRun),
      harmedDuringRun: round(truth.harmDuringRun),
      harmedAfterRun: round(afterRun),
      exposed: truth.requests,
      approvals,
      virtualMs: end - o.startAt,
      promotedMs: state.promotedAt === undefined ? null : state.promotedAt - o.startAt,
      maxEvidence: state.maxEvidence,
      wallMs: Math.round(performance.now() - wallStart),
      queries: prom.queries,
      weights: state.weights,
      timeline: traffic.timeline.map((p) => ({ ...p, t: p.t - o.startAt })),
    };
  } finally {
    await kube.close();
  }
}
