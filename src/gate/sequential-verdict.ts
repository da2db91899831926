/**
 * The sequential method's checks (pure): anytime-valid tests on everything counted since the step started.
 *
 *  - error-rate: the target's errors against the absolute SLO (H0: rate ≤ slo.errorRate.max).
 *  - error-rate-vs-source: the target's errors against the VMs' (H0: rate ≤ the VMs' + maxIncreaseOverSource,
 *    tested as a ratio ρ0 = 1 + margin / the VMs' rate).
 *  - <q>: the share of the target's requests slower than maxMs (rounded up to a histogram bound) against 1 − q.
 *  - <q>-vs-source: the share of requests slower than the VMs' q-quantile bucket bound, on each side
 *    (H0: the target's share ≤ maxRatioToSource × the VMs').
 *
 * A check fails when its e-value reaches 1/α_check, where α_check = policy alpha ÷ (checks × steps): the
 * policy's alpha bounds the chance that a container as good as the VMs is rolled back by any check at any step.
 * A check passes only with enough requests since the step started (minRequests for errors, minSamples for
 * latency); below that it is inconclusive (errors) or skipped (latency). Inconclusive is never a pass.
 */
import { pct } from './format.js';
import type { PolicySpec } from '../plan/schema.js';
import { ISTIO_LATENCY_BUCKETS_MS } from './buckets.js';
import { errorPromotionReadiness, promotesNext } from './promotion.js';
import { logThreshold, ratioEvidenceBatches, rateEvidence } from './sequential.js';
import {
  QUANTILES,
  type BinCounts,
  type CheckResult,
  type GateSample,
  type Quantile,
  type SideSample,
} from './types.js';
import { minSamplesFor } from './verdict.js';

const round = (x: number, digits = 6) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);
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

type Bin = NonNullable<GateSample['batches']>[number];

function toBin(side: SideSample): BinCounts {
  return {
    requests: side.requests,
    errors: side.errors,
    buckets: side.buckets ?? ISTIO_LATENCY_BUCKETS_MS.map(() => side.latencyCount ?? 0),
    latencyCount: side.latencyCount ?? 0,
  };
}

function total(bins: readonly Bin[], side: 'source' | 'target'): BinCounts {
  const out: BinCounts = {
    requests: 0,
    errors: 0,
    buckets: ISTIO_LATENCY_BUCKETS_MS.map(() => 0),
    latencyCount: 0,
  };
  for (const b of bins) {
    const c = b[side];
    out.requests += c.requests;
    out.errors += c.errors;
    out.latencyCount += c.latencyCount;
    c.buckets.forEach((v, i) => (out.buckets[i]! += v));
  }
  return out;
}

/** Requests slower than Istio's bound at `index`, from cumulative bucket counts. */
function slowerThan(side: BinCounts, index: number): number {
  return Math.max(0, side.latencyCount - (side.buckets[index] ?? side.latencyCount));
}

/**
 * The bound the VMs' q-quantile falls at: the highest Istio bound above which at least half of the 1 − q share
 * of the VMs' requests lie (p99 → the bound ~1 % of requests exceed), so the test counts the tail it is about.
 */
export function sourceBoundIndex(source: BinCounts, q: Quantile): number | undefined {
  const total = source.latencyCount;
  if (!(total > 0)) return undefined;
  const want = (1 - QUANTILES[q]) / 2;
  let found: number | undefined;
  for (let i = 0; i < ISTIO_LATENCY_BUCKETS_MS.length; i++)
    if (slowerThan(source, i) / total >= want) found = i;
  return found;
}

interface Test {
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

function toCheck(t: Test): CheckResult {
  const evidence = `evidence ${fmtE(t.logE)}, rolls back at ${fmtE(t.level)}`;
  // The e-value already weighs all the evidence: one crossing is the decision (no streak on top).
  const base = {
    name: t.name,
    failureThreshold: 1,
    observed: round(t.observed),
    threshold: round(t.threshold),
  };
  if (t.logE >= t.level) return { ...base, outcome: 'fail', message: `${t.numbers}: worse (${evidence})` };
  if (!t.ready) return { ...base, outcome: t.notReadyOutcome, message: `${t.numbers}; ${t.notReady}` };
  return { ...base, outcome: 'pass', message: `${t.numbers} (${evidence})` };
}

/** What the tests see: this step's counts (readiness) and the evidence bins (carried across steps). */
interface Evidence {
  step: { target: SideSample; source: SideSample };
  bins: Bin[];
  target: BinCounts;
  source: BinCounts;
  scope: string;
  weight: number;
  level: number;
  /** The next step is 100 %: enough traffic to have seen a regression is needed before promotion. */
  lastGate: boolean;
}

/**
 * An absolute SLO breach the VMs share (a slow host, a failing dependency) is not the containers' doing and
 * rolling them back would not fix it: while the VMs serve traffic, the absolute check holds the containers to
 * the SLO or to the VMs' own rate, whichever is higher.
 */
function sharedBreach(ev: Evidence, sourceEvents: number, sourceTrials: number, limit: number) {
  if (ev.weight >= 100 || !(sourceTrials > 0)) return { p0: limit, note: '' };
  const vms = sourceEvents / sourceTrials;
  return vms > limit
    ? { p0: vms, note: `; the VMs breach it too (${pct(vms)}): held to theirs` }
    : { p0: limit, note: '' };
}

function errorTests(policy: PolicySpec, ev: Evidence): CheckResult[] {
  const slo = policy.slo.errorRate;
  if (!slo) return [];
  const { minRequests } = policy.analysis;
  const stepN = ev.step.target.requests;
  const n = ev.target.requests;
  const k = Math.min(ev.target.errors, n);
  const out: CheckResult[] = [];
  if (!(n > 0)) {
    out.push({
      name: 'error-rate',
      outcome: 'inconclusive',
      failureThreshold: 1,
      message: `no requests reached the target ${ev.scope}`,
    });
    return out;
  }
  const rate = k / n;
  const ready = stepN >= minRequests;
  const notReady = `only ${stepN} requests to the target since the step started (need ${minRequests})`;
  const shared = sharedBreach(ev, ev.source.errors, ev.source.requests, slo.max);
  out.push(
    toCheck({
      name: 'error-rate',
      logE: rateEvidence(k, n, shared.p0),
      level: ev.level,
      observed: rate,
      threshold: shared.p0,
      numbers: `error rate ${pct(rate)} (${k}/${n} ${ev.scope}) vs SLO ${pct(slo.max)}${shared.note}`,
      ready,
      notReady,
      notReadyOutcome: 'inconclusive',
    }),
  );
  const margin = slo.maxIncreaseOverSource;
  if (margin === undefined) return out;
  const name = 'error-rate-vs-source';
  const sn = ev.source.requests;
  const sk = Math.min(ev.source.errors, sn);
  if (ev.weight >= 100 || !(sn > 0) || sk <= 0) {
    const why =
      ev.weight >= 100
        ? 'the source gets no traffic at 100 %'
        : sn > 0
          ? `the VMs had no errors ${ev.scope}: the absolute check decides`
          : `no source traffic ${ev.scope}`;
    out.push({ name, outcome: 'skipped', failureThreshold: 1, message: `not compared: ${why}` });
    return out;
  }
  const srcRate = sk / sn;
  const rho0 = 1 + margin / srcRate;
  const batches = ev.bins.map((b) => ({
    target: { events: b.target.errors, trials: b.target.requests },
    source: { events: b.source.errors, trials: b.source.requests },
  }));
  const safety = errorPromotionReadiness({
    lastGate: ev.lastGate,
    ...(policy.analysis.detectBeforePromotion ? { detect: policy.analysis.detectBeforePromotion } : {}),
    bins: ev.bins.map((b) => ({ target: b.target.requests, source: b.source.requests })),
    targetRequests: n,
    sourceErrors: sk,
    sourceRequests: sn,
    rho0,
    level: ev.level,
  });
  out.push(
    toCheck({
      name,
      logE: ratioEvidenceBatches(batches, rho0),
      level: ev.level,
      observed: rate,
      threshold: srcRate + margin,
      numbers: `error rate ${pct(rate)} (${k}/${n}) vs ${pct(srcRate)} on the VMs (${sk}/${sn}) ${ev.scope}, ${margin > 0 ? `allowed +${pct(margin)}` : 'no increase allowed'}`,
      ready: ready && safety.ok,
      notReady: ready ? safety.note : notReady,
      notReadyOutcome: 'inconclusive',
    }),
  );
  return out;
}

function latencyTests(policy: PolicySpec, ev: Evidence): CheckResult[] {
  const out: CheckResult[] = [];
  const n = ev.target.latencyCount;
  const stepN = ev.step.target.latencyCount ?? ev.step.target.requests;
  for (const q of ['p50', 'p95', 'p99'] as const) {
    const o = policy.slo.latency?.[q];
    if (!o) continue;
    const need = minSamplesFor(q, o);
    const ready = stepN >= need;
    const notReady = `${q} not judged yet: ${stepN} target samples since the step started, need ${need}`;
    if (o.maxMs !== undefined) {
      const i = ISTIO_LATENCY_BUCKETS_MS.findIndex((b) => b >= o.maxMs!);
      const bound = ISTIO_LATENCY_BUCKETS_MS[i] ?? o.maxMs;
      const slow = i >= 0 ? slowerThan(ev.target, i) : 0;
      const share = n > 0 ? slow / n : 0;
      const allowed = 1 - QUANTILES[q];
      const shared = sharedBreach(ev, i >= 0 ? slowerThan(ev.source, i) : 0, ev.source.latencyCount, allowed);
      out.push(
        toCheck({
          name: q,
          logE: rateEvidence(slow, n, shared.p0),
          level: ev.level,
          observed: share,
          threshold: shared.p0,
          numbers: `${pct(share)} of target requests over ${bound} ms (${slow}/${n} ${ev.scope}; ${q} ≤ ${o.maxMs} ms allows ${pct(allowed)}${shared.note})`,
          ready,
          notReady,
          notReadyOutcome: 'skipped',
        }),
      );
    }
    if (o.maxRatioToSource === undefined) continue;
    const name = `${q}-vs-source`;
    const sn = ev.source.latencyCount;
    const i = ev.weight >= 100 || sn < need ? undefined : sourceBoundIndex(ev.source, q);
    if (i === undefined) {
      const why =
        ev.weight >= 100
          ? 'the source gets no traffic at 100 %'
          : `too little source traffic (${sn} samples, need ${need})`;
      out.push({ name, outcome: 'skipped', failureThreshold: 1, message: `${q} not compared: ${why}` });
      continue;
    }
    const bound = ISTIO_LATENCY_BUCKETS_MS[i]!;
    const kt = slowerThan(ev.target, i);
    const ks = slowerThan(ev.source, i);
    const batches = ev.bins.map((b) => ({
      target: { events: slowerThan(b.target, i), trials: b.target.latencyCount },
      source: { events: slowerThan(b.source, i), trials: b.source.latencyCount },
    }));
    out.push(
      toCheck({
        name,
        logE: ratioEvidenceBatches(batches, o.maxRatioToSource),
        level: ev.level,
        observed: n > 0 ? kt / n : 0,
        threshold: (ks / sn) * o.maxRatioToSource,
        numbers: `${pct(n > 0 ? kt / n : 0)} of target requests over ${bound} ms (${kt}/${n}) vs ${pct(ks / sn)} on the VMs (${ks}/${sn}) ${ev.scope}, allowed ${o.maxRatioToSource}×`,
        ready,
        notReady,
        notReadyOutcome: 'skipped',
      }),
    );
  }
  return out;
}

/** The error and latency checks of the sequential method. */
export function sequentialChecks(policy: PolicySpec, sample: GateSample, weight: number): CheckResult[] {
  const carried = sample.evidenceSince !== undefined;
  const bins = sample.batches ?? [{ source: toBin(sample.source), target: toBin(sample.target) }];
  const ev: Evidence = {
    step: { target: sample.target, source: sample.source },
    bins,
    target: total(bins, 'target'),
    source: total(bins, 'source'),
    scope: carried ? 'since the migration started' : 'since the step started',
    weight,
    level: failLevel(policy, carried),
    lastGate: promotesNext(policy.steps, weight),
  };
  return [...errorTests(policy, ev), ...latencyTests(policy, ev)];
}
