/**
 * Anytime-valid sequential tests on counts (pure).
 *
 * Each test returns an e-value: a nonnegative statistic whose expectation is at most 1 under the null, and which,
 * computed on cumulative counts of events that arrive one by one, is a test supermartingale. By Ville's inequality
 * P(it ever reaches 1/α) ≤ α, so it may be checked after every interval without inflating false alarms.
 * Alternatives are mixed over a fixed grid (a mixture SPRT), so no single effect size has to be guessed.
 *
 * The per-bin ratios live in evidence.ts (`rateBinLLR`, `ratioBinLLR`); this file holds what they share.
 *  - The rate test: the target's own events (errors, or requests above a latency bound) against an absolute
 *    rate p0 — H0: p ≤ p0.
 *  - The ratio test: the target against the source (the VMs). Requests on both sides arrive as Poisson
 *    processes; conditionally on the total number of events, each event is the target's with probability
 *    π(ρ) = ρ·n_t / (ρ·n_t + n_s), where ρ is the ratio of the target's event rate to the source's.
 *    H0: ρ ≤ ρ0. This is the counting-process test of Lindon, Sanden & Shirikian (KDD 2022) with a grid mixture.
 *    When events are not rare (a share around the median) the exact conditional law is hypergeometric, which
 *    is dominated in convex order by the binomial used here, so the test stays valid (only more cautious).
 */

/** Multiples of the null used as alternatives, with equal prior weight. */
export const ALTERNATIVES: readonly number[] = [1.25, 1.5, 2, 3, 5, 10, 30];

/**
 * The latency comparison's alternatives: its effects are small shares. A p99 30 % above the VMs' against a 1.2×
 * allowance puts 1.12–1.22× the allowed share over 1.2 × the VMs' p99 (sequential-latency.ts), where the 1.25
 * alternative has little or no drift (none at 1.12×). 1.1 replaces 30: the same width, so evidence folded under
 * the older grid still adds up (a grid that changes at a time fixed in advance keeps each product a test
 * martingale).
 */
export const LATENCY_RATIO_ALTERNATIVES: readonly number[] = [1.1, 1.25, 1.5, 2, 3, 5, 10];

export function logMeanExp(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const m = Math.max(...xs);
  if (!Number.isFinite(m)) return m;
  return m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0) / xs.length);
}

export interface Counts {
  /** Events (errors, or requests above a latency bound). */
  events: number;
  /** Trials (requests). */
  trials: number;
}

/**
 * One event's log-likelihood ratio of ρ1 against ρ0 when the target served `nt` requests and the source `ns`:
 * `up` for an event on the target, `down` for one on the source (π(ρ) = ρ·nt / (ρ·nt + ns)).
 */
export function eventLogRatios(
  nt: number,
  ns: number,
  rho0: number,
  rho1: number,
): { up: number; down: number } {
  const share = (rho: number) => (rho * nt) / (rho * nt + ns);
  const pi0 = share(rho0);
  const pi1 = share(rho1);
  return { up: Math.log(pi1 / pi0), down: Math.log((1 - pi1) / (1 - pi0)) };
}

/** Both sides' counts over one batch of time (one bin of a few scrapes). */
export interface Batch {
  target: Counts;
  source: Counts;
}

/** The e-value threshold (as a natural log) for a test that was given `alpha` of the budget. */
export function logThreshold(alpha: number): number {
  return -Math.log(alpha);
}

/** Standard normal CDF (Abramowitz–Stegun 7.1.26 on erf, |error| < 1.5e-7). */
export function normalCdf(x: number): number {
  if (x === Infinity) return 1;
  if (x === -Infinity) return 0;
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-z * z);
  return x >= 0 ? (1 + y) / 2 : (1 - y) / 2;
}
