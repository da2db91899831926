/**
 * How much burstier the counts are than Poisson (pure). Errors come in bursts — per pod, per second, per side —
 * and a test that takes every error for an independent event over-reads a burst as evidence. The counts are
 * modelled as negative binomial with a common squared coefficient of variation κ of the per-bin rate (Var k =
 * μ + κμ²: the variance grows with the square of the volume, which is why the binomial model's blind spot grew
 * with traffic), κ is estimated from the data by the method of moments on Pearson residuals, and each bin's
 * log-likelihood ratio is tempered by its variance inflation φ = 1 + κ·v (a quasi-likelihood: under a normal
 * approximation the tempered likelihood ratio has expectation 1 again when φ is right).
 *
 *  - For the comparison with the VMs the residual is the CONDITIONAL one (the target's share of the bin's events
 *    against its expected share): a burst that hits both sides at once (a shared dependency) leaves the share
 *    alone and costs nothing, while bursts of one side, or scrape jobs out of phase, show up in it.
 *  - For the absolute SLO the residual is the target's own count against its rate.
 *
 * Both estimators take a floor: the error checks pass the VMs' own κ (sequential-errors.ts), known from the first
 * bin, so the containers' bins are tempered before their own few errors could show how bursty they are.
 *
 * Rates are fitted per segment (each step's bins, see evidence.ts segmentStarts), so a regression that begins at
 * a later step reads as a change of rate, not as dispersion.
 */
import type { Batch } from './sequential.js';

export interface Dispersion {
  kappa: number;
  /** Variance inflation per bin (≥ 1). */
  phi: number[];
  /** Each bin's method-of-moments terms (undefined: the bin says nothing), to fold them away (fold.ts). */
  terms: Array<BinMoment | undefined>;
}

/** One bin's share of the moment estimate: its excess squared residual, its design weight, its segment. */
export interface BinMoment {
  excess: number;
  weight: number;
  segment: number;
}

/**
 * The moment sums of bins folded away: their excess, weight and the segments (start ids) they fitted; `count` and
 * `weightSq` (their number and Σ weight²) give the estimate's standard error (absent in state saved before them:
 * read as 0, so the error counts only the bins since).
 */
export interface MomentSums {
  excess: number;
  weight: number;
  segments: number[];
  count?: number;
  weightSq?: number;
}

/**
 * Once the counts show bursts (κ̂ more than one standard error above 0, fully from two), κ is read this many
 * standard errors above its estimate: a moment estimate of bursts with heavy tails is more often below the truth
 * than above it, and a κ read too low over-weights every bin (docs/gate.md §2).
 */
export const KAPPA_UPPER_SE = 1;

/** `into`'s moment sums with some bins' terms added (a new object): what fold.ts keeps of bins it folds away. */
export function addMoments(
  into: MomentSums | undefined,
  terms: ReadonlyArray<BinMoment | undefined>,
): MomentSums {
  const m = { excess: 0, weight: 0, count: 0, weightSq: 0, ...into };
  const segments = new Set(into?.segments ?? []);
  for (const t of terms) {
    if (!t) continue;
    m.excess += t.excess;
    m.weight += t.weight;
    m.count += 1;
    m.weightSq += t.weight * t.weight;
    segments.add(t.segment);
  }
  return { ...m, segments: [...segments] };
}

/** Two sets of moment sums as one prior (segments apart: a history's id is negative, the migration's are not). */
export function mergeMoments(a: MomentSums | undefined, b: MomentSums | undefined): MomentSums | undefined {
  if (!a || !b) return a ?? b;
  return {
    excess: a.excess + b.excess,
    weight: a.weight + b.weight,
    count: (a.count ?? 0) + (b.count ?? 0),
    weightSq: (a.weightSq ?? 0) + (b.weightSq ?? 0),
    segments: [...new Set([...a.segments, ...b.segments])],
  };
}

/** Where the live bins' segments start (local indices) and each one's id (its global start bin). */
export interface Segmentation {
  starts: readonly number[];
  ids: readonly number[];
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

interface Fit {
  pt: number;
  ps: number;
}

/** Each bin's segment: the index of the last start at or before it. */
const segmentOf = (starts: readonly number[], i: number) => {
  let seg = 0;
  starts.forEach((s, j) => {
    if (s <= i) seg = j;
  });
  return seg;
};

/**
 * κ from the live bins' moments and those folded away (each fitted segment takes one residual's worth), read
 * KAPPA_UPPER_SE standard errors high once the bins show bursts. A bin's excess has variance ≈ 2·(1 + κ·v)²
 * (its squared residual is that of a normal with variance 1 + κ·v), so the estimate's standard error is
 * √(2·Σ(1 + κ̂·v)²) / Σv. Where the counts look Poisson (κ̂ within one standard error of 0) the estimate is used
 * as it is: reading it high there would temper evidence that needs none.
 */
export function kappaOf(terms: ReadonlyArray<BinMoment | undefined>, prior: MomentSums | undefined): number {
  const { excess, weight, count = 0, weightSq = 0, segments } = addMoments(prior, terms);
  if (!(weight > 0)) return 0;
  const kappa = Math.max(0, (excess + segments.length) / weight);
  const se = Math.sqrt(2 * (count + 2 * kappa * weight + kappa * kappa * weightSq)) / weight;
  if (!(se > 0)) return kappa;
  const shown = Math.min(1, Math.max(0, kappa / se - 1));
  return kappa + KAPPA_UPPER_SE * se * shown;
}

function segmentFits(batches: readonly Batch[], starts: readonly number[]): Array<Fit | undefined> {
  const fit = (from: number, to: number): Fit | undefined => {
    const seg = batches.slice(from, to);
    const nt = sum(seg.map((b) => b.target.trials));
    const ns = sum(seg.map((b) => b.source.trials));
    const kt = sum(seg.map((b) => b.target.events));
    const ks = sum(seg.map((b) => b.source.events));
    return nt > 0 && kt > 0 && ns > 0 && ks > 0 ? { pt: kt / nt, ps: ks / ns } : undefined;
  };
  const bounds = [...starts, batches.length];
  const fits = starts.map((s, j) => fit(s, bounds[j + 1]!));
  return batches.map((_, i) => fits[segmentOf(starts, i)]);
}

/** NB2 design term of the conditional residual: its variance is 1 + κ·v. */
function conditionalDesign(mt: number, ms: number): number {
  const m = mt + ms;
  const pi = mt / m;
  return ((1 - pi) ** 2 * mt * mt + pi * pi * ms * ms) / (m * pi * (1 - pi));
}

const WHOLE: Segmentation = { starts: [0], ids: [0] };

/** Dispersion of the target's share of each bin's events (the comparison with the VMs). */
export function conditionalDispersion(
  batches: readonly Batch[],
  seg: Segmentation = WHOLE,
  prior?: MomentSums,
  floor = 0,
): Dispersion {
  const fits = segmentFits(batches, seg.starts);
  const design = batches.map((b, i) => {
    const f = fits[i];
    if (!f || !(b.target.trials > 0) || !(b.source.trials > 0)) return 0;
    return conditionalDesign(b.target.trials * f.pt, b.source.trials * f.ps);
  });
  const terms = batches.map((b, i): BinMoment | undefined => {
    const f = fits[i];
    const m = b.target.events + b.source.events;
    if (!f || !(design[i]! > 0) || !(m > 0)) return undefined;
    const mt = b.target.trials * f.pt;
    const pi = mt / (mt + b.source.trials * f.ps);
    const excess = (b.target.events - pi * m) ** 2 / (m * pi * (1 - pi)) - 1;
    return { excess, weight: design[i]!, segment: seg.ids[segmentOf(seg.starts, i)]! };
  });
  const kappa = Math.max(floor, kappaOf(terms, prior));
  return { kappa, phi: design.map((v) => 1 + kappa * v), terms };
}

/** Dispersion of the target's own counts (the absolute SLO). */
export function ownDispersion(
  bins: ReadonlyArray<{ events: number; trials: number }>,
  seg: Segmentation = WHOLE,
  prior?: MomentSums,
  floor = 0,
): Dispersion {
  const bounds = [...seg.starts, bins.length];
  const rates = seg.starts.map((s, j) => {
    const part = bins.slice(s, bounds[j + 1]);
    const n = sum(part.map((b) => b.trials));
    return n > 0 ? sum(part.map((b) => b.events)) / n : 0;
  });
  const mu = bins.map((b, i) => b.trials * rates[segmentOf(seg.starts, i)]!);
  const terms = bins.map((b, i): BinMoment | undefined =>
    mu[i]! > 0
      ? {
          excess: (b.events - mu[i]!) ** 2 / mu[i]! - 1,
          weight: mu[i]!,
          segment: seg.ids[segmentOf(seg.starts, i)]!,
        }
      : undefined,
  );
  const kappa = Math.max(floor, kappaOf(terms, prior));
  return { kappa, phi: mu.map((m) => 1 + kappa * m), terms };
}
