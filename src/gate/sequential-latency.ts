/**
 * The sequential method's latency checks (pure), on Istio's histogram buckets.
 *
 *  - <q> (maxMs): the share of the containers' requests slower than maxMs (rounded up to a bucket bound) against
 *    1 − q, like for like with the VMs (held to the VMs' share where the VMs breach it too).
 *  - <q>-vs-source (maxRatioToSource r): the containers' q-quantile ≤ r × the VMs'. Tested as: the containers'
 *    share slower than a bound B ≤ the VMs' share slower than B / r. That holds under the null whenever the
 *    containers' latency is the VMs' scaled by at most r (and for any shape whose tail above B/r is no heavier);
 *    a uniformly 10 % slower container passes a 1.2× allowance. The VMs' share at B / r, which lies between two
 *    bounds, is interpolated log-linearly in both share and latency (a power-law tail; exact for Pareto tails,
 *    within a few percent for log-normal ones — the assumption the README states). B is the bound whose B / r
 *    the VMs' tail crosses nearest to 1 − q, chosen from the VMs' traffic BEFORE the migration's evidence
 *    (`baseline`), so the threshold is not picked from the data it then tests. Where the VMs' share changes more
 *    than MAX_BUCKET_DROP× across the bucket holding B / r, the buckets cannot resolve r: the check says so and
 *    is skipped (finer buckets: see the README).
 */
import { pct } from './format.js';
import type { LatencyObjective, PolicySpec } from '../plan/schema.js';
import { ISTIO_LATENCY_BUCKETS_MS } from './buckets.js';
import { conditionalDispersion, ownDispersion } from './dispersion.js';
import { mixtureOverStarts, rateBinLLR, ratioBinLLR } from './evidence.js';
import { normalQuantile, wilson } from './stats.js';
import { normalCdf } from './sequential.js';
import { QUANTILES, type BinCounts, type CheckResult, type Quantile } from './types.js';
import { binsNote, toCheck, type Evidence } from './sequential-common.js';

/** Beyond this drop of the VMs' tail share across one bucket, interpolating inside it cannot resolve a ratio. */
export const MAX_BUCKET_DROP = 60;

export function minSamplesFor(q: Quantile, o: LatencyObjective): number {
  // ≥ 5 samples above the quantile, and never fewer than 100: a median of 30 requests moves by ±15 %.
  return o.minSamples ?? Math.max(100, Math.ceil(5 / (1 - QUANTILES[q])));
}

/** Requests slower than Istio's bound at `index`, from cumulative bucket counts. */
export function slowerThan(side: BinCounts, index: number): number {
  if (index < 0) return side.latencyCount;
  return Math.max(0, side.latencyCount - (side.buckets[index] ?? side.latencyCount));
}

/** Where B / r falls: the bounds around it and the interpolation weight w (slower ≈ (1−w)·S(lo) + w·S(hi)). */
export interface Interpolation {
  bound: number;
  lo: number;
  hi: number;
  w: number;
  /** How many times the VMs' tail share drops across the bucket holding B / r. */
  drop: number;
  /** The null ratio: 1 plus the worst error of the interpolation at this drop (see INTERPOLATION_ERROR). */
  rho0: number;
}

const B = ISTIO_LATENCY_BUCKETS_MS;

/**
 * The allowance for the interpolation, by the tail share's drop across the bucket: exact for a log-normal
 * latency, the interpolation is off for other shapes by at most what a curve through three bounds can miss —
 * these are the largest errors of a log-share quadratic on log-normal tails of any median and σ ≥ 0.4 over
 * Istio's default buckets (computed numerically), a bound the probit fit stays within on the decisions bench's
 * shapes. The comparison's null ratio is widened by it, so interpolation does not manufacture evidence.
 */
export const INTERPOLATION_ERROR: ReadonlyArray<[maxDrop: number, error: number]> = [
  [2, 0.01],
  [3, 0.03],
  [5, 0.06],
  [8, 0.1],
  [MAX_BUCKET_DROP, 0.14],
];

/** The quadratic through three points (Lagrange), evaluated at x. */
function quadratic(xs: readonly number[], ys: readonly number[], x: number): number {
  let total = 0;
  for (let i = 0; i < 3; i++) {
    let t = ys[i]!;
    for (let j = 0; j < 3; j++) if (i !== j) t *= (x - xs[j]!) / (xs[i]! - xs[j]!);
    total += t;
  }
  return total;
}

/**
 * The VMs' share slower than B[j] / r, from their cumulative counts `ref`: the probit of the share already served
 * (Φ⁻¹ of the CDF) as a function of log-latency — a straight line for a log-normal latency, exactly — through
 * the bounds around B / r and the next one that is informative, as a quadratic (which follows a tail that bends
 * away from log-normal, e.g. a slow minority).
 */
export function interpolateAt(ref: BinCounts, j: number, r: number): Interpolation | undefined {
  const x = B[j]! / r;
  const hi = B.findIndex((b) => b >= x);
  const lo = hi - 1;
  const n = ref.latencyCount;
  if (hi < 0 || lo < 0 || !(n > 0)) return undefined;
  const sLo = slowerThan(ref, lo);
  const sHi = slowerThan(ref, hi);
  if (!(sLo > 0) || !(sHi > 0) || !(sLo < n)) return undefined;
  const drop = sLo / sHi;
  const probit = (k: number) => normalQuantile(1 - slowerThan(ref, k) / n);
  const informative = (k: number) =>
    k >= 0 && k < B.length && slowerThan(ref, k) > 0 && slowerThan(ref, k) < n;
  const third = [lo - 1, hi + 1].find(informative);
  const knots = third === undefined ? [lo, hi] : [lo, hi, third];
  const lx = knots.map((k) => Math.log(B[k]!));
  const ly = knots.map(probit);
  const f = (Math.log(x) - lx[0]!) / (lx[1]! - lx[0]!);
  const z = knots.length === 3 ? quadratic(lx, ly, Math.log(x)) : (1 - f) * ly[0]! + f * ly[1]!;
  const target = Math.min(sLo, Math.max(sHi, n * (1 - normalCdf(z))));
  const w = sLo === sHi ? f : (sLo - target) / (sLo - sHi);
  const error = INTERPOLATION_ERROR.find(([d]) => drop <= d)?.[1] ?? Infinity;
  return { bound: j, lo, hi, w, drop, rho0: 1 + error };
}

/** B for quantile q: the bound whose B / r the VMs' tail share crosses nearest to 1 − q (on `ref`). */
export function chooseBound(ref: BinCounts, q: Quantile, r: number): Interpolation | undefined {
  const total = ref.latencyCount;
  if (!(total > 0)) return undefined;
  let best: Interpolation | undefined;
  let bestGap = Infinity;
  for (let j = 1; j < B.length; j++) {
    const it = interpolateAt(ref, j, r);
    if (!it) continue;
    const share = ((1 - it.w) * slowerThan(ref, it.lo) + it.w * slowerThan(ref, it.hi)) / total;
    const gap = Math.abs(Math.log(share / (1 - QUANTILES[q])));
    if (gap < bestGap) [best, bestGap] = [it, gap];
  }
  return best;
}

const sourceSlower = (c: BinCounts, it: Interpolation) =>
  (1 - it.w) * slowerThan(c, it.lo) + it.w * slowerThan(c, it.hi);

function absoluteCheck(q: Quantile, o: LatencyObjective, ev: Evidence, ready: boolean, notReady: string) {
  const i = B.findIndex((b) => b >= o.maxMs!);
  const bound = B[i] ?? o.maxMs!;
  const allowed = 1 - QUANTILES[q];
  const n = ev.target.latencyCount;
  const slow = i >= 0 ? slowerThan(ev.target, i) : 0;
  const vmShare =
    ev.source.latencyCount > 0 && i >= 0 ? slowerThan(ev.source, i) / ev.source.latencyCount : 0;
  const p0 = Math.max(allowed, vmShare);
  const own = ownDispersion(
    ev.bins.map((b) => ({ events: i >= 0 ? slowerThan(b.target, i) : 0, trials: b.target.latencyCount })),
    ev.starts,
  );
  const perBin = ev.bins.map((b, k) =>
    rateBinLLR(i >= 0 ? slowerThan(b.target, i) : 0, b.target.latencyCount, p0, {
      phi: own.phi[k]!,
      cap: ev.cap,
    }),
  );
  const note = vmShare > allowed ? `; the VMs breach it too (${pct(vmShare)}): held to theirs` : '';
  return toCheck({
    name: q,
    logE: mixtureOverStarts(perBin, ev.starts, ev.steps),
    level: ev.level,
    observed: n > 0 ? slow / n : 0,
    threshold: p0,
    numbers: `${pct(n > 0 ? slow / n : 0)} of target requests over ${bound} ms (${Math.round(slow)}/${Math.round(n)} ${ev.scope}; ${q} ≤ ${o.maxMs} ms allows ${pct(allowed)}${note})`,
    ready,
    notReady,
    notReadyOutcome: 'skipped',
  });
}

function comparisonCheck(
  q: Quantile,
  o: LatencyObjective,
  ev: Evidence,
  baseline: BinCounts | undefined,
  gate: { ready: boolean; notReady: string; need: number },
): CheckResult {
  const name = `${q}-vs-source`;
  const skip = (why: string): CheckResult => ({
    name,
    outcome: 'skipped',
    failureThreshold: 1,
    message: `${q} not compared: ${why}`,
  });
  const ref = baseline && baseline.latencyCount >= gate.need ? baseline : ev.source;
  if (ref.latencyCount < gate.need)
    return skip(
      `too little VM traffic to place their ${q} (${Math.round(ref.latencyCount)} samples, need ${gate.need})`,
    );
  const it = chooseBound(ref, q, o.maxRatioToSource!);
  if (!it) return skip(`the VMs' ${q} is outside Istio's buckets`);
  const r = o.maxRatioToSource!;
  const at = B[it.bound]!;
  if (!Number.isFinite(it.rho0))
    return skip(
      `the VMs' ${q} lies in the ${B[it.lo]}–${B[it.hi]} ms bucket, whose tail share drops ${it.drop.toFixed(0)}× across it: cannot tell ${r}× with these buckets (add finer ones, see the README)`,
    );
  const batches = ev.bins.map((b) => ({
    target: { events: slowerThan(b.target, it.bound), trials: b.target.latencyCount },
    source: { events: sourceSlower(b.source, it), trials: b.source.latencyCount },
  }));
  const cond = conditionalDispersion(batches, ev.starts);
  const own = ownDispersion(
    batches.map((b) => b.target),
    ev.starts,
  );
  const ks = sourceSlower(ev.source, it);
  const sn = ev.source.latencyCount;
  const before = sn > 0 ? ks / sn : 0;
  // After promotion the VMs serve nothing: the containers are held to the VMs' share before, at its upper bound.
  const bound = Math.min(0.999, wilson(ks, sn, 0.99).high);
  const perBin = batches.map((b, k) =>
    b.source.trials > 0
      ? ratioBinLLR(b, it.rho0, { phi: cond.phi[k]!, cap: ev.cap })
      : rateBinLLR(b.target.events, b.target.trials, Math.min(0.999, bound * it.rho0), {
          phi: own.phi[k]!,
          cap: ev.cap,
        }),
  );
  const n = ev.target.latencyCount;
  const kt = slowerThan(ev.target, it.bound);
  return toCheck({
    name,
    logE: mixtureOverStarts(perBin, ev.starts, ev.steps),
    level: ev.level,
    observed: n > 0 ? kt / n : 0,
    threshold: before * it.rho0,
    numbers: `${pct(n > 0 ? kt / n : 0)} of target requests over ${at} ms (${Math.round(kt)}/${Math.round(n)}) vs ${pct(before)} of the VMs' over ${(at / r).toFixed(0)} ms ${ev.scope} (${q} allowed ${r}×; ${((it.rho0 - 1) * 100).toFixed(0)} % allowed for interpolating inside the ${B[it.lo]}–${B[it.hi]} ms bucket)`,
    ready: gate.ready,
    notReady: gate.notReady,
    notReadyOutcome: 'skipped',
  });
}

/** The latency checks; `baseline`: the VMs' counts before the evidence started (places their quantiles). */
export function latencyChecks(policy: PolicySpec, ev: Evidence, baseline?: BinCounts): CheckResult[] {
  const out: CheckResult[] = [];
  const stepN = ev.stepTarget.latencyCount ?? ev.stepTarget.requests;
  for (const q of ['p50', 'p95', 'p99'] as const) {
    const o = policy.slo.latency?.[q];
    if (!o) continue;
    const need = minSamplesFor(q, o);
    const ready = stepN >= need && !binsNote(ev);
    const notReady = `${q} not judged yet: ${binsNote(ev) ?? `${Math.round(stepN)} target samples since the step started, need ${need}`}`;
    if (o.maxMs !== undefined) out.push(absoluteCheck(q, o, ev, ready, notReady));
    if (o.maxRatioToSource !== undefined)
      out.push(comparisonCheck(q, o, ev, baseline, { ready, notReady, need }));
  }
  return out;
}
