/**
 * One benchmark run: one scenario × one policy × one seed on the e2e harness (Kubernetes API test server, mesh
 * simulator with real loopback HTTP, the shared real Prometheus) with the real runner.
 *
 * Measured like test/e2e/regressions.test.ts: the injection happens when the target weight first reaches the
 * scenario's weight; detection time is injection → rollback write; harm is the container's errors + too-slow
 * requests in between (the simulator's own counters, not Prometheus).
 */
import { parse as parseYaml } from 'yaml';
import { PrometheusProvider } from '../src/gate/prometheus.js';
import { loadPolicy } from '../src/plan/load.js';
import { policySpecSchema, type PolicySpec } from '../src/plan/policy-schema.js';
import type { EngineEvent } from '../src/engine/history.js';
import type { MigrationRunner } from '../src/runner/runner.js';
import { ISTIO_DURATION_BUCKETS, type BackendStats } from '../src/sim/mesh/index.js';
import { startScenario } from '../src/sim/scenario.js';
import {
  VM_BEHAVIOR,
  type Outcome,
  type PolicyRef,
  type RunRow,
  type ScenarioDef,
  type TimelinePoint,
} from './matrix.js';

/** The shared Prometheus: URL + file_sd dir; stop/start only needed by the metrics-outage scenario. */
export interface BenchPrometheus {
  readonly url: string;
  readonly sdDir: string;
  stop?(): Promise<void>;
  start?(): Promise<void>;
}

export interface RunOneOptions {
  scenario: ScenarioDef;
  policy: PolicyRef;
  seed: number;
  timeScale: number;
  prom: BenchPrometheus;
  /** Record weight and SLIs every `sampleMs` for the chart. */
  timeline?: boolean;
  sampleMs?: number;
  /** Give up (ABORT, outcome "timeout") after this long; default from the policy's steps. */
  maxRunMs?: number;
}

/**
 * A rollback the container did not deserve: on a run without a regression (healthy, low traffic, outage), or
 * before the regression was injected. A rollback on the flapping burst is neither right nor wrong: not counted.
 */
export function isFalseRollback(
  regression: boolean,
  injection: string,
  outcome: string,
  injected: boolean,
): boolean {
  if (outcome !== 'rolledBack') return false;
  if (!injected) return true;
  return !regression && injection !== 'burst';
}

export function resolvePolicySpec(ref: PolicyRef): PolicySpec {
  if (/^[a-z0-9-]+$/.test(ref.policy.trim())) return loadPolicy(ref.policy.trim()).spec;
  return policySpecSchema.parse(parseYaml(ref.policy));
}

/** histogram_quantile over cumulative bucket counts (same linear interpolation as Prometheus). */
export function bucketQuantile(q: number, cumulative: readonly number[]): number {
  const total = cumulative.at(-1) ?? 0;
  if (!(total > 0)) return NaN;
  const rank = q * total;
  let prevCount = 0;
  let prevBound = 0;
  for (let i = 0; i < cumulative.length; i++) {
    const bound = ISTIO_DURATION_BUCKETS[i] ?? Number.POSITIVE_INFINITY;
    const count = cumulative[i] ?? 0;
    if (count >= rank) {
      if (!Number.isFinite(bound)) return prevBound;
      const inBucket = count - prevCount;
      return inBucket > 0 ? prevBound + ((bound - prevBound) * (rank - prevCount)) / inBucket : bound;
    }
    prevCount = count;
    prevBound = bound;
  }
  return prevBound;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function namespaceFor(scenario: string, policy: string, seed: number): string {
  const raw = `b-${scenario}-${policy}-${seed}-${Date.now().toString(36)}`.toLowerCase();
  return raw
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 63)
    .replace(/-+$/, '');
}

export async function runOne(o: RunOneOptions): Promise<RunRow> {
  const spec = resolvePolicySpec(o.policy);
  const slowThresholdMs = spec.slo.latency?.p99?.maxMs ?? 500;
  const { scenario, seed, timeScale } = o;
  const s = await startScenario({
    metrics: { prometheusUrl: o.prom.url, sdDir: o.prom.sdDir },
    policy: o.policy.policy,
    rps: scenario.rps,
    simSeed: seed,
    vm: VM_BEHAVIOR,
    k8s: VM_BEHAVIOR,
    namespace: namespaceFor(scenario.name, o.policy.label, seed),
    slowThresholdMs,
  });
  const timers: Array<ReturnType<typeof setTimeout>> = [];
  let outageDone: Promise<void> = Promise.resolve();
  try {
    await s.waitForTraffic(30_000);
    const provider = s.metrics instanceof PrometheusProvider ? s.metrics : undefined;
    const queriesBefore = provider?.queries ?? 0;
    const writesBefore = s.mesh.writes;
    const k8s = (): BackendStats => {
      const st = s.sim.stats().k8s;
      if (!st) throw new Error('simulator has no k8s backend');
      return st;
    };
    const harmOf = (st: BackendStats) => st.errors + st.slow;

    const startedAt = Date.now();
    let injectedAt = 0;
    let harmAtInjection = 0;
    let requestsAtInjection = 0;
    let regressionActive = false;
    let maxWeightRegressed: number | null = null;
    let rollbackAt = 0;
    let harmAtRollback = 0;
    let requestsAtRollback = 0;
    let pausedAt = 0;
    let pauseReason: string | undefined;
    let approvals = 0;
    let timedOut = false;
    let rollbackReason: string | undefined;

    const inject = () => {
      injectedAt = Date.now();
      const st = k8s();
      harmAtInjection = harmOf(st);
      requestsAtInjection = st.requests;
      const inj = scenario.injection;
      if (inj.kind === 'regression') {
        s.sim.setBehavior('k8s', inj.behavior);
        regressionActive = true;
      } else if (inj.kind === 'burst') {
        s.sim.setBehavior('k8s', inj.behavior);
        timers.push(setTimeout(() => s.sim.setBehavior('k8s', VM_BEHAVIOR), inj.durationMs));
      } else if (inj.kind === 'outage') {
        const { stop, start } = o.prom;
        if (!stop || !start) throw new Error('the metrics-outage scenario needs a Prometheus it can stop');
        outageDone = (async () => {
          await stop.call(o.prom);
          await sleep(inj.durationMs);
          await start.call(o.prom);
        })();
      }
    };

    // Timeline for the chart: the container's weight and SLIs over the last second, from the simulator.
    const timeline: TimelinePoint[] = [];
    const history: Array<{ t: number; st: BackendStats }> = [];
    if (o.timeline) {
      const sampleMs = o.sampleMs ?? 250;
      const tick = () => {
        const t = Date.now() - startedAt;
        const st = k8s();
        history.push({ t, st });
        const old = history.find((h) => h.t >= t - 1000) ?? history[0]!;
        const dReq = st.requests - old.st.requests;
        const dErr = st.errors - old.st.errors;
        const dBuckets = st.buckets.map((b, i) => b - (old.st.buckets[i] ?? 0));
        timeline.push({
          t,
          weight: s.sim.currentWeights().k8s ?? 0,
          errorRate: dReq > 0 ? dErr / dReq : NaN,
          p99Ms: dReq >= 20 ? bucketQuantile(0.99, dBuckets) : NaN,
        });
        while (history.length > 0 && history[0]!.t < t - 2000) history.shift();
      };
      const iv = setInterval(tick, sampleMs);
      timers.push(iv);
    }

    const stepsMs = spec.steps.length * Math.max(spec.stepDuration, spec.analysis.interval) * timeScale;
    const maxRunMs = o.maxRunMs ?? Math.max(60_000, stepsMs * 4 + 30_000);
    let activeRunner: MigrationRunner | undefined;
    timers.push(
      setTimeout(() => {
        timedOut = true;
        activeRunner?.command('ABORT', 'bench', 'benchmark time limit');
      }, maxRunMs),
    );

    const onEvent = (e: EngineEvent, runner: MigrationRunner) => {
      activeRunner = runner;
      if (e.type === 'weight' && !e.rollback) {
        if (!injectedAt && e.weight >= scenario.atWeight) inject();
        if (regressionActive && !pausedAt) maxWeightRegressed = Math.max(maxWeightRegressed ?? 0, e.weight);
      }
      if (e.type === 'weight' && e.rollback && !rollbackAt && !pausedAt && !timedOut) {
        rollbackAt = e.at;
        const st = k8s();
        harmAtRollback = harmOf(st);
        requestsAtRollback = st.requests;
      }
      if (e.type === 'phase' && e.phase === 'rollingBack' && !pausedAt && !timedOut)
        rollbackReason = e.reason;
      if (e.type === 'phase' && e.phase === 'awaitingApproval') {
        approvals++;
        setImmediate(() => runner.command('PROMOTE', 'bench', 'benchmark auto-approval'));
      }
      if (e.type === 'phase' && e.phase === 'paused' && !pausedAt && !rollbackAt) {
        pausedAt = e.at;
        pauseReason = e.reason;
        setImmediate(() => runner.command('ABORT', 'bench', 'paused: the benchmark records it and stops'));
      }
    };

    const { result } = await s.run({ timeScale, onEvent });
    const endedAt = Date.now();
    const final = k8s();
    const outcome: Outcome = timedOut
      ? 'timeout'
      : pausedAt
        ? 'paused'
        : rollbackAt && result.phase === 'rolledBack'
          ? 'rolledBack'
          : result.phase === 'completed'
            ? 'completed'
            : result.phase === 'failed'
              ? 'failed'
              : result.phase === 'rolledBack'
                ? 'rolledBack'
                : 'aborted';
    const harmEnd = rollbackAt ? harmAtRollback : harmOf(final);
    const reqEnd = rollbackAt ? requestsAtRollback : final.requests;
    const injected = injectedAt > 0;
    const row: RunRow = {
      scenario: scenario.name,
      policy: o.policy.label,
      seed,
      outcome,
      ...((rollbackReason ?? pauseReason ?? result.reason)
        ? { reason: rollbackReason ?? pauseReason ?? result.reason }
        : {}),
      detectionMs:
        injected &&
        rollbackAt &&
        (scenario.injection.kind === 'regression' || scenario.injection.kind === 'burst')
          ? rollbackAt - injectedAt
          : null,
      harmed: injected ? harmEnd - harmAtInjection : 0,
      exposed: injected ? reqEnd - requestsAtInjection : 0,
      maxWeightRegressed,
      injectedAtMs: injected ? injectedAt - startedAt : null,
      falseRollback: isFalseRollback(scenario.regression, scenario.injection.kind, outcome, injected),
      missed: scenario.regression && outcome === 'completed',
      approvalsPromoted: approvals,
      durationMs: (pausedAt || endedAt) - startedAt,
      queries: (provider?.queries ?? 0) - queriesBefore,
      writes: s.mesh.writes - writesBefore,
      weights: s.weightWrites(),
      slowThresholdMs,
      ...(o.timeline
        ? {
            timeline,
            ...(injected ? { injectedAtT: injectedAt - startedAt } : {}),
            ...(rollbackAt ? { rollbackAtT: rollbackAt - startedAt } : {}),
          }
        : {}),
    };
    return row;
  } finally {
    for (const t of timers) clearTimeout(t);
    await outageDone.catch(() => undefined);
    await s.close();
  }
}
