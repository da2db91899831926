/**
 * Readiness to promote (pure): before the step to 100 % the VMs stop serving and the comparison with them ends,
 * so the last gate asks whether the evidence gathered could have caught a regression at all.
 *
 *  - Always: the containers must have served enough requests that the VMs' error rate predicts
 *    PROMOTION_MIN_EXPECTED_ERRORS errors — on less, no comparison could have seen anything.
 *  - With `analysis.detectBeforePromotion` (the default policy sets it): the error comparison with the VMs must
 *    have had the power to catch a regression of `errorRatio` × the VMs' rate (or +MIN_DETECTABLE_INCREASE in
 *    absolute terms, whichever is larger) with probability `power`. Until it has, the migration holds at the last
 *    step (inconclusive and waiting: held, guarded, until the policy's maxBake, then a pause that says why — not
 *    counted towards `inconclusiveLimit`), so low traffic never promotes what it could
 *    not have judged, and a small regression gets the requests it takes to be seen.
 *
 * The power counts only the bins of the current step — the build as it behaves at the load it is about to be
 * promoted from; evidence from before a late regression began does not vouch for it — and is the normal
 * approximation of the test's tempered log-likelihood ratio for each alternative of its grid, under the
 * regression, given the requests each bin actually had (request counts carry no information about the ratio,
 * so waiting on them costs no validity). Each bin's errors are Poisson with the variance inflation the data
 * shows (dispersion.ts). The mixture reaches 1/α once one component reaches G/(w·α), G the grid's size and w
 * the component's weight (passed in `level`). Waiting holds the step; it is not "inconclusive" evidence.
 */
import { pct } from './format.js';
import { ALTERNATIVES, eventLogRatios, normalCdf, type Batch } from './sequential.js';
import { normalQuantile } from './stats.js';
import type { PowerPrior } from '../types.js';

export const PROMOTION_MIN_EXPECTED_ERRORS = 3;
/** The smallest absolute error-rate increase the power rule asks to detect (0.1 percentage points). */
export const MIN_DETECTABLE_INCREASE = 0.001;

/** Whether the next step from `weight` is full promotion. */
export function promotesNext(steps: readonly number[], weight: number): boolean {
  return weight < 100 && (steps.find((s) => s > weight) ?? 100) >= 100;
}

export interface PowerQuestion {
  /** The current step's bins (only their request counts are read). */
  bins: readonly Batch[];
  /** Variance inflation of each bin. */
  phi?: readonly number[];
  /** The VMs' error rate, and the containers' under the regression to detect. */
  sourceRate: number;
  targetRate: number;
  /** The test's null ratio (1 + allowed increase ÷ the VMs' rate). */
  rho0: number;
  /** ln(1/α) of the component. */
  level: number;
  alternatives?: readonly number[];
  /** Drift sums of the step's bins already folded away (fold.ts), per alternative. */
  prior?: DriftSums;
}

/** Per alternative, the mean and variance of the tempered ln LR summed over some bins. */
export interface DriftSums {
  mean: number[];
  variance: number[];
}

interface Drift {
  mean: number;
  variance: number;
}

/** Mean and variance of each alternative's tempered ln LR over the bins, under the regression. */
function drifts(q: PowerQuestion): Drift[] {
  const grid = q.alternatives ?? ALTERNATIVES;
  return grid.map((a, j) => {
    let mean = q.prior?.mean[j] ?? 0;
    let variance = q.prior?.variance[j] ?? 0;
    q.bins.forEach((b, i) => {
      const nt = b.target.trials;
      const ns = b.source.trials;
      if (!(nt > 0) || !(ns > 0)) return;
      const phi = q.phi?.[i] ?? 1;
      const mt = nt * q.targetRate;
      const ms = ns * q.sourceRate;
      const { up, down } = eventLogRatios(nt, ns, q.rho0, q.rho0 * a);
      mean += (mt * up + ms * down) / phi;
      variance += (mt * up * up + ms * down * down) / phi;
    });
    return { mean, variance };
  });
}

/** The drift sums of the question's bins alone (to fold them away). */
export function driftSums(q: PowerQuestion): DriftSums {
  const d = drifts({ ...q, prior: undefined });
  return { mean: d.map((x) => x.mean), variance: d.map((x) => x.variance) };
}

/** Probability that the ratio test, run on these requests, would have crossed its level under the regression. */
export function detectionPower(q: PowerQuestion): number {
  const need = q.level + Math.log((q.alternatives ?? ALTERNATIVES).length);
  let best = 0;
  for (const d of drifts(q))
    if (d.variance > 0) best = Math.max(best, normalCdf((d.mean - need) / Math.sqrt(d.variance)));
  return best;
}

/**
 * How many times the current step's traffic so far it takes to reach `power` (≥ 1; Infinity when the drift is
 * not positive): mean and variance grow in proportion to the requests.
 */
export function trafficFactorFor(q: PowerQuestion, power: number): number {
  const need = q.level + Math.log((q.alternatives ?? ALTERNATIVES).length);
  const z = normalQuantile(power);
  let best = Infinity;
  for (const d of drifts(q)) {
    if (!(d.mean > 0)) continue;
    const sd = Math.sqrt(d.variance);
    const x = (z * sd + Math.sqrt(z * z * d.variance + 4 * d.mean * need)) / (2 * d.mean);
    best = Math.min(best, x * x);
  }
  return Math.max(1, best);
}

export interface Readiness {
  ok: boolean;
  note: string;
}

const ready: Readiness = { ok: true, note: '' };

const minutes = (ms: number) =>
  ms < 90_000 ? `${Math.max(1, Math.round(ms / 1000))} s` : `${Math.round(ms / 60_000)} more minutes`;

/** What the last gate asks of the error comparison (see errorPromotionReadiness). */
export interface ReadinessInput {
  lastGate: boolean;
  detect?: { errorRatio: number; power: number };
  /** The current step's live bins, their variance inflation and width. */
  bins: readonly Batch[];
  phi: readonly number[];
  binMs: number;
  sourceErrors: number;
  sourceRequests: number;
  rho0: number;
  level: number;
  /** The step's bins folded away (fold.ts). */
  prior?: PowerPrior;
}

/** The regression the last gate must be able to catch: errorRatio × the VMs' rate, at least +0.1 points. */
export function regressionRate(o: ReadinessInput): { srcRate: number; targetRate: number } {
  const srcRate = o.sourceErrors / o.sourceRequests;
  const targetRate = Math.max(
    srcRate * (o.detect?.errorRatio ?? 1),
    srcRate + MIN_DETECTABLE_INCREASE,
    srcRate * o.rho0 * 1.1,
  );
  return { srcRate, targetRate };
}

/** The power question of the last gate, over `bins` with their φ (the live ones, or those being folded). */
export function powerQuestion(
  o: ReadinessInput,
  bins: readonly Batch[],
  phi: readonly number[],
): PowerQuestion {
  const { srcRate, targetRate } = regressionRate(o);
  return { bins, phi, sourceRate: srcRate, targetRate, rho0: o.rho0, level: o.level };
}

/** The last gate's verdict on the error comparison's evidence (ok when the next step is not 100 %). */
export function errorPromotionReadiness(o: ReadinessInput): Readiness {
  if (!o.lastGate) return ready;
  const { srcRate, targetRate } = regressionRate(o);
  const targetRequests = o.bins.reduce((s, b) => s + b.target.trials, 0) + (o.prior?.requests ?? 0);
  const expected = targetRequests * targetRate;
  if (expected < PROMOTION_MIN_EXPECTED_ERRORS)
    return {
      ok: false,
      note: `promotion to 100 % needs enough traffic at this step to have seen a regression: ${Math.round(targetRequests)} requests × ${pct(targetRate)} = ${expected.toFixed(1)} expected errors (need ${PROMOTION_MIN_EXPECTED_ERRORS})`,
    };
  if (!o.detect) return ready;
  const q: PowerQuestion = {
    ...powerQuestion(o, o.bins, o.phi),
    ...(o.prior ? { prior: o.prior } : {}),
  };
  const power = detectionPower(q);
  if (power >= o.detect.power) return ready;
  const elapsed = (o.bins.length + (o.prior?.bins ?? 0)) * o.binMs;
  const factor = trafficFactorFor(q, o.detect.power);
  const rps = elapsed > 0 ? targetRequests / (elapsed / 1000) : 0;
  const eta = Number.isFinite(factor)
    ? `needs ≈ ${minutes((factor - 1) * elapsed)} at ${rps.toFixed(rps < 10 ? 1 : 0)} req/s`
    : 'needs more traffic';
  return {
    ok: false,
    note: `holding: promotion to 100 % waits until a ${pct(targetRate)} error rate (vs ${pct(srcRate)} on the VMs) would have been caught at this step: ${Math.round(power * 100)} % chance on ${Math.round(targetRequests)} requests so far, needs ${Math.round(o.detect.power * 100)} % (${eta})`,
  };
}
