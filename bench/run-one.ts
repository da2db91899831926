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
import type { MigrationRunner, RunResult } from '../src/runner/runner.js';
import { ISTIO_DURATION_BUCKETS, type BackendStats } from '../src/sim/mesh/index.js';
import { startScenario, type Scenario } from '../src/sim/scenario.js';
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

/** What one wall-clock run records: the simulator's counters at injection, rollback and pause, and the chart. */
class RunRecord {
  readonly startedAt = Date.now();
  readonly timers: Array<ReturnType<typeof setTimeout>> = [];
  readonly timeline: TimelinePoint[] = [];
  outageDone: Promise<void> = Promise.resolve();
  injectedAt = 0;
  harmAtInjection = 0;
  requestsAtInjection = 0;
  regressionActive = false;
  maxWeightRegressed: number | null = null;
  rollbackAt = 0;
  harmAtRollback = 0;
  requestsAtRollback = 0;
  pausedAt = 0;
  pauseReason: string | undefined;
  rollbackReason: string | undefined;
  approvals = 0;
  timedOut = false;
  private runner: MigrationRunner | undefined;

  constructor(
    private readonly o: RunOneOptions,
    private readonly s: Scenario,
  ) {}

  k8s(): BackendStats {
    const st = this.s.sim.stats().k8s;
    if (!st) throw new Error('simulator has no k8s backend');
    return st;
  }

  /** The scenario's injection: a regression, a burst that ends by itself, or a Prometheus outage. */
  private inject(): void {
    this.injectedAt = Date.now();
    const st = this.k8s();
    this.harmAtInjection = harmOf(st);
    this.requestsAtInjection = st.requests;
    const inj = this.o.scenario.injection;
    const sim = this.s.sim;
    if (inj.kind === 'regression') {
      sim.setBehavior('k8s', inj.behavior);
      this.regressionActive = true;
    } else if (inj.kind === 'burst') {
      sim.setBehavior('k8s', inj.behavior);
      this.timers.push(setTimeout(() => sim.setBehavior('k8s', VM_BEHAVIOR), inj.durationMs));
    } else if (inj.kind === 'outage') {
      const prom = this.o.prom;
      const { stop, start } = prom;
      if (!stop || !start) throw new Error('the metrics-outage scenario needs a Prometheus it can stop');
      this.outageDone = (async () => {
        await stop.call(prom);
        await sleep(inj.durationMs);
        await start.call(prom);
      })();
    }
  }

  /** Timeline for the chart: the container's weight and SLIs over the last second, from the simulator. */
  sampleTimeline(sampleMs: number): void {
    const history: Array<{ t: number; st: BackendStats }> = [];
    const tick = () => {
      const t = Date.now() - this.startedAt;
      const st = this.k8s();
      history.push({ t, st });
      const old = history.find((h) => h.t >= t - 1000) ?? history[0]!;
      const dReq = st.requests - old.st.requests;
      const dErr = st.errors - old.st.errors;
      const dBuckets = st.buckets.map((b, i) => b - (old.st.buckets[i] ?? 0));
      this.timeline.push({
        t,
        weight: this.s.sim.currentWeights().k8s ?? 0,
        errorRate: dReq > 0 ? dErr / dReq : NaN,
        p99Ms: dReq >= 20 ? bucketQuantile(0.99, dBuckets) : NaN,
      });
      while (history.length > 0 && history[0]!.t < t - 2000) history.shift();
    };
    this.timers.push(setInterval(tick, sampleMs));
  }

  /** Aborts the run (outcome "timeout") after `ms`. */
  limit(ms: number): void {
    this.timers.push(
      setTimeout(() => {
        this.timedOut = true;
        this.runner?.command('ABORT', 'bench', 'benchmark time limit');
      }, ms),
    );
  }

  readonly onEvent = (e: EngineEvent, runner: MigrationRunner): void => {
    this.runner = runner;
    if (e.type === 'weight' && !e.rollback) {
      if (!this.injectedAt && e.weight >= this.o.scenario.atWeight) this.inject();
      if (this.regressionActive && !this.pausedAt)
        this.maxWeightRegressed = Math.max(this.maxWeightRegressed ?? 0, e.weight);
    }
    if (e.type === 'weight' && e.rollback && !this.rollbackAt && !this.pausedAt && !this.timedOut) {
      this.rollbackAt = e.at;
      const st = this.k8s();
      this.harmAtRollback = harmOf(st);
      this.requestsAtRollback = st.requests;
    }
    if (e.type !== 'phase') return;
    if (e.phase === 'rollingBack' && !this.pausedAt && !this.timedOut) this.rollbackReason = e.reason;
    if (e.phase === 'awaitingApproval') {
      this.approvals++;
      setImmediate(() => runner.command('PROMOTE', 'bench', 'benchmark auto-approval'));
    }
    if (e.phase === 'paused' && !this.pausedAt && !this.rollbackAt) {
      this.pausedAt = e.at;
      this.pauseReason = e.reason;
      setImmediate(() => runner.command('ABORT', 'bench', 'paused: the benchmark records it and stops'));
    }
  };

  outcome(result: RunResult): Outcome {
    if (this.timedOut) return 'timeout';
    if (this.pausedAt) return 'paused';
    if (result.phase === 'completed' || result.phase === 'failed' || result.phase === 'rolledBack')
      return result.phase;
    return 'aborted';
  }
}

const harmOf = (st: BackendStats) => st.errors + st.slow;

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
  let rec: RunRecord | undefined;
  try {
    await s.waitForTraffic(30_000);
    const provider = s.metrics instanceof PrometheusProvider ? s.metrics : undefined;
    const queriesBefore = provider?.queries ?? 0;
    const writesBefore = s.mesh.writes;
    const r = (rec = new RunRecord(o, s));
    if (o.timeline) r.sampleTimeline(o.sampleMs ?? 250);
    const stepsMs = spec.steps.length * Math.max(spec.stepDuration, spec.analysis.interval) * timeScale;
    r.limit(o.maxRunMs ?? Math.max(60_000, stepsMs * 4 + 30_000));
    const { result } = await s.run({ timeScale, onEvent: r.onEvent });
    const endedAt = Date.now();
    const final = r.k8s();
    const outcome = r.outcome(result);
    const harmEnd = r.rollbackAt ? r.harmAtRollback : harmOf(final);
    const reqEnd = r.rollbackAt ? r.requestsAtRollback : final.requests;
    const injected = r.injectedAt > 0;
    const reason = r.rollbackReason ?? r.pauseReason ?? result.reason;
    const kind = scenario.injection.kind;
    return {
      scenario: scenario.name,
      policy: o.policy.label,
      seed,
      outcome,
      ...(reason ? { reason } : {}),
      detectionMs:
        injected && r.rollbackAt && (kind === 'regression' || kind === 'burst')
          ? r.rollbackAt - r.injectedAt
          : null,
      harmed: injected ? harmEnd - r.harmAtInjection : 0,
      exposed: injected ? reqEnd - r.requestsAtInjection : 0,
      maxWeightRegressed: r.maxWeightRegressed,
      injectedAtMs: injected ? r.injectedAt - r.startedAt : null,
      falseRollback: isFalseRollback(scenario.regression, kind, outcome, injected),
      missed: scenario.regression && outcome === 'completed',
      approvalsPromoted: r.approvals,
      durationMs: (r.pausedAt || endedAt) - r.startedAt,
      queries: (provider?.queries ?? 0) - queriesBefore,
      writes: s.mesh.writes - writesBefore,
      weights: s.weightWrites(),
      slowThresholdMs,
      ...(o.timeline
        ? {
            timeline: r.timeline,
            ...(injected ? { injectedAtT: r.injectedAt - r.startedAt } : {}),
            ...(r.rollbackAt ? { rollbackAtT: r.rollbackAt - r.startedAt } : {}),
          }
        : {}),
    };
  } finally {
    for (const t of rec?.timers ?? []) clearTimeout(t);
    await rec?.outageDone.catch(() => undefined);
    await s.close();
  }
}
