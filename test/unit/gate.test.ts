import { describe, expect, it } from 'vitest';
import { evaluate, unavailableVerdict } from '../../src/gate/checks/verdict.js';
import { wilson, normalQuantile } from '../../src/gate/stats/stats.js';
import { goldenSignalsQuery, renderTemplate, sideQueries } from '../../src/gate/input/promql.js';
import { loadPolicy } from '../../src/plan/load.js';
import type { GateSample, SideSample } from '../../src/gate/types.js';

/** These verdict tests pin the window method (one analysis window judged on its own) with its tuned margin. */
const shipped = loadPolicy('default').spec;
const policy = {
  ...shipped,
  analysis: { ...shipped.analysis, method: 'window' as const },
  slo: { ...shipped.slo, errorRate: { ...shipped.slo.errorRate!, maxIncreaseOverSource: 0.001 } },
};
const flagger = loadPolicy('flagger-defaults').spec;

const side = (requests: number, errors: number, p50 = 20, p99 = 80): SideSample => ({
  requests,
  errors,
  latencyMs: { p50, p99 },
});
const sample = (target: SideSample, source: SideSample = side(50_000, 50)): GateSample => ({
  at: 0,
  windowMs: 60_000,
  source,
  target,
  custom: {},
  queries: 1,
});

describe('statistics', () => {
  it('normal quantile matches known values', () => {
    expect(normalQuantile(0.99)).toBeCloseTo(2.3263, 3);
    expect(normalQuantile(0.5)).toBeCloseTo(0, 6);
    expect(normalQuantile(0.01)).toBeCloseTo(-2.3263, 3);
  });
  it('wilson interval brackets the rate and collapses at confidence 0', () => {
    const ci = wilson(5, 100, 0.99);
    expect(ci.low).toBeLessThan(0.05);
    expect(ci.high).toBeGreaterThan(0.05);
    expect(ci.low).toBeCloseTo(0.0186, 3); // z = 2.326: centre 0.0731 ± 0.0545
    expect(wilson(5, 100, 0)).toEqual({ low: 0.05, high: 0.05 });
  });
});

describe('verdict', () => {
  it('passes a healthy target with enough traffic', () => {
    const v = evaluate(policy, sample(side(2000, 1)), 25);
    expect(v.outcome).toBe('pass');
    expect(v.checks.map((c) => `${c.name}:${c.outcome}`)).toEqual([
      'error-rate:pass',
      'error-rate-vs-source:pass',
      'p50-vs-source:pass',
      'p99:pass',
      'p99-vs-source:pass',
    ]);
  });

  it('one error in a few requests is not a rollback (not significant)', () => {
    const v = evaluate(policy, sample(side(60, 1)), 1);
    expect(v.outcome).toBe('inconclusive');
    expect(v.checks.find((c) => c.name === 'error-rate')!.message).toMatch(/not significantly yet/);
  });

  it('a large breach fails even below minRequests (early fail) and names the numbers', () => {
    const v = evaluate(policy, sample(side(20, 10, 20, 80)), 1);
    expect(v.outcome).toBe('fail');
    const c = v.checks.find((x) => x.name === 'error-rate')!;
    expect(c).toMatchObject({ outcome: 'fail', observed: 0.5, threshold: 0.01 });
    expect(c.message).toMatch(/error rate 50\.00 % \(10\/20\) exceeds 1\.00 %/);
  });

  it('too few requests is inconclusive, never a pass', () => {
    expect(evaluate(policy, sample(side(10, 0)), 1).outcome).toBe('inconclusive');
    expect(evaluate(policy, sample(side(0, 0)), 1).outcome).toBe('inconclusive');
  });

  it('NaN latency with traffic is inconclusive', () => {
    const v = evaluate(policy, sample({ requests: 5000, errors: 0, latencyMs: { p50: NaN, p99: NaN } }), 50);
    expect(v.outcome).toBe('inconclusive');
  });

  it('relative error-rate check catches a target much worse than the VMs even under the absolute max', () => {
    const v = evaluate(policy, sample(side(20_000, 190), side(50_000, 5)), 50);
    expect(v.checks.find((c) => c.name === 'error-rate')!.outcome).toBe('pass');
    expect(v.checks.find((c) => c.name === 'error-rate-vs-source')!.outcome).toBe('fail');
    expect(v.outcome).toBe('fail');
  });

  it('p99 ratio to the source fails at +30 %, ignores it until there are enough samples', () => {
    expect(
      evaluate(policy, sample(side(5000, 0, 20, 104)), 25).checks.find((c) => c.name === 'p99-vs-source')!
        .outcome,
    ).toBe('fail');
    const few = evaluate(policy, sample(side(200, 0, 20, 104)), 5);
    expect(few.checks.find((c) => c.name === 'p99')!.outcome).toBe('skipped');
  });

  it('a ratio breach inside one histogram bucket is interpolation noise, not a regression', () => {
    const v = evaluate(policy, sample(side(5000, 0, 20, 168), side(50_000, 5, 20, 138)), 50);
    const c = v.checks.find((x) => x.name === 'p99-vs-source')!;
    expect(c.outcome).toBe('pass');
    expect(c.message).toMatch(/same histogram bucket/);
    // 95 ms (50–100 bucket) → 125 ms (100–250 bucket) crosses a bound: a real +30 % regression.
    expect(evaluate(policy, sample(side(5000, 0, 20, 125), side(50_000, 5, 20, 95)), 50).outcome).toBe(
      'fail',
    );
  });

  it('comparisons with the source are skipped when the source has no traffic (100 %)', () => {
    const v = evaluate(policy, sample(side(50_000, 10), side(0, 0, NaN, NaN)), 100);
    expect(v.outcome).toBe('pass');
    expect(v.checks.find((c) => c.name === 'p99-vs-source')!.outcome).toBe('skipped');
  });

  it('flagger-defaults compares point estimates: one error in 60 requests fails', () => {
    const v = evaluate(flagger, sample(side(60, 1)), 10);
    expect(v.outcome).toBe('fail');
  });

  it('custom metrics: NaN is inconclusive, bounds fail', () => {
    const p = { ...policy, metrics: [{ name: 'hit-ratio', query: 'x', min: 0.8, failureThreshold: 1 }] };
    const s = sample(side(5000, 0));
    expect(evaluate(p, { ...s, custom: { 'hit-ratio': NaN } }, 10).outcome).toBe('inconclusive');
    expect(evaluate(p, { ...s, custom: { 'hit-ratio': 0.5 } }, 10).outcome).toBe('fail');
    expect(evaluate(p, { ...s, custom: { 'hit-ratio': 0.9 } }, 10).outcome).toBe('pass');
  });

  it('unavailable metrics verdict is inconclusive', () => {
    expect(unavailableVerdict(1, 10, 'timeout').outcome).toBe('inconclusive');
  });
});

describe('PromQL templates', () => {
  it('counts gRPC failures reported with HTTP 200 as errors', () => {
    const q = sideQueries('reporter="destination",destination_version="k8s"', 60_000, ['p99']);
    expect(q.errors).toContain('response_code=~"5.."');
    expect(q.errors).toContain('grpc_response_status!~"0|"');
    expect(q.latency.p99).toBe(
      'histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket{reporter="destination",destination_version="k8s"}[1m])))',
    );
  });
  it('asks everything in one query, tagged by side and signal, escaping label values', () => {
    const q = goldenSignalsQuery(
      { source: { destination_version: 'v"m' }, target: { destination_version: 'k8s' } },
      'destination',
      3000,
      ['p50', 'p99'],
    );
    expect(q.match(/label_replace\(label_replace/g)).toHaveLength(8);
    expect(q).toContain('destination_version="v\\"m"');
    expect(q).toContain('[3s]');
  });
  it('renders custom metric placeholders and rejects unknown ones', () => {
    const ctx = {
      namespace: 'shop',
      windowMs: 60_000,
      reporter: 'destination',
      selectors: { source: { destination_version: 'vm' }, target: { destination_version: 'k8s' } },
    };
    expect(renderTemplate('rate(x{ {{target.selector}} }[{{window}}])', ctx)).toBe(
      'rate(x{ destination_version="k8s",reporter="destination" }[1m])',
    );
    expect(() => renderTemplate('{{nope}}', ctx)).toThrow(/unknown placeholder \{\{nope\}\}/);
  });
});
