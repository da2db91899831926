/** What the sequential checks share (pure): the evidence they read, the alpha split, and how a test becomes a check. */
import type { PolicySpec } from '../../plan/policy-schema.js';
import { addCounts, type EvidenceBin } from '../input/bins.js';
import {
  conditionalDispersion,
  mergeMoments,
  ownDispersion,
  type BinMoment,
  type MomentSums,
  type Dispersion,
  type Segmentation,
} from '../stats/dispersion.js';
import { mixtureOverStarts } from '../stats/evidence.js';
import { logThreshold, type Batch } from '../stats/sequential.js';
import type { ReadinessInput } from '../stats/promotion.js';
import type { BinCounts, CheckResult, FoldedEvidence, HistoryBin, SideSample, TimeRange } from '../types.js';

/** What the tests computed per live bin, kept when bins are about to be folded away (fold.ts). */
export interface Tape {
  rows: Map<string, number[][]>;
  moments: Map<string, Array<BinMoment | undefined>>;
  /** The last gate's question, when the next step is 100 % (its power counts the step's bins). */
  readiness?: ReadinessInput;
}

/** What the tests see: this step's counts (readiness) and the evidence bins (carried across steps). */
export interface Evidence {
  /** The live bins: bin `offset` of the migration first (those before are folded). */
  bins: EvidenceBin[];
  offset: number;
  folded?: FoldedEvidence;
  /** The VMs' bins before the evidence start (input/history.ts): their burstiness from the first bin. */
  history?: readonly HistoryBin[];
  /** First bins of the mixture's components (global indices: 0, then each later step's). */
  starts: number[];
  /** The same starts within the live bins. */
  segmentation: Segmentation;
  /** Set while folding: the tests record their per-bin rows and moments here. */
  tape?: Tape;
  /** Steps of the schedule (the mixture's weights). */
  steps: number;
  /** Weight of the last component in the mixture (1/2 for the migration's start, less for a later step). */
  lastStartWeight: number;
  binMs: number;
  stepTarget: SideSample;
  /** Totals over every bin, folded ones included. */
  target: BinCounts;
  source: BinCounts;
  scope: string;
  weight: number;
  level: number;
  /** The most one bin may add to a test (ln): one burst never decides alone. */
  cap: number;
  /** The next step is 100 %: enough traffic to have seen a regression is needed before promotion. */
  lastGate: boolean;
  /** Bins since the current step began: a check passes only once its evidence could have failed it. */
  stepBins: number;
  /** Bins overlapping this range count for nothing (the 100 % a migration stepped back from). */
  setAside?: TimeRange;
}

/** Bins a step needs before its checks may pass: one bin alone can never fail a check (it is capped). */
export const MIN_STEP_BINS = 2;

/** Why a check may not pass yet for lack of bins (undefined: enough). */
export function binsNote(ev: Evidence): string | undefined {
  return ev.stepBins >= MIN_STEP_BINS
    ? undefined
    : `${ev.stepBins} bin of evidence at this step, need ${MIN_STEP_BINS} (one bin alone never decides)`;
}

export const round = (x: number, digits = 6) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);
const fmtE = (logE: number) => {
  const e = Math.exp(logE);
  return e >= 100 ? e.toExponential(1) : e.toFixed(e < 1 ? 2 : 1);
};

/** How many sequential tests the policy runs at each step (the alpha budget is split between them). */
export function sequentialTestCount(policy: PolicySpec): number {
  let n = 0;
  const e = policy.slo.errorRate;
  if (e) n += 1 + (e.maxIncreaseOverSource !== undefined ? 1 : 0);
  for (const q of ['p50', 'p95', 'p99'] as const) {
    const o = policy.slo.latency?.[q];
    if (o?.maxMs !== undefined) n++;
    if (o?.maxRatioToSource !== undefined) n++;
  }
  return Math.max(1, n);
}

/**
 * ln(1/α_check): the evidence one check needs to fail. Evidence carried across steps is one test per check for
 * the whole migration; evidence that restarts at each step is one test per check and step.
 */
export function failLevel(policy: PolicySpec, carried: boolean): number {
  const tests = sequentialTestCount(policy) * (carried ? 1 : policy.steps.length);
  return logThreshold(policy.analysis.alpha / tests);
}

/** A side's totals over bins, on the bins' own histogram bounds (finer buckets stay finer). */
export function totalOf(
  bins: readonly EvidenceBin[],
  side: 'source' | 'target',
  zero: (bounds?: readonly number[]) => BinCounts,
): BinCounts {
  const out = zero(bins[0]?.[side].bounds);
  for (const b of bins) addCounts(out, b[side]);
  return out;
}

export interface Test {
  name: string;
  logE: number;
  level: number;
  observed: number;
  threshold: number;
  numbers: string;
  ready: boolean;
  notReady: string;
  notReadyOutcome: 'inconclusive' | 'skipped';
}

/**
 * A check whose evidence reached this share of its level (in ln: the cube root of the e-value that rolls back,
 * ≈ 7.9 for `default`'s 500) is suspect: the step holds instead of advancing. Holding costs no alpha (the e-value
 * is valid at any stopping time) and keeps a regression that is building up at the lower weight until it is
 * decided. Chosen on the decisions bench's tuning seeds (5001–5100) against ½: more regressions decided before
 * 50 %; 298 of 300 healthy runs took exactly as long as without the hold (one 1.8 min longer, one 4 min shorter).
 */
export const SUSPECT_SHARE = 1 / 3;

export function toCheck(t: Test): CheckResult {
  const evidence = `evidence ${fmtE(t.logE)}, rolls back at ${fmtE(t.level)}`;
  // The e-value already weighs all the evidence: one crossing is the decision (no streak on top).
  const base = {
    name: t.name,
    failureThreshold: 1,
    observed: round(t.observed),
    threshold: round(t.threshold),
    logEvidence: round(t.logE, 4),
    logLevel: round(t.level, 4),
  };
  if (t.logE >= t.level) return { ...base, outcome: 'fail', message: `${t.numbers}: worse (${evidence})` };
  const suspect = t.logE >= SUSPECT_SHARE * t.level;
  const doubt = suspect
    ? '; a third of the way to a rollback: a step ready to advance holds until it clears (up to holdWhileSuspect)'
    : '';
  const flag = suspect ? { suspect: true } : {};
  if (!t.ready)
    return { ...base, ...flag, outcome: t.notReadyOutcome, message: `${t.numbers}; ${t.notReady}${doubt}` };
  return { ...base, ...flag, outcome: 'pass', message: `${t.numbers} (${evidence}${doubt})` };
}

/** ln E of one test over the migration: its live bins' rows (per alternative) and the folded sums, mixed. */
export function testEvidence(ev: Evidence, name: string, rows: number[][]): number {
  const aside = ev.setAside;
  // The bins at 100 % a migration stepped back from: the VMs served nothing then, so they held no like-for-like
  // evidence. Which bins those are (100 % weight) was known before each was seen: leaving them out keeps the
  // product of the rest a test supermartingale.
  const kept = aside
    ? rows.map((r, k) => {
        const b = ev.bins[k];
        return b && b.end > aside.from && b.start < aside.to ? r.map(() => 0) : r;
      })
    : rows;
  ev.tape?.rows.set(name, kept);
  return mixtureOverStarts(kept, ev.starts, ev.steps, ev.offset, ev.folded?.tests[name]?.sums);
}

/**
 * A test's dispersion over the live bins, with the moments of its folded bins (`key` names the estimator) and of
 * bins from before the evidence (`before`: added each time, never folded).
 */
export function dispersionOf(
  ev: Evidence,
  key: string,
  bins: ReadonlyArray<{ events: number; trials: number }>,
  floor = 0,
  before?: MomentSums,
): Dispersion {
  const d = ownDispersion(bins, ev.segmentation, mergeMoments(ev.folded?.moments[key], before), floor);
  ev.tape?.moments.set(key, d.terms);
  return d;
}

/**
 * What the verdict says about burstiness when it weakened the evidence: how much (κ as the test reads it, at its
 * upper estimate once bursts show) and whose counts showed it (empty when no live bin was tempered by more than 1.5×).
 */
export function burstNote(d: Dispersion, floor: number): string {
  const most = Math.max(1, ...d.phi);
  if (!(most >= 1.5)) return '';
  const whose =
    floor > 0 && d.kappa === floor ? "the VMs' error rate varies" : "the containers' share of errors varies";
  return `; errors come in bursts (${whose} by up to ±${Math.round(100 * Math.sqrt(d.kappa))} % from bin to bin beyond chance): a bin weighs up to ${most.toFixed(0)}× less`;
}

/** The comparison's dispersion (conditional on each bin's events) over the live bins and the folded ones. */
export function conditionalDispersionOf(
  ev: Evidence,
  key: string,
  batches: readonly Batch[],
  floor = 0,
): Dispersion {
  const d = conditionalDispersion(batches, ev.segmentation, ev.folded?.moments[key], floor);
  ev.tape?.moments.set(key, d.terms);
  return d;
}

/** The live bins of the current step's segment (those the promotion rule counts). */
export const lastSegmentFrom = (ev: Evidence): number => Math.max(0, (ev.starts.at(-1) ?? 0) - ev.offset);
