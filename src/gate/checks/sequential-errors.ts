/**
 * The sequential method's error checks (pure).
 *
 *  - error-rate: the containers' errors against the SLO, like for like: in each bin the null rate is the SLO or
 *    the VMs' own rate (that bin's, or everything the VMs served so far), whichever is higher — a shared
 *    dependency that fails both sides is not the containers' doing. Bins at 100 % hold the containers to the
 *    VMs' rate as it was measured before (the VMs serve nothing then).
 *  - error-rate-vs-source: the containers' share of each bin's errors against the share their requests predict
 *    (H0: their rate ≤ the VMs' + maxIncreaseOverSource); it runs when the VMs had no errors at all too (each
 *    container error is then evidence on its own). Bins at 100 % — the post-promotion watch — test the
 *    containers against an upper bound of the VMs' rate before promotion.
 */
import { pct } from '../stats/format.js';
import type { PolicySpec } from '../../plan/policy-schema.js';
import { rateBinLLR, ratioBinLLR } from '../stats/evidence.js';
import { errorPromotionReadiness, type ReadinessInput } from '../stats/promotion.js';
import { wilson } from '../stats/stats.js';
import { addMoments, ownDispersion, type MomentSums } from '../stats/dispersion.js';
import type { CheckResult } from '../types.js';
import {
  binsNote,
  burstNote,
  conditionalDispersionOf,
  dispersionOf,
  lastSegmentFrom,
  testEvidence,
  toCheck,
  type Evidence,
} from './sequential-common.js';

/** Bins with fewer VM requests than this do not set a like-for-like rate on their own. */
const MIN_VM_REQUESTS_PER_BIN = 100;

/** The VMs' cumulative error rate up to each bin (carried over bins where they served nothing). */
function vmRates(ev: Evidence): number[] {
  let k = ev.folded?.source.errors ?? 0;
  let n = ev.folded?.source.requests ?? 0;
  return ev.bins.map((b) => {
    k += b.source.errors;
    n += b.source.requests;
    return n > 0 ? k / n : 0;
  });
}

/**
 * How bursty the VMs' own errors are (κ of their counts, bin to bin): the floor of the containers' dispersion.
 * The VMs serve most requests from the first bin, so their burstiness is measured long before the containers'
 * few errors can show theirs; a side-wide burst on the containers is then tempered from the start instead of
 * after the estimate has caught up.
 */
function sourceKappa(ev: Evidence): number {
  return dispersionOf(
    ev,
    'errors/source',
    ev.bins.map((b) => ({ events: b.source.errors, trials: b.source.requests })),
    0,
    historyMoments(ev.history),
  ).kappa;
}

/** Segment id of the history's bins (the migration's segments are its start bins, ≥ 0). */
const HISTORY_SEGMENT = -1;

/**
 * The moment sums of the VMs' bins before the evidence start (one fitted rate: one segment), so their
 * burstiness is the floor from the first bin; exported for the tests.
 */
export function historyMoments(history: Evidence['history']): MomentSums | undefined {
  if (!history?.length) return undefined;
  const terms = ownDispersion(history, { starts: [0], ids: [HISTORY_SEGMENT] }).terms;
  return addMoments(undefined, terms);
}

/**
 * The VMs' error rate before promotion at its upper 99 % bound — what the watch after 100 % holds the containers
 * to. Their errors are as bursty as `kappa` says, so the bound counts n/φ requests, φ = 1 + κ·Σμ²/Σμ over their
 * bins (μ a bin's expected errors; the live bins tell the mix, else the mean bin): a Poisson bound on bursty
 * counts sat below the VMs' true rate — a heavy-tailed rate's average is more often below its mean than above —
 * and the containers, as good as the VMs, drifted past it.
 */
export function vmRateBound(ev: Evidence, sk: number, sn: number, kappa: number): number {
  const rate = sn > 0 ? sk / sn : 0;
  let mu = 0;
  let mu2 = 0;
  for (const b of ev.bins) {
    const m = b.source.requests * rate;
    mu += m;
    mu2 += m * m;
  }
  const perBin = mu > 0 ? mu2 / mu : sk / Math.max(1, ev.offset + ev.bins.length);
  const phi = 1 + kappa * perBin;
  return wilson(sk / phi, sn / phi, 0.99).high;
}

function absoluteCheck(policy: PolicySpec, ev: Evidence, max: number, floor: number): CheckResult {
  const n = ev.target.requests;
  const k = Math.min(ev.target.errors, n);
  const cumulative = vmRates(ev);
  let held = 0;
  const p0 = ev.bins.map((b, i) => {
    const own = b.source.requests >= MIN_VM_REQUESTS_PER_BIN ? b.source.errors / b.source.requests : 0;
    const p = Math.max(max, own, cumulative[i]!);
    if (p > max) held++;
    return p;
  });
  const own = dispersionOf(
    ev,
    'error-rate/own',
    ev.bins.map((b) => ({ events: b.target.errors, trials: b.target.requests })),
    floor,
  );
  const perBin = ev.bins.map((b, i) =>
    rateBinLLR(b.target.errors, b.target.requests, p0[i]!, { phi: own.phi[i]!, cap: ev.cap }),
  );
  const vms = ev.source.requests > 0 ? ev.source.errors / ev.source.requests : 0;
  const note =
    held > 0
      ? vms > max
        ? `; the VMs breach it too (${pct(vms)}): held to theirs`
        : `; held to the VMs' own rate in ${held} of ${ev.offset + ev.bins.length} bins where they breached it`
      : '';
  const stepN = ev.stepTarget.requests;
  const { minRequests } = policy.analysis;
  return toCheck({
    name: 'error-rate',
    logE: testEvidence(ev, 'error-rate', perBin),
    level: ev.level,
    observed: n > 0 ? k / n : 0,
    threshold: Math.max(max, vms),
    numbers: `error rate ${pct(n > 0 ? k / n : 0)} (${Math.round(k)}/${Math.round(n)} ${ev.scope}) vs SLO ${pct(max)}${note}`,
    ready: stepN >= minRequests && !binsNote(ev),
    notReady:
      binsNote(ev) ??
      `only ${Math.round(stepN)} requests to the target since the step started (need ${minRequests})`,
    notReadyOutcome: 'inconclusive',
  });
}

function comparisonCheck(policy: PolicySpec, ev: Evidence, margin: number, floor: number): CheckResult {
  const name = 'error-rate-vs-source';
  const n = ev.target.requests;
  const k = Math.min(ev.target.errors, n);
  const sn = ev.source.requests;
  const sk = Math.min(ev.source.errors, sn);
  if (!(sn > 0))
    return {
      name,
      outcome: 'skipped',
      failureThreshold: 1,
      message: `not compared: no source traffic ${ev.scope}`,
    };
  const srcRate = sk / sn;
  // With no VM errors at all, a positive margin is tested as an absolute rate (the VMs' rate is ~0).
  const rho0 = margin > 0 && sk > 0 ? 1 + margin / srcRate : 1;
  const batches = ev.bins.map((b) => ({
    target: { events: b.target.errors, trials: b.target.requests },
    source: { events: b.source.errors, trials: b.source.requests },
  }));
  const cond = conditionalDispersionOf(ev, `${name}/cond`, batches, floor);
  const own = dispersionOf(
    ev,
    `${name}/own`,
    batches.map((b) => b.target),
    floor,
  );
  // After promotion the VMs serve nothing: hold the containers to what the VMs did before, at its upper bound.
  const before = vmRateBound(ev, sk, sn, floor);
  const perBin = batches.map((b, i) => {
    if (b.source.trials > 0 && !(margin > 0 && sk === 0))
      return ratioBinLLR(b, rho0, { phi: cond.phi[i]!, cap: ev.cap });
    const p0 = sk === 0 && margin > 0 ? margin : Math.min(0.999, before * rho0);
    return rateBinLLR(b.target.events, b.target.trials, p0, { phi: own.phi[i]!, cap: ev.cap });
  });
  const from = lastSegmentFrom(ev);
  const prior = ev.folded?.power;
  const question: ReadinessInput = {
    lastGate: ev.lastGate,
    ...(policy.analysis.detectBeforePromotion ? { detect: policy.analysis.detectBeforePromotion } : {}),
    bins: batches.slice(from),
    phi: cond.phi.slice(from),
    binMs: ev.binMs,
    sourceErrors: sk,
    sourceRequests: sn,
    rho0,
    level: ev.level + Math.log(1 / ev.lastStartWeight),
    ...(prior && prior.start === ev.starts.at(-1) ? { prior } : {}),
  };
  if (ev.tape) ev.tape.readiness = question;
  const readiness = errorPromotionReadiness(question);
  const stepN = ev.stepTarget.requests;
  const { minRequests } = policy.analysis;
  const allowed = margin > 0 ? `allowed +${pct(margin)}` : 'no increase allowed';
  const check = toCheck({
    name,
    logE: testEvidence(ev, name, perBin),
    level: ev.level,
    observed: n > 0 ? k / n : 0,
    threshold: srcRate + margin,
    numbers: `error rate ${pct(n > 0 ? k / n : 0)} (${Math.round(k)}/${Math.round(n)}) vs ${pct(srcRate)} on the VMs (${Math.round(sk)}/${Math.round(sn)}) ${ev.scope}, ${allowed}${ev.weight >= 100 ? ' (watching after promotion)' : ''}${burstNote(cond, floor)}`,
    ready: stepN >= minRequests && !binsNote(ev) && readiness.ok,
    notReady:
      stepN < minRequests
        ? `only ${Math.round(stepN)} requests to the target since the step started (need ${minRequests})`
        : (binsNote(ev) ?? readiness.note),
    notReadyOutcome: 'inconclusive',
  });
  return stepN >= minRequests && !binsNote(ev) && !readiness.ok && check.outcome === 'inconclusive'
    ? { ...check, waiting: true }
    : check;
}

export function errorChecks(policy: PolicySpec, ev: Evidence): CheckResult[] {
  const slo = policy.slo.errorRate;
  if (!slo) return [];
  if (!(ev.target.requests > 0))
    return [
      {
        name: 'error-rate',
        outcome: 'inconclusive',
        failureThreshold: 1,
        message: `no requests reached the target ${ev.scope}`,
      },
    ];
  const floor = sourceKappa(ev);
  const out = [absoluteCheck(policy, ev, slo.max, floor)];
  if (slo.maxIncreaseOverSource !== undefined)
    out.push(comparisonCheck(policy, ev, slo.maxIncreaseOverSource, floor));
  return out;
}
