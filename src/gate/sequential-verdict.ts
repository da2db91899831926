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
import type { PolicySpec } from '../plan/schema.js';
import { ISTIO_LATENCY_BUCKETS_MS } from './buckets.js';
import { logThreshold, ratioEvidence, rateEvidence } from './sequential.js';
import { QUANTILES, type CheckResult, type GateSample, type Quantile, type SideSample } from './types.js';
import { minSamplesFor } from './verdict.js';

const pct = (x: number) => `${(x * 100).toFixed(x < 0.001 && x > 0 ? 3 : 2)} %`;
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

/** ln(1/α_check): the evidence one check needs to fail. */
export function failLevel(policy: PolicySpec): number {
  return logThreshold(policy.analysis.alpha / (sequentialTestCount(policy) * policy.steps.length));
}

/** Requests slower than Istio's bound at `index`, from cumulative bucket counts. */
function slowerThan(side: SideSample, index: number): number {
  const total = side.latencyCount ?? side.requests;
  return Math.max(0, total - (side.buckets?.[index] ?? total));
}

/**
 * The bound the VMs' q-quantile falls at: the highest Istio bound above which at least half of the 1 − q share
 * of the VMs' requests lie (p99 → the bound ~1 % of requests exceed), so the test counts the tail it is about.
 */
export function sourceBoundIndex(source: SideSample, q: Quantile): number | undefined {
  const total = source.latencyCount ?? 0;
  if (!(total > 0) || !source.buckets) return undefined;
  const want = (1 - QUANTILES[q]) / 2;
  let found: number | undefined;
  for (let i = 0; i < ISTIO_LATENCY_BUCKETS_MS.length; i++)
    if (slowerThan(source, i) / total >= want) found = i;
  return found;
}

interface Test {
  name: string;
  failureThreshold: number;
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
  const base = {
    name: t.name,
    failureThreshold: t.failureThreshold,
    observed: round(t.observed),
    threshold: round(t.threshold),
  };
  if (t.logE >= t.level) return { ...base, outcome: 'fail', message: `${t.numbers}: worse (${evidence})` };
  if (!t.ready) return { ...base, outcome: t.notReadyOutcome, message: `${t.numbers}; ${t.notReady}` };
  return { ...base, outcome: 'pass', message: `${t.numbers} (${evidence})` };
}

function errorTests(policy: PolicySpec, s: GateSample, weight: number, level: number): CheckResult[] {
  const slo = policy.slo.errorRate;
  if (!slo) return [];
  const { minRequests } = policy.analysis;
  const n = s.target.requests;
  const k = Math.min(s.target.errors, n);
  const out: CheckResult[] = [];
  const since = 'since the step started';
  if (!(n > 0)) {
    out.push({
      name: 'error-rate',
      outcome: 'inconclusive',
      failureThreshold: slo.failureThreshold,
      message: `no requests reached the target ${since}`,
    });
    return out;
  }
  const rate = k / n;
  const ready = n >= minRequests;
  const notReady = `only ${n} requests to the target ${since} (need ${minRequests})`;
  out.push(
    toCheck({
      name: 'error-rate',
      failureThreshold: slo.failureThreshold,
      logE: rateEvidence(k, n, slo.max),
      level,
      observed: rate,
      threshold: slo.max,
      numbers: `error rate ${pct(rate)} (${k}/${n}) vs SLO ${pct(slo.max)}`,
      ready,
      notReady,
      notReadyOutcome: 'inconclusive',
    }),
  );
  const margin = slo.maxIncreaseOverSource;
  if (margin === undefined) return out;
  const name = 'error-rate-vs-source';
  const sn = s.source.requests;
  const sk = Math.min(s.source.errors, sn);
  if (weight >= 100 || !(sn > 0) || sk <= 0) {
    const why =
      weight >= 100
        ? 'the source gets no traffic at 100 %'
        : sn > 0
          ? `the VMs had no errors ${since}: the absolute check decides`
          : `no source traffic ${since}`;
    out.push({
      name,
      outcome: 'skipped',
      failureThreshold: slo.failureThreshold,
      message: `not compared: ${why}`,
    });
    return out;
  }
  const srcRate = sk / sn;
  const rho0 = 1 + margin / srcRate;
  out.push(
    toCheck({
      name,
      failureThreshold: slo.failureThreshold,
      logE: ratioEvidence({ events: k, trials: n }, { events: sk, trials: sn }, rho0),
      level,
      observed: rate,
      threshold: srcRate + margin,
      numbers: `error rate ${pct(rate)} (${k}/${n}) vs ${pct(srcRate)} on the VMs (${sk}/${sn}), allowed +${pct(margin)}`,
      ready,
      notReady,
      notReadyOutcome: 'inconclusive',
    }),
  );
  return out;
}

function latencyTests(policy: PolicySpec, s: GateSample, weight: number, level: number): CheckResult[] {
  const out: CheckResult[] = [];
  const n = s.target.latencyCount ?? 0;
  for (const q of ['p50', 'p95', 'p99'] as const) {
    const o = policy.slo.latency?.[q];
    if (!o) continue;
    const need = minSamplesFor(q, o);
    const ready = n >= need;
    const notReady = `${q} not judged yet: ${n} target samples since the step started, need ${need}`;
    if (o.maxMs !== undefined) {
      const i = ISTIO_LATENCY_BUCKETS_MS.findIndex((b) => b >= o.maxMs!);
      const bound = ISTIO_LATENCY_BUCKETS_MS[i] ?? o.maxMs;
      const slow = i >= 0 ? slowerThan(s.target, i) : 0;
      const share = n > 0 ? slow / n : 0;
      out.push(
        toCheck({
          name: q,
          failureThreshold: o.failureThreshold,
          logE: rateEvidence(slow, n, 1 - QUANTILES[q]),
          level,
          observed: share,
          threshold: 1 - QUANTILES[q],
          numbers: `${pct(share)} of target requests over ${bound} ms (${slow}/${n}; ${q} ≤ ${o.maxMs} ms allows ${pct(1 - QUANTILES[q])})`,
          ready,
          notReady,
          notReadyOutcome: 'skipped',
        }),
      );
    }
    if (o.maxRatioToSource === undefined) continue;
    const name = `${q}-vs-source`;
    const sn = s.source.latencyCount ?? 0;
    const i = weight >= 100 || sn < need ? undefined : sourceBoundIndex(s.source, q);
    if (i === undefined) {
      const why =
        weight >= 100
          ? 'the source gets no traffic at 100 %'
          : `too little source traffic (${sn} samples, need ${need})`;
      out.push({
        name,
        outcome: 'skipped',
        failureThreshold: o.failureThreshold,
        message: `${q} not compared: ${why}`,
      });
      continue;
    }
    const bound = ISTIO_LATENCY_BUCKETS_MS[i]!;
    const kt = slowerThan(s.target, i);
    const ks = slowerThan(s.source, i);
    const st = n > 0 ? kt / n : 0;
    const ss = ks / sn;
    out.push(
      toCheck({
        name,
        failureThreshold: o.failureThreshold,
        logE: ratioEvidence({ events: kt, trials: n }, { events: ks, trials: sn }, o.maxRatioToSource),
        level,
        observed: st,
        threshold: ss * o.maxRatioToSource,
        numbers: `${pct(st)} of target requests over ${bound} ms (${kt}/${n}) vs ${pct(ss)} on the VMs (${ks}/${sn}), allowed ${o.maxRatioToSource}×`,
        ready,
        notReady,
        notReadyOutcome: 'skipped',
      }),
    );
  }
  return out;
}

/** The error and latency checks of the sequential method on counts since the step started. */
export function sequentialChecks(policy: PolicySpec, sample: GateSample, weight: number): CheckResult[] {
  const level = failLevel(policy);
  return [...errorTests(policy, sample, weight, level), ...latencyTests(policy, sample, weight, level)];
}
