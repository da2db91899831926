/**
 * The sequential method's latency checks (pure), on Istio's histogram buckets.
 *
 *  - <q> (maxMs): the share of the containers' requests slower than maxMs (rounded up to a bucket bound) against
 *    1 − q, like for like with the VMs: held to the VMs' share where the VMs breach it too, over the migration
 *    and bin by bin (their share over maxMs ÷ r there, r the quantile's ratio allowance).
 *  - <q>-vs-source (maxRatioToSource r): the containers' q-quantile ≤ r × the VMs'. The VMs' q-quantile is placed
 *    from their own counts (an upper 90 % confidence bound, so sampling noise does not tighten the null), and the
 *    test is then the containers' share slower than x* = r × that quantile against 1 − q: under the null at
 *    most 1 − q of their requests are slower than x*. The VMs' counts only choose x* (they are independent of
 *    the containers' counts the test reads), so the choice costs no validity. In a bin where the VMs' own requests
 *    show them slower (a dependency both sides share got slow: not the containers' doing), x* is r × their
 *    quantile in that bin (slowerSourceBins); at 100 % x* is what the VMs showed before. A uniformly 10 % slower
 *    container passes a 1.2× allowance; a p99 30 % higher fails it wherever the VMs' p99 sits relative to the
 *    bounds.
 *  - Between bounds, shares are interpolated on the probit of the CDF against log-latency (a straight line for a
 *    log-normal latency, exactly), through the bounds around the point and the next informative one, as a
 *    quadratic. The null is widened by INTERPOLATION_ERROR. The assumption: latency is log-normal-like inside a
 *    bucket. A slow minority whose own mode sits inside the bucket bends the curve and can bias the share by up
 *    to ~2× (computed for log-normal mixtures); finer buckets remove the assumption (docs/gate.md). Where the
 *    containers' share drops more than MAX_BUCKET_DROP× across the bucket holding x*, the check says it cannot
 *    tell and is skipped.
 */
import { pct } from '../stats/format.js';
import type { LatencyObjective, PolicySpec } from '../../plan/policy-schema.js';
import { ISTIO_LATENCY_BUCKETS_MS } from '../input/buckets.js';
import { rateBinLLR } from '../stats/evidence.js';
import { normalQuantile, wilson } from '../stats/stats.js';
import { LATENCY_RATIO_ALTERNATIVES, normalCdf } from '../stats/sequential.js';
import { QUANTILES, type BinCounts, type CheckResult, type Quantile } from '../types.js';
import { binsNote, dispersionOf, testEvidence, toCheck, type Evidence } from './sequential-common.js';

/** Beyond this drop of the VMs' tail share across one bucket, interpolating inside it cannot resolve a ratio. */
export const MAX_BUCKET_DROP = 60;

export function minSamplesFor(q: Quantile, o: LatencyObjective): number {
  // ≥ 5 samples above the quantile, and never fewer than 100: a median of 30 requests moves by ±15 %.
  return o.minSamples ?? Math.max(100, Math.ceil(5 / (1 - QUANTILES[q])));
}

/** Requests slower than Istio's bound at `index`, from cumulative bucket counts. */
/** A side's histogram bounds (Istio's defaults unless the side reports its own). */
export const boundsOf = (c: BinCounts): readonly number[] => c.bounds ?? ISTIO_LATENCY_BUCKETS_MS;

export function slowerThan(side: BinCounts, index: number): number {
  if (index < 0) return side.latencyCount;
  return Math.max(0, side.latencyCount - (side.buckets[index] ?? side.latencyCount));
}

/** Where a latency falls: the bounds around it and the interpolation weight w (slower ≈ (1−w)·S(lo) + w·S(hi)). */
export interface Interpolation {
  lo: number;
  hi: number;
  w: number;
  /** How many times the share slower drops across the bucket holding the point. */
  drop: number;
  /** The null ratio: 1 plus the worst error of the interpolation at this drop (see INTERPOLATION_ERROR). */
  rho0: number;
}

/**
 * The allowance for the interpolation, by the share's drop across the bucket: exact for a log-normal latency,
 * the probit quadratic is off for log-normal-like shapes by a few percent; the null is widened by this much.
 * It does not cover a slow minority whose own mode sits inside the bucket (up to ~2×; see the header).
 */
export const INTERPOLATION_ERROR: ReadonlyArray<[maxDrop: number, error: number]> = [
  [12, 0.02],
  [MAX_BUCKET_DROP, 0.04],
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
 * The share of `ref`'s requests slower than `x`, from its cumulative counts: the probit of the share already
 * served (Φ⁻¹ of the CDF) as a function of log-latency — a straight line for a log-normal latency, exactly —
 * through the bounds around x and the next one that is informative, as a quadratic (which follows a tail that
 * bends away from log-normal).
 */
export function interpolateAt(ref: BinCounts, x: number): Interpolation | undefined {
  const B = boundsOf(ref);
  const hi = B.findIndex((b) => b >= x);
  const lo = hi - 1;
  const n = ref.latencyCount;
  if (hi < 0 || lo < 0 || !(n > 0)) return undefined;
  const sLo = slowerThan(ref, lo);
  const sHi = slowerThan(ref, hi);
  // Half a request of continuity at either end: a bucket every request is slower than (a latency floor), or none
  // is, still has a finite probit.
  const clamp = (k: number) => Math.min(n - 0.5, Math.max(0.5, k));
  const drop = clamp(sLo) / clamp(sHi);
  const probit = (k: number) => normalQuantile(1 - clamp(slowerThan(ref, k)) / n);
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
  return { lo, hi, w, drop, rho0: 1 + error };
}

/** Requests of `c` slower than an interpolated point: (1 − w)·S(lo) + w·S(hi) on `c`'s own counts. */
export function slowerAt(c: BinCounts, at: Interpolation): number {
  return (1 - at.w) * slowerThan(c, at.lo) + at.w * slowerThan(c, at.hi);
}

/**
 * The latency below which all but `share` of `ref`'s requests fall, interpolated between bounds (probit against
 * log-latency, bisection); undefined outside the buckets.
 */
export function latencyAtShare(ref: BinCounts, share: number): number | undefined {
  const n = ref.latencyCount;
  if (!(n > 0)) return undefined;
  const B = boundsOf(ref);
  const above = (x: number) => {
    const it = interpolateAt(ref, x);
    return it ? slowerAt(ref, it) : n;
  };
  let lo = Math.log(B[0]!);
  let hi = Math.log(B.at(-1)!);
  // Beyond the last bound nothing can be placed; below the first, the quantile is at most that bound.
  if (slowerThan(ref, B.length - 1) / n > share) return undefined;
  if (slowerThan(ref, 0) / n <= share) return B[0];
  for (let k = 0; k < 50; k++) {
    const mid = (lo + hi) / 2;
    if (above(Math.exp(mid)) / n > share) lo = mid;
    else hi = mid;
  }
  return Math.exp(hi);
}

/** Confidence of the upper bound on the VMs' quantile. */
export const QUANTILE_CONFIDENCE = 0.9;

/** The VMs' q-quantile at its upper 90 % confidence bound: where the share above it is significantly ≤ 1 − q. */
export function sourceQuantileUpper(ref: BinCounts, q: Quantile): number | undefined {
  const n = ref.latencyCount;
  const want = 1 - QUANTILES[q];
  // The observed share whose upper 90 % bound is 1 − q: at that latency the VMs' true share is ≤ 1 − q, so their
  // true quantile lies below it (with 90 % confidence; the VMs serve most requests, so this costs little).
  let share = want;
  for (let k = 0; k < 30; k++)
    share *= want / Math.max(wilson(share * n, n, QUANTILE_CONFIDENCE).high, 1e-12);
  return latencyAtShare(ref, Math.max(1e-6, share));
}

/**
 * Confidence that the VMs were slower in one bin before the checks follow them there: high, so that among a
 * migration's hundreds of bins chance alone rarely exempts one (each costs the test that bin's evidence); a
 * shared slowdown of ×1.2 or more clears it at once with a few thousand requests a bin.
 */
export const SHARED_SLOWDOWN_CONFIDENCE = 0.999;
/** Confidence of the lower bound on the VMs' quantile (or share) in a bin where they were slower. */
export const BIN_QUANTILE_CONFIDENCE = 0.9;
/** A bin places the VMs' quantile only with this many of their requests expected beyond it. */
const MIN_TAIL_PER_BIN = 5;

/** The VMs' q-quantile in one bin at its lower 90 % bound: the latency their bin is significantly slower than. */
export function sourceQuantileLower(ref: BinCounts, q: Quantile): number | undefined {
  const n = ref.latencyCount;
  const want = 1 - QUANTILES[q];
  if (!(n * want >= MIN_TAIL_PER_BIN)) return undefined;
  let share = want;
  for (let k = 0; k < 30; k++)
    share = Math.min(
      0.999,
      share * (want / Math.max(wilson(share * n, n, BIN_QUANTILE_CONFIDENCE).low, 1e-12)),
    );
  return latencyAtShare(ref, share);
}

/**
 * Like for like: the VMs' q-quantile in each bin where their own requests show it above `qs` (the pooled one), at
 * its lower 90 % bound; undefined where they do not (most bins: one Wilson bound on the share above `qs` decides).
 * A dependency both sides share that gets slow raises the VMs' bin too, and x* follows it there.
 */
export function slowerSourceBins(
  bins: ReadonlyArray<{ source: BinCounts }>,
  q: Quantile,
  qs: number,
  pooled: BinCounts,
): Array<number | undefined> {
  const want = 1 - QUANTILES[q];
  const at = qs <= boundsOf(pooled)[0]! ? undefined : interpolateAt(pooled, qs);
  return bins.map(({ source: b }) => {
    const n = b.latencyCount;
    if (!(n * want >= MIN_TAIL_PER_BIN)) return undefined;
    const slow = at ? slowerAt(b, at) : slowerThan(b, 0);
    if (wilson(slow, n, SHARED_SLOWDOWN_CONFIDENCE).low <= want) return undefined;
    const lower = sourceQuantileLower(b, q);
    return lower !== undefined && lower > qs ? lower : undefined;
  });
}

interface Readiness {
  ready: boolean;
  notReady: string;
  /** Samples this step must have before the check can pass. */
  need: number;
  /** What a check that cannot pass yet is: skipped, or inconclusive (the last gate waits for the samples). */
  outcome: 'inconclusive' | 'skipped';
  /** This is the step before 100 % and the policy asks it to wait for what it needs to judge. */
  lastGateWaits: boolean;
}

function absoluteCheck(q: Quantile, o: LatencyObjective, ev: Evidence, gate: Readiness) {
  const bt = boundsOf(ev.target);
  const i = bt.findIndex((b) => b >= o.maxMs!);
  const bound = bt[i] ?? o.maxMs!;
  const allowed = 1 - QUANTILES[q];
  const n = ev.target.latencyCount;
  const slow = i >= 0 ? slowerThan(ev.target, i) : 0;
  // The VMs' share over the same bound, or the next one up if their buckets differ (never more lenient).
  const j = boundsOf(ev.source).findIndex((b) => b >= bound);
  const vmShare =
    ev.source.latencyCount > 0 && i >= 0 && j >= 0 ? slowerThan(ev.source, j) / ev.source.latencyCount : 0;
  const p0 = Math.max(allowed, vmShare);
  // Like for like: a bin where the VMs' own share over the bound is significantly higher (a shared dependency got
  // slow: not the containers' doing) holds the containers to what the VMs served there, with the quantile's
  // ratio allowance: their share over bound ÷ r (containers r× slower than these VMs would serve exactly that),
  // at its lower 90 % bound.
  const r = o.maxRatioToSource ?? 1;
  let held = 0;
  const p0s = ev.bins.map((b) => {
    const m = b.source.latencyCount;
    if (!(j >= 0 && i >= 0 && m * allowed >= MIN_TAIL_PER_BIN)) return p0;
    if (!(wilson(slowerThan(b.source, j), m, SHARED_SLOWDOWN_CONFIDENCE).low > p0)) return p0;
    const at = r > 1 ? interpolateAt(b.source, bound / r) : undefined;
    const slow = at && Number.isFinite(at.rho0) ? slowerAt(b.source, at) : slowerThan(b.source, j);
    const low = wilson(slow, m, BIN_QUANTILE_CONFIDENCE).low;
    if (!(low > p0)) return p0;
    held++;
    return low;
  });
  const own = dispersionOf(
    ev,
    `${q}/own`,
    ev.bins.map((b) => ({ events: i >= 0 ? slowerThan(b.target, i) : 0, trials: b.target.latencyCount })),
  );
  const perBin = ev.bins.map((b, k) =>
    rateBinLLR(i >= 0 ? slowerThan(b.target, i) : 0, b.target.latencyCount, p0s[k]!, {
      phi: own.phi[k]!,
      cap: ev.cap,
    }),
  );
  const note =
    vmShare > allowed
      ? `; the VMs breach it too (${pct(vmShare)}): held to theirs`
      : held > 0
        ? `; held to the VMs' own share in ${held} of ${ev.offset + ev.bins.length} bins where they breached it`
        : '';
  return toCheck({
    name: q,
    logE: testEvidence(ev, q, perBin),
    level: ev.level,
    observed: n > 0 ? slow / n : 0,
    threshold: p0,
    numbers: `${pct(n > 0 ? slow / n : 0)} of target requests over ${bound} ms (${Math.round(slow)}/${Math.round(n)} ${ev.scope}; ${q} ≤ ${o.maxMs} ms allows ${pct(allowed)}${note})`,
    ready: gate.ready,
    notReady: gate.notReady,
    notReadyOutcome: gate.outcome,
  });
}

/** Whether the step before 100 % waits for what it needs to judge (the policy's detectBeforePromotion). */
const lastGateWaits = (policy: PolicySpec, ev: Evidence) =>
  ev.lastGate && policy.analysis.detectBeforePromotion !== undefined;

function comparisonCheck(q: Quantile, o: LatencyObjective, ev: Evidence, gate: Readiness): CheckResult {
  const name = `${q}-vs-source`;
  const r = o.maxRatioToSource!;
  const skip = (why: string, outcome: 'inconclusive' | 'skipped' = 'skipped'): CheckResult => ({
    name,
    outcome,
    failureThreshold: 1,
    message: `${q} not compared: ${why}`,
  });
  const vm = ev.source;
  // More VM traffic comes with time: the last gate waits for it, like for the containers' samples.
  if (vm.latencyCount < gate.need)
    return skip(
      `too little VM traffic to place their ${q} (${Math.round(vm.latencyCount)} samples, need ${gate.need}${gate.lastGateWaits ? ' before 100 %' : ''})`,
      gate.lastGateWaits ? 'inconclusive' : 'skipped',
    );
  const qs = sourceQuantileUpper(vm, q);
  if (qs === undefined) return skip(`the VMs' ${q} is outside their histogram's buckets`);
  const x = r * qs;
  const pooled = ev.target;
  const B = boundsOf(pooled);
  if (x > B.at(-1)!) return skip(`${x.toFixed(0)} ms is beyond the containers' last histogram bound`);
  // Below the first bound, the share slower than that bound stands in (fewer events: never more evidence).
  const it = x <= B[0]! ? undefined : interpolateAt(pooled, x);
  if (it && !Number.isFinite(it.rho0))
    return skip(
      `the containers' share slower than ${x.toFixed(0)} ms cannot be read from the histogram's buckets there (it drops ${it.drop.toFixed(0)}× across the ${B[it.lo]}–${B[it.hi]} ms bucket): cannot tell ${r}× (add finer buckets: docs/gate.md)`,
    );
  const above = (c: BinCounts) => (it ? slowerAt(c, it) : slowerThan(c, 0));
  const allowed = 1 - QUANTILES[q];
  const p0 = Math.min(0.999, allowed * (it?.rho0 ?? 1));
  // Where the VMs were slower in the same bin, x* is r × their quantile there, interpolated the same way (a bin
  // whose x* the buckets cannot place adds no evidence).
  const slower = slowerSourceBins(ev.bins, q, qs, vm);
  const bins = ev.bins.map((b, k) => {
    const s = slower[k];
    if (s === undefined) return { events: above(b.target), trials: b.target.latencyCount, p0 };
    const at = interpolateAt(pooled, r * s);
    if (!at || !Number.isFinite(at.rho0)) return { events: 0, trials: 0, p0 };
    return {
      events: slowerAt(b.target, at),
      trials: b.target.latencyCount,
      p0: Math.min(0.999, allowed * at.rho0),
    };
  });
  const own = dispersionOf(ev, `${name}/own`, bins);
  const perBin = bins.map((b, k) =>
    rateBinLLR(b.events, b.trials, b.p0, { phi: own.phi[k]!, cap: ev.cap }, LATENCY_RATIO_ALTERNATIVES),
  );
  const followed = slower.filter((s) => s !== undefined).length;
  const shared = followed
    ? `; x* follows the VMs in ${followed} of ${ev.offset + ev.bins.length} bins where they were slower themselves`
    : '';
  const n = pooled.latencyCount;
  const kt = above(pooled);
  const tolerance = it
    ? ` (${((it.rho0 - 1) * 100).toFixed(0)} % allowed for interpolating in the ${B[it.lo]}–${B[it.hi]} ms bucket)`
    : '';
  return toCheck({
    name,
    logE: testEvidence(ev, name, perBin),
    level: ev.level,
    observed: n > 0 ? kt / n : 0,
    threshold: p0,
    numbers: `${pct(n > 0 ? kt / n : 0)} of target requests over ${x.toFixed(0)} ms = ${r}× the VMs' ${q} (≤ ${qs.toFixed(0)} ms) ${ev.scope}, allowed ${pct(allowed)}${tolerance}${shared}`,
    ready: gate.ready,
    notReady: gate.notReady,
    notReadyOutcome: gate.outcome,
  });
}

/** The latency checks. */
export function latencyChecks(policy: PolicySpec, ev: Evidence): CheckResult[] {
  const out: CheckResult[] = [];
  const stepN = ev.stepTarget.latencyCount ?? ev.stepTarget.requests;
  const waits = lastGateWaits(policy, ev);
  for (const q of ['p50', 'p95', 'p99'] as const) {
    const o = policy.slo.latency?.[q];
    if (!o) continue;
    const need = minSamplesFor(q, o);
    // With detectBeforePromotion, a check short of samples at the last step's load holds it (waiting, up to
    // maxBake) instead of letting 100 % go ahead with it unjudged; at earlier steps the evidence carries forward.
    const wait = waits && !binsNote(ev) && stepN < need;
    const gate: Readiness = {
      ready: stepN >= need && !binsNote(ev),
      notReady: `${q} not judged yet: ${binsNote(ev) ?? `${Math.round(stepN)} target samples since the step started, need ${need}${wait ? ' before 100 %' : ''}`}`,
      need,
      outcome: wait ? 'inconclusive' : 'skipped',
      lastGateWaits: waits,
    };
    if (o.maxMs !== undefined) out.push(absoluteCheck(q, o, ev, gate));
    if (o.maxRatioToSource !== undefined) out.push(comparisonCheck(q, o, ev, gate));
  }
  return out.map((c) => (c.outcome === 'inconclusive' ? { ...c, waiting: true } : c));
}
