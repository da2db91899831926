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
 * Rates are fitted per segment (each step's bins, see evidence.ts segmentStarts), so a regression that begins at
 * a later step reads as a change of rate, not as dispersion.
 */
import type { Batch } from './sequential.js';

export interface Dispersion {
  kappa: number;
  /** Variance inflation per bin (≥ 1). */
  phi: number[];
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

/** Dispersion of the target's share of each bin's events (the comparison with the VMs). */
export function conditionalDispersion(
  batches: readonly Batch[],
  starts: readonly number[] = [0],
): Dispersion {
  const fits = segmentFits(batches, starts);
  const design = batches.map((b, i) => {
    const f = fits[i];
    if (!f || !(b.target.trials > 0) || !(b.source.trials > 0)) return 0;
    return conditionalDesign(b.target.trials * f.pt, b.source.trials * f.ps);
  });
  let excess = 0;
  let weight = 0;
  const segments = new Set<number>();
  batches.forEach((b, i) => {
    const f = fits[i];
    const m = b.target.events + b.source.events;
    if (!f || !(design[i]! > 0) || !(m > 0)) return;
    const mt = b.target.trials * f.pt;
    const pi = mt / (mt + b.source.trials * f.ps);
    excess += (b.target.events - pi * m) ** 2 / (m * pi * (1 - pi)) - 1;
    weight += design[i]!;
    segments.add(segmentOf(starts, i));
  });
  // Each fitted rate takes one residual's worth of variance with it.
  const kappa = weight > 0 ? Math.max(0, (excess + segments.size) / weight) : 0;
  return { kappa, phi: design.map((v) => 1 + kappa * v) };
}

/** Dispersion of the target's own counts (the absolute SLO). */
export function ownDispersion(
  bins: ReadonlyArray<{ events: number; trials: number }>,
  starts: readonly number[] = [0],
): Dispersion {
  const bounds = [...starts, bins.length];
  const rates = starts.map((s, j) => {
    const seg = bins.slice(s, bounds[j + 1]);
    const n = sum(seg.map((b) => b.trials));
    return n > 0 ? sum(seg.map((b) => b.events)) / n : 0;
  });
  const mu = bins.map((b, i) => b.trials * rates[segmentOf(starts, i)]!);
  let excess = 0;
  let weight = 0;
  const segments = new Set<number>();
  bins.forEach((b, i) => {
    if (!(mu[i]! > 0)) return;
    excess += (b.events - mu[i]!) ** 2 / mu[i]! - 1;
    weight += mu[i]!;
    segments.add(segmentOf(starts, i));
  });
  const kappa = weight > 0 ? Math.max(0, (excess + segments.size) / weight) : 0;
  return { kappa, phi: mu.map((m) => 1 + kappa * m) };
}
