/**
 * Readiness to promote (pure): before the step to 100 % the VMs stop serving and the comparison with them ends,
 * so the last gate asks whether the evidence gathered could have caught a regression at all.
 *
 *  - Always: the containers must have served enough requests that the VMs' error rate predicts
 *    PROMOTION_MIN_EXPECTED_ERRORS errors — on less, no comparison could have seen anything.
 *  - With `analysis.detectBeforePromotion` (the default policy sets it): the error comparison with the VMs must
 *    have had the power to catch a regression of `errorRatio` × the VMs' rate (or +MIN_DETECTABLE_INCREASE in
 *    absolute terms, whichever is larger) with probability `power`. Until it has, the migration holds at the last
 *    step (inconclusive: it pauses after `inconclusiveLimit` windows), so low traffic never promotes what it could
 *    not have judged, and a small regression gets the requests it takes to be seen.
 *
 * The power is the normal approximation of the mixture test's log-likelihood ratio for each alternative of its
 * grid, under the regression, given the requests each bin actually had (request counts carry no information
 * about the ratio, so deciding to wait on them costs no validity): the mixture reaches 1/α once one component
 * reaches G/α, G the grid's size.
 */
import { pct } from './format.js';
import { ALTERNATIVES, eventLogRatios, normalCdf } from './sequential.js';

export const PROMOTION_MIN_EXPECTED_ERRORS = 3;
/** The smallest absolute error-rate increase the power rule asks to detect (0.1 percentage points). */
export const MIN_DETECTABLE_INCREASE = 0.001;

/** Whether the next step from `weight` is full promotion. */
export function promotesNext(steps: readonly number[], weight: number): boolean {
  return weight < 100 && (steps.find((s) => s > weight) ?? 100) >= 100;
}

/** Requests per bin on both sides. */
export interface BinTrials {
  target: number;
  source: number;
}

export interface PowerQuestion {
  bins: readonly BinTrials[];
  /** The VMs' error rate over the evidence. */
  baseRate: number;
  /** The test's null ratio (1 + allowed increase ÷ the VMs' rate). */
  rho0: number;
  /** The regression to detect, as a ratio of the target's error rate to the VMs'. */
  rho1: number;
  /** ln(1/α) of the test. */
  level: number;
  alternatives?: readonly number[];
}

/** Probability that the ratio test, run on these requests, would have crossed its level under `rho1`. */
export function detectionPower(q: PowerQuestion): number {
  const grid = q.alternatives ?? ALTERNATIVES;
  const need = q.level + Math.log(grid.length);
  let best = 0;
  for (const a of grid) {
    let mean = 0;
    let variance = 0;
    for (const b of q.bins) {
      if (!(b.target > 0) || !(b.source > 0)) continue;
      const mt = b.target * q.baseRate * q.rho1;
      const ms = b.source * q.baseRate;
      const events = mt + ms;
      const pi = mt / events;
      const { up, down } = eventLogRatios(b.target, b.source, q.rho0, q.rho0 * a);
      mean += events * (pi * up + (1 - pi) * down);
      variance += events * pi * (1 - pi) * (up - down) ** 2;
    }
    if (variance > 0) best = Math.max(best, normalCdf((mean - need) / Math.sqrt(variance)));
  }
  return best;
}

export interface Readiness {
  ok: boolean;
  note: string;
}

const ready: Readiness = { ok: true, note: '' };

/** The last gate's verdict on the error comparison's evidence (ok when the next step is not 100 %). */
export function errorPromotionReadiness(o: {
  lastGate: boolean;
  detect?: { errorRatio: number; power: number };
  bins: readonly BinTrials[];
  targetRequests: number;
  sourceErrors: number;
  sourceRequests: number;
  rho0: number;
  level: number;
}): Readiness {
  if (!o.lastGate) return ready;
  const srcRate = o.sourceErrors / o.sourceRequests;
  const expected = o.targetRequests * srcRate;
  if (expected < PROMOTION_MIN_EXPECTED_ERRORS)
    return {
      ok: false,
      note: `promotion to 100 % needs enough traffic to have seen a regression: ${o.targetRequests} requests × ${pct(srcRate)} on the VMs = ${expected.toFixed(1)} expected errors (need ${PROMOTION_MIN_EXPECTED_ERRORS})`,
    };
  if (!o.detect) return ready;
  const rho1 = Math.max(o.detect.errorRatio, o.rho0 * 1.1, 1 + MIN_DETECTABLE_INCREASE / srcRate);
  const power = detectionPower({ bins: o.bins, baseRate: srcRate, rho0: o.rho0, rho1, level: o.level });
  if (power >= o.detect.power) return ready;
  return {
    ok: false,
    note: `promotion to 100 % waits until a ${rho1.toFixed(2)}× error regression (${pct(srcRate * rho1)}) would have been caught: ${Math.round(power * 100)} % chance on the ${o.targetRequests} requests so far, needs ${Math.round(o.detect.power * 100)} %`,
  };
}
