/** Types shared by the gate (verdicts) and its consumers (the machine, runners, interfaces). */
import type { MomentSums } from './stats/dispersion.js';

export type Quantile = 'p50' | 'p95' | 'p99';
export const QUANTILES: Record<Quantile, number> = { p50: 0.5, p95: 0.95, p99: 0.99 };

/** Golden signals of one side (source = VMs, target = containers) over the analysis window. */
export interface SideSample {
  /** Requests in the window (may be fractional: Prometheus extrapolates increase()). */
  requests: number;
  /** Failed requests: HTTP 5xx, plus gRPC status ≠ 0 (which Istio reports with HTTP 200). */
  errors: number;
  /** Latency quantiles in milliseconds; NaN when Prometheus has no data. */
  latencyMs: Partial<Record<Quantile, number>>;
  /**
   * Sequential method: requests at or below each of Istio's bucket bounds (cumulative, as `le` buckets are),
   * counted exactly since the step started, and the histogram's total count.
   */
  buckets?: number[];
  latencyCount?: number;
}

/** Sequential method: one side's exact counts in one time bin. */
export interface BinCounts {
  requests: number;
  errors: number;
  /** Cumulative counts per bucket bound (`bounds`, default Istio's), and the histogram's total. */
  buckets: number[];
  latencyCount: number;
  /** The side's histogram bounds (ms) when not Istio's defaults (e.g. finer ones set per workload). */
  bounds?: readonly number[];
}

/** [from, to) in epoch ms. */
export interface TimeRange {
  from: number;
  to: number;
}

export interface GateSample {
  /** Evaluation time, epoch ms. */
  at: number;
  windowMs: number;
  source: SideSample;
  target: SideSample;
  /** Custom PromQL metrics by name; NaN when empty. */
  custom: Record<string, number>;
  /**
   * Sequential method: `source`/`target` count everything since this instant (the step's start), not a window;
   * `batches` hold both sides' counts in time bins since `evidenceSince` (the migration's start), the evidence
   * the tests accumulate.
   */
  since?: number;
  evidenceSince?: number;
  /** Evidence bins overlapping this range count for nothing: the 100 % a migration stepped back from. */
  setAside?: TimeRange;
  /** Evidence bins (both sides over the same interval; `start`/`end` epoch ms when known). */
  batches?: Array<{ start?: number; end?: number; source: BinCounts; target: BinCounts }>;
  /**
   * Sequential method: the evidence of the bins before `batches`, folded away so that memory per migration does
   * not grow with its duration (fold.ts). `batches[0]` is bin `folded.bins` of the migration.
   */
  folded?: FoldedEvidence;
  /**
   * Sequential method: the VMs' requests and errors per bin before the evidence start (input/history.ts): how
   * bursty their errors are is known at the first bin instead of learnt from the first few.
   */
  history?: { source: readonly HistoryBin[] };
  /** How many Prometheus reads produced this sample (one batched with other migrations' counts as one). */
  queries: number;
}

/** One bin of a side's history before the evidence start: its errors (events) and requests (trials). */
export interface HistoryBin {
  events: number;
  trials: number;
}

/** One sequential test's evidence over folded bins: per start (its global bin index), per alternative, ln LR. */
export interface FoldedTest {
  sums: Record<number, number[]>;
}

/** The evidence of bins folded away (fold.ts): totals, segment starts, each test's sums and dispersion moments. */
export interface FoldedEvidence {
  /** Bins folded: the first live bin's index in the migration. */
  bins: number;
  source: BinCounts;
  target: BinCounts;
  /** Segment starts among the folded bins (global indices, 0 first). */
  starts: number[];
  /** When the last folded bin started (epoch ms). */
  lastStart: number;
  /** The containers' share of requests in the last folded bin that had traffic (to see the next step's jump). */
  lastShare?: number;
  tests: Record<string, FoldedTest>;
  /** Dispersion moments by estimator (`<test>/cond`, `<test>/own`). */
  moments: Record<string, MomentSums>;
  /** The promotion rule's power over the current step's folded bins. */
  power?: PowerPrior;
}

/** What the promotion rule keeps of a step's folded bins: drift sums per alternative, requests, bins. */
export interface PowerPrior {
  mean: number[];
  variance: number[];
  /** The step's first bin (global index): the prior belongs to that step only. */
  start: number;
  requests: number;
  bins: number;
}

export type CheckOutcome = 'pass' | 'fail' | 'inconclusive' | 'skipped';

export interface CheckResult {
  /** e.g. "error-rate", "error-rate-vs-source", "p99", "p99-vs-source", "custom:cache-hit" */
  name: string;
  outcome: CheckOutcome;
  /** Observed value (fraction for rates, ms for latency). */
  observed?: number;
  /** The limit it was compared with (already multiplied out for ratios). */
  threshold?: number;
  /** Consecutive failures of this check that trigger rollback. */
  failureThreshold: number;
  /** Failures count cumulatively (a pass does not clear them), as Flagger's `threshold` does. */
  cumulative?: boolean;
  /**
   * Inconclusive only because it waits for traffic (e.g. the power to promote): the step holds, guarded, and
   * the wait does not count towards `inconclusiveLimit` (a policy's `maxBake` bounds it).
   */
  waiting?: boolean;
  /**
   * Sequential method: the evidence against the containers is a third of the way to a rollback or more (in log
   * terms): a step ready to advance holds at its weight for up to the policy's `holdWhileSuspect` from when it was
   * ready, until the evidence either clears or rolls back.
   */
  suspect?: boolean;
  /**
   * Sequential method: ln of the check's e-value and ln of the e-value that fails it (ln 1/α of the check). An
   * e-process under the null reaches e ≥ x with probability ≤ 1/x at any time (Ville), so the most a healthy
   * migration's evidence ever reached is a direct check of the method's guarantee (bench/decisions/ville.ts).
   */
  logEvidence?: number;
  logLevel?: number;
  message: string;
}

export interface Verdict {
  outcome: 'pass' | 'fail' | 'inconclusive';
  at: number;
  /** Target weight (percent) while the window was observed. */
  weight: number;
  checks: CheckResult[];
  /** One line for humans: the decisive numbers. */
  summary: string;
  /** Raw numbers behind the checks. */
  sample?: GateSample;
}

/** Label matchers that select each side in Istio's standard metrics. */
export interface MetricSelectors {
  source: Record<string, string>;
  target: Record<string, string>;
}
