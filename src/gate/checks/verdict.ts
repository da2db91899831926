/**
 * The gate's judgement: golden-signal samples in, a verdict out. Pure and deterministic.
 *
 * Rules, in the order a reviewer would apply them:
 *  - Too few requests, an empty result or NaN is *inconclusive*, never a pass.
 *  - Error rate fails only when the breach is statistically significant (Wilson lower bound above the limit),
 *    so a single unlucky error at 1 % weight is not a rollback; a large breach fails even before the window
 *    holds `minRequests`, so a broken release is caught at the first analysis.
 *  - Latency quantiles are judged once the target has enough samples for that quantile to mean something.
 *  - Comparisons with the source (VMs) are skipped when the source has no traffic (e.g. at 100 %).
 */
import { pct } from '../stats/format.js';
import { WINDOW_DEFAULTS, type PolicySpec } from '../../plan/policy-schema.js';
import { wilson } from '../stats/stats.js';
import { bucketIndex } from '../input/buckets.js';
import { sequentialChecks } from './sequential-verdict.js';
import { minSamplesFor } from './sequential-latency.js';
export { minSamplesFor } from './sequential-latency.js';
export { ISTIO_LATENCY_BUCKETS_MS } from '../input/buckets.js';
import type { CheckResult, GateSample, Verdict } from '../types.js';

const ms = (x: number) => `${x.toFixed(x < 10 ? 1 : 0)} ms`;
const round = (x: number, digits = 6) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);

function errorRateChecks(policy: PolicySpec, s: GateSample, weight: number): CheckResult[] {
  const slo = policy.slo.errorRate;
  if (!slo) return [];
  const { minRequests } = policy.analysis;
  const confidence = policy.analysis.confidence ?? WINDOW_DEFAULTS.confidence;
  const n = s.target.requests;
  // increase() extrapolates to the window's edges (one error may read 1.46): only whole events are evidence.
  const k = Math.floor(Math.min(s.target.errors, n) + 1e-9);
  const out: CheckResult[] = [];
  const failureThreshold = slo.failureThreshold ?? WINDOW_DEFAULTS.errorFailureThreshold;
  if (!(n > 0) || !Number.isFinite(k)) {
    out.push({
      name: 'error-rate',
      outcome: 'inconclusive',
      failureThreshold,
      message: 'no requests reached the target in the window',
    });
    return out;
  }
  const rate = k / n;
  const ci = wilson(k, n, confidence);
  const enough = n >= minRequests;
  // A significant breach fails at once; with point estimates (confidence 0) only a full window may fail.
  const significant = confidence > 0 ? ci.low > slo.max : enough && rate > slo.max;
  let outcome: CheckResult['outcome'];
  let message: string;
  if (significant) {
    outcome = 'fail';
    message = `error rate ${pct(rate)} (${Math.round(k)}/${Math.round(n)}) exceeds ${pct(slo.max)}${confidence > 0 ? ` (≥ ${pct(ci.low)} at ${confidence * 100} % confidence)` : ''}`;
  } else if (!enough) {
    outcome = 'inconclusive';
    message = `only ${Math.round(n)} requests to the target in the window (need ${minRequests})`;
  } else if (rate <= slo.max) {
    outcome = 'pass';
    message = `error rate ${pct(rate)} ≤ ${pct(slo.max)}`;
  } else {
    outcome = 'inconclusive';
    message = `error rate ${pct(rate)} is above ${pct(slo.max)} but not significantly yet (${Math.round(n)} requests)`;
  }
  out.push({
    name: 'error-rate',
    outcome,
    observed: round(rate),
    threshold: slo.max,
    failureThreshold,
    message,
  });

  if (slo.maxIncreaseOverSource !== undefined)
    out.push(
      sourceComparisonCheck(policy, s, weight, slo.maxIncreaseOverSource, {
        rate,
        ci,
        enough,
        failureThreshold,
      }),
    );
  return out;
}

/** The window method's comparison with the source (VMs): the target's lower bound against the source's upper. */
function sourceComparisonCheck(
  policy: PolicySpec,
  s: GateSample,
  weight: number,
  margin: number,
  target: { rate: number; ci: { low: number; high: number }; enough: boolean; failureThreshold: number },
): CheckResult {
  const { minRequests } = policy.analysis;
  const confidence = policy.analysis.confidence ?? WINDOW_DEFAULTS.confidence;
  const { rate, ci, enough, failureThreshold } = target;
  const sn = s.source.requests;
  const sk = Math.min(s.source.errors, sn);
  const name = 'error-rate-vs-source';
  if (weight >= 100) {
    return {
      name,
      outcome: 'skipped',
      failureThreshold,
      message: 'the source gets no traffic at 100 %: nothing current to compare with',
    };
  }
  if (!(sn >= Math.max(1, minRequests)) || !Number.isFinite(sk)) {
    return {
      name,
      outcome: 'skipped',
      failureThreshold,
      message: 'not enough source traffic to compare with',
    };
  }
  const srcRate = sk / sn;
  const srcCi = wilson(sk, sn, confidence);
  const limit = srcRate + margin;
  // Significant when the target's lower bound clears the source's upper bound plus the margin.
  const breach = confidence > 0 ? ci.low > srcCi.high + margin : enough && rate > limit;
  const o: CheckResult['outcome'] = breach
    ? 'fail'
    : !enough
      ? 'inconclusive'
      : rate <= limit
        ? 'pass'
        : 'inconclusive';
  return {
    name,
    outcome: o,
    observed: round(rate),
    threshold: round(limit),
    failureThreshold,
    message:
      o === 'fail'
        ? `error rate ${pct(rate)} vs ${pct(srcRate)} on the source: more than ${pct(margin)} worse`
        : `error rate ${pct(rate)} vs ${pct(srcRate)} on the source (allowed +${pct(margin)})`,
  };
}

function latencyChecks(policy: PolicySpec, s: GateSample, weight: number): CheckResult[] {
  const out: CheckResult[] = [];
  for (const q of ['p50', 'p95', 'p99'] as const) {
    const o = policy.slo.latency?.[q];
    if (!o) continue;
    const need = minSamplesFor(q, o);
    const value = s.target.latencyMs[q] ?? NaN;
    const failureThreshold = o.failureThreshold ?? WINDOW_DEFAULTS.latencyFailureThreshold;
    if (s.target.requests < need) {
      out.push({
        name: q,
        outcome: 'skipped',
        failureThreshold,
        message: `${q} not judged: ${Math.round(s.target.requests)} target samples, need ${need}`,
      });
      continue;
    }
    if (!Number.isFinite(value)) {
      out.push({
        name: q,
        outcome: 'inconclusive',
        failureThreshold,
        message: `${q} latency of the target is unknown (no histogram data)`,
      });
      continue;
    }
    if (o.maxMs !== undefined) {
      const fail = value > o.maxMs;
      out.push({
        name: q,
        outcome: fail ? 'fail' : 'pass',
        observed: round(value, 3),
        threshold: o.maxMs,
        failureThreshold,
        message: `${q} ${ms(value)} ${fail ? '>' : '≤'} ${ms(o.maxMs)}`,
      });
    }
    if (o.maxRatioToSource !== undefined) {
      const name = `${q}-vs-source`;
      const src = s.source.latencyMs[q] ?? NaN;
      if (weight >= 100) {
        // The window may still hold source traffic from the previous step: stale, not a baseline.
        out.push({
          name,
          outcome: 'skipped',
          failureThreshold,
          message: `${q} not compared: the source gets no traffic at 100 %`,
        });
        continue;
      }
      if (s.source.requests < need || !Number.isFinite(src)) {
        out.push({
          name,
          outcome: 'skipped',
          failureThreshold,
          message: `${q} of the source unknown (too little source traffic)`,
        });
        continue;
      }
      const limit = Math.max(src * o.maxRatioToSource, src + (o.minDeltaMs ?? WINDOW_DEFAULTS.minDeltaMs));
      // histogram_quantile interpolates linearly inside a bucket: two estimates in the same bucket differ by
      // interpolation noise, not by anything the histogram measured. Only a breach across a bucket bound counts.
      const sameBucket = bucketIndex(value) === bucketIndex(src);
      const fail = value > limit && !sameBucket;
      out.push({
        name,
        outcome: fail ? 'fail' : 'pass',
        observed: round(value, 3),
        threshold: round(limit, 3),
        failureThreshold,
        message: `${q} ${ms(value)} vs ${ms(src)} on the source (${(value / src).toFixed(2)}×, allowed ${o.maxRatioToSource}×${value > limit && sameBucket ? '; same histogram bucket, within resolution' : ''})`,
      });
    }
  }
  return out;
}

function customChecks(policy: PolicySpec, s: GateSample): CheckResult[] {
  return policy.metrics.map((m) => {
    const name = `custom:${m.name}`;
    const v = s.custom[m.name] ?? NaN;
    if (!Number.isFinite(v)) {
      return {
        name,
        outcome: 'inconclusive',
        failureThreshold: m.failureThreshold,
        message: `${m.name}: query returned no number`,
      };
    }
    const low = m.min !== undefined && v < m.min;
    const high = m.max !== undefined && v > m.max;
    return {
      name,
      outcome: low || high ? 'fail' : 'pass',
      observed: round(v),
      threshold: (high ? m.max : low ? m.min : (m.max ?? m.min)) as number,
      failureThreshold: m.failureThreshold,
      message: low
        ? `${m.name} ${round(v)} < min ${m.min}`
        : high
          ? `${m.name} ${round(v)} > max ${m.max}`
          : `${m.name} ${round(v)} within bounds`,
    };
  });
}

/** A failure threshold that never trips on its own (the analysis counter decides). */
const NEVER = Number.MAX_SAFE_INTEGER;

/** Flagger's semantics when the policy asks for them: failures add up, and no data is a failed check. */
function asFlaggerCounts(policy: PolicySpec, checks: CheckResult[]): void {
  const { failureCounting, noData } = policy.analysis;
  for (const c of checks) {
    if (failureCounting === 'cumulative') c.cumulative = true;
    if (
      noData === 'failure' &&
      c.outcome === 'inconclusive' &&
      /no requests|no number|no histogram/.test(c.message)
    ) {
      c.outcome = 'fail';
      c.message = `${c.message} (no values found: a failed check)`;
    }
  }
  if (failureCounting !== 'analysis' || checks.length === 0) return;
  // Flagger's FailedChecks: one counter for the analysis, +1 for each analysis with any failed check, never reset.
  const threshold = Math.max(...checks.map((c) => c.failureThreshold));
  const failed = checks.filter((c) => c.outcome === 'fail');
  for (const c of checks) c.failureThreshold = NEVER;
  checks.push({
    name: 'analysis',
    outcome: failed.length ? 'fail' : 'pass',
    failureThreshold: threshold,
    cumulative: true,
    message: failed.length
      ? `failed checks: ${failed.map((c) => c.message).join('; ')}`
      : 'every check passed',
  });
}

/** Judges one sample against the policy. */
export function evaluate(policy: PolicySpec, sample: GateSample, weight: number): Verdict {
  const sequential = policy.analysis.method === 'sequential' && sample.since !== undefined;
  const checks = [
    ...(sequential
      ? sequentialChecks(policy, sample, weight)
      : [...errorRateChecks(policy, sample, weight), ...latencyChecks(policy, sample, weight)]),
    ...customChecks(policy, sample),
  ];
  if (!sequential) asFlaggerCounts(policy, checks);
  const failed = checks.filter((c) => c.outcome === 'fail');
  const unsure = checks.filter((c) => c.outcome === 'inconclusive');
  const outcome = failed.length ? 'fail' : unsure.length ? 'inconclusive' : 'pass';
  const decisive = failed.length
    ? failed
    : unsure.length
      ? unsure
      : checks.filter((c) => c.outcome === 'pass');
  return {
    outcome,
    at: sample.at,
    weight,
    checks,
    summary: decisive.map((c) => c.message).join('; ') || 'no checks configured',
    sample,
  };
}

/** A verdict for when the metrics could not be read at all (Prometheus down, timeout, bad query). */
export function unavailableVerdict(at: number, weight: number, reason: string): Verdict {
  return {
    outcome: 'inconclusive',
    at,
    weight,
    checks: [
      {
        name: 'metrics',
        outcome: 'inconclusive',
        failureThreshold: 1,
        message: `metrics unavailable: ${reason}`,
      },
    ],
    summary: `metrics unavailable: ${reason}`,
  };
}
