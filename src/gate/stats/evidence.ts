/**
 * The e-process behind every sequential check (pure): per-bin log-likelihood ratios, tempered and bounded, added
 * up from several possible starts and mixed.
 *
 *  - Per bin and alternative, the log-likelihood ratio is divided by the bin's variance inflation φ (see
 *    dispersion.ts) and capped at `cap`: one bin — one burst — can never carry a check past its level alone.
 *    Capping a likelihood ratio from above keeps its expectation ≤ 1, so the product stays a supermartingale.
 *  - Starts: the evidence is a uniform mixture over starting bins (the migration's first bin, and the first bin
 *    of the current step). Each component is a product of per-bin ratios from a start fixed before its bins are
 *    seen, so each is a test supermartingale, and so is their average: a regression that begins only at a later
 *    step (a load-dependent bug) is tested on its own bins, at the cost of ln(number of starts) in evidence.
 */
import { ALTERNATIVES, eventLogRatios, logMeanExp, type Batch } from './sequential.js';

export interface Tempering {
  /** Variance inflation of this bin (≥ 1). */
  phi: number;
  /** The most one bin may add (ln). */
  cap: number;
}

const temper = (llr: number, t: Tempering) => Math.min(t.cap, llr / t.phi);

/** Per-alternative ln LR of one bin of the ratio test (target's events vs the source's, H0: ρ ≤ ρ0). */
export function ratioBinLLR(b: Batch, rho0: number, t: Tempering, alternatives = ALTERNATIVES): number[] {
  const nt = b.target.trials;
  const ns = b.source.trials;
  const kt = Math.max(0, Math.min(b.target.events, nt));
  const ks = Math.max(0, Math.min(b.source.events, ns));
  if (!(nt > 0) || !(ns > 0) || kt + ks === 0 || !(rho0 > 0)) return alternatives.map(() => 0);
  return alternatives.map((a) => {
    const { up, down } = eventLogRatios(nt, ns, rho0, rho0 * a);
    return temper(kt * up + ks * down, t);
  });
}

/** Per-alternative ln LR of one bin of the rate test (k events in n trials, H0: p ≤ p0). */
export function rateBinLLR(
  k: number,
  n: number,
  p0: number,
  t: Tempering,
  alternatives = ALTERNATIVES,
): number[] {
  if (!(n > 0) || !(p0 > 0) || p0 >= 1) return alternatives.map(() => 0);
  const kk = Math.min(Math.max(0, k), n);
  return alternatives.map((a) => {
    // Alternatives as odds ratios: a × the rate for rare events, and still a step above p0 near 50 % (p50).
    const p1 = Math.min((p0 * a) / (1 - p0 + p0 * a), 0.999999);
    if (!(p1 > p0)) return 0;
    return temper(kk * Math.log(p1 / p0) + (n - kk) * Math.log((1 - p1) / (1 - p0)), t);
  });
}

/**
 * ln E of the mixture over starts: the migration's first bin weighs 1/2, each later step's first bin
 * 1 / (2·(steps − 1)); a component whose start has not come yet counts as 1 (no evidence either way), so the
 * weights are fixed before any bin is seen. Within a component the alternatives are mixed with equal weights.
 * `starts[0]` must be 0; later starts are bin indices found from request counts alone (see segmentStarts).
 * `perBin` holds the live bins from index `offset`; `folded` the sums of the bins before it, per start.
 */
export function mixtureOverStarts(
  perBin: readonly number[][],
  starts: readonly number[],
  steps: number,
  offset = 0,
  folded?: Readonly<Record<number, readonly number[]>>,
): number {
  const later = Math.max(1, steps - 1);
  const weights = starts.map((_, i) => (i === 0 ? 0.5 : 0.5 / later));
  const used = weights.reduce((a, b) => a + b, 0);
  const width = perBin[0]?.length ?? ALTERNATIVES.length;
  const parts = starts.map((s, i) => {
    const sums = s < offset && folded?.[s] ? [...folded[s]!] : Array.from({ length: width }, () => 0);
    for (let b = Math.max(0, s - offset); b < perBin.length; b++)
      perBin[b]!.forEach((x, j) => (sums[j]! += x));
    return logMeanExp(sums) + Math.log(weights[i]!);
  });
  if (used < 1) parts.push(Math.log(1 - used));
  const m = Math.max(...parts);
  return m + Math.log(parts.reduce((acc, x) => acc + Math.exp(x - m), 0));
}

/** A bin's request counts, all segmentStarts reads. */
type Traffic = ReadonlyArray<{
  start: number;
  end: number;
  target: { requests: number };
  source: { requests: number };
}>;

/**
 * Where the evidence's components start (global bin indices): bin 0, the bin where the current step began
 * (`since`), and the bins where the containers' share of REQUESTS jumped (a weight write). Request counts say
 * nothing about which side fails more, so choosing starts from them costs no validity. At most `steps` starts,
 * the latest kept. `bins` are the live bins; `folded` what came before them (its starts, its last share).
 */
export function segmentStarts(
  bins: Traffic,
  since: number | undefined,
  steps: number,
  folded?: { bins: number; starts: readonly number[]; lastShare?: number; lastStart: number },
): number[] {
  const offset = folded?.bins ?? 0;
  const found = new Set<number>(folded?.starts ?? []);
  let prev = folded?.lastShare;
  bins.forEach((b, i) => {
    const n = b.target.requests + b.source.requests;
    if (!(n > 0)) return;
    const share = b.target.requests / n;
    if (prev !== undefined && i + offset > 0 && share > prev * 1.3 + 0.002) found.add(i + offset);
    prev = share;
  });
  if (since !== undefined) {
    // The first bin that starts at or after `since`; the first live one only when `since` fell in the last
    // folded bin (an earlier one was found, and kept, when it was folded).
    const i = bins.findIndex((b) => b.start >= since);
    if (i > 0 || (i === 0 && folded && offset > 0 && since > folded.lastStart)) found.add(i + offset);
  }
  const later = [...found].filter((i) => i > 0).sort((a, b) => a - b);
  return [0, ...later.slice(-Math.max(0, steps - 1))];
}

/** The live bins' segments: each start as a live index (one before them begins the first live segment). */
export function liveSegmentation(
  starts: readonly number[],
  offset: number,
): { starts: number[]; ids: number[] } {
  const local: number[] = [];
  const ids: number[] = [];
  for (const s of starts) {
    const l = Math.max(0, s - offset);
    if (local.at(-1) === l) ids[ids.length - 1] = s;
    else {
      local.push(l);
      ids.push(s);
    }
  }
  return { starts: local, ids };
}
