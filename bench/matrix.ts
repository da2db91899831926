/**
 * The benchmark matrix: which traffic scenarios exist, which policies they are judged with, and what a
 * finished run records. Pure data and types; the runner (run-one.ts) and the report (report.ts) consume it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { BackendBehavior } from '../src/sim/mesh/index.js';

/** The VM's behaviour in every scenario: a long-tailed latency and a 0.1 % background error rate. */
export const VM_BEHAVIOR: BackendBehavior = {
  latency: { p50Ms: 20, p99Ms: 80 },
  errorRate: 0.001,
  grpcErrorRate: 0,
};

/** What happens to the container side (or to Prometheus) once the target weight first reaches `atWeight`. */
export type Injection =
  | { kind: 'none' }
  | { kind: 'regression'; behavior: Partial<BackendBehavior> }
  | { kind: 'burst'; behavior: Partial<BackendBehavior>; durationMs: number }
  | { kind: 'outage'; durationMs: number };

export interface ScenarioDef {
  name: string;
  description: string;
  rps: number;
  /** Inject when the target weight first reaches at least this value. */
  atWeight: number;
  injection: Injection;
  /** True when the container is genuinely worse: a rollback is right, completing is a miss. */
  regression: boolean;
  /** Stops Prometheus: must not share it with a concurrent run. */
  exclusive?: boolean;
}

const AT_WEIGHT = 10;
const err = (factor: number): Partial<BackendBehavior> => ({ errorRate: VM_BEHAVIOR.errorRate * factor });
const p99 = (increase: number): Partial<BackendBehavior> => ({
  latency: {
    p50Ms: VM_BEHAVIOR.latency.p50Ms,
    p99Ms: Math.round(VM_BEHAVIOR.latency.p99Ms * (1 + increase)),
  },
});

export const SCENARIOS: readonly ScenarioDef[] = [
  {
    name: 'healthy',
    description: 'container as good as the VM (p50 20 / p99 80 ms, 0.1 % errors)',
    rps: 600,
    atWeight: AT_WEIGHT,
    injection: { kind: 'none' },
    regression: false,
  },
  ...[2, 5, 20].map((f): ScenarioDef => ({
    name: `error-${f}x`,
    description: `container error rate ${f}× the VM's (${(0.1 * f).toFixed(1)} %) from ${AT_WEIGHT} %`,
    rps: 600,
    atWeight: AT_WEIGHT,
    injection: { kind: 'regression', behavior: err(f) },
    regression: true,
  })),
  ...[30, 100].map((p): ScenarioDef => ({
    name: `p99-plus-${p}`,
    description: `container p99 +${p} % (p50 unchanged) from ${AT_WEIGHT} %`,
    rps: 600,
    atWeight: AT_WEIGHT,
    injection: { kind: 'regression', behavior: p99(p / 100) },
    regression: true,
  })),
  {
    name: 'low-traffic',
    description: 'healthy container, 5 requests per second in total',
    rps: 5,
    atWeight: AT_WEIGHT,
    injection: { kind: 'none' },
    regression: false,
  },
  {
    name: 'flapping',
    description: `a 1 s burst of 20× errors from ${AT_WEIGHT} %, then healthy again`,
    rps: 600,
    atWeight: AT_WEIGHT,
    injection: { kind: 'burst', behavior: err(20), durationMs: 1000 },
    regression: false,
  },
  {
    name: 'metrics-outage',
    description: `healthy container, Prometheus stopped for 10 s (wall time) from ${AT_WEIGHT} %`,
    rps: 600,
    atWeight: AT_WEIGHT,
    injection: { kind: 'outage', durationMs: 10_000 },
    regression: false,
    exclusive: true,
  },
];

export const DEFAULT_POLICIES = ['default', 'cautious', 'flagger-defaults'] as const;

/** A policy to bench: a name from policies/, or `label=path` to an inline spec (the fields under `spec:`). */
export interface PolicyRef {
  label: string;
  /** What startScenario takes: a policy name or inline spec YAML. */
  policy: string;
}

export function parsePolicyRef(arg: string): PolicyRef {
  const eq = arg.indexOf('=');
  if (eq === -1) return { label: arg, policy: arg };
  const label = arg.slice(0, eq);
  const file = path.resolve(arg.slice(eq + 1));
  const text = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n');
  return { label, policy: text };
}

export function scenarioByName(name: string): ScenarioDef {
  const s = SCENARIOS.find((x) => x.name === name);
  if (!s) throw new Error(`unknown scenario "${name}" (known: ${SCENARIOS.map((x) => x.name).join(', ')})`);
  return s;
}

export type Outcome = 'completed' | 'rolledBack' | 'paused' | 'aborted' | 'failed' | 'timeout';

/** One point of the chart: the container's weight and its SLIs over the last second (from the simulator). */
export interface TimelinePoint {
  t: number;
  weight: number;
  errorRate: number;
  p99Ms: number;
}

export interface RunRow {
  scenario: string;
  policy: string;
  seed: number;
  outcome: Outcome;
  reason?: string;
  /** ms from the injection to the rollback write; null when there was no rollback (or no injection). */
  detectionMs: number | null;
  /** Failed (error) + too-slow requests served by the container from injection to rollback (or to the end). */
  harmed: number;
  /** Requests the container served from injection to rollback (or to the end): exposure to a latency regression. */
  exposed: number;
  /** Highest weight written while the regression was active. */
  maxWeightRegressed: number | null;
  injectedAtMs: number | null;
  /** Rollback on a run where the container was not worse (healthy, low traffic, outage). */
  falseRollback: boolean;
  /** Completed despite a regression. */
  missed: boolean;
  approvalsPromoted: number;
  durationMs: number;
  queries: number;
  writes: number;
  weights: number[];
  slowThresholdMs: number;
  timeline?: TimelinePoint[];
  injectedAtT?: number;
  rollbackAtT?: number;
}
