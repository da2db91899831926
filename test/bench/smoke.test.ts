/**
 * Keeps the benchmark code path from rotting: one scenario × one policy × one seed on the shared Prometheus,
 * then the aggregation, the table and the chart. The full matrix is `npm run bench` (minutes; not in npm test).
 */
import { describe, expect, inject, it } from 'vitest';
import { scenarioByName, type PolicyRef } from '../../bench/matrix.js';
import { formatTable, renderSvg, summarize } from '../../bench/report.js';
import { bucketQuantile, runOne } from '../../bench/run-one.js';

/**
 * A short inline policy judged on errors only: the smoke test checks the benchmark's plumbing, so it must not
 * depend on latency checks that a loaded CI machine can trip (the matrix itself measures those).
 */
const SMOKE_POLICY: PolicyRef = {
  label: 'smoke',
  policy: `
steps: [10, 50, 100]
stepDuration: 1m
analysis:
  interval: 10s
  window: 1m
  minRequests: 50
  inconclusiveLimit: 6
  confidence: 0.99
slo:
  errorRate:
    max: 0.01
    failureThreshold: 1
`,
};

describe('bench smoke', () => {
  it('histogram quantile matches Prometheus interpolation', () => {
    // 100 samples: 90 ≤ 50 ms, 10 in (50, 100]: the 0.95 quantile is halfway into the (50, 100] bucket.
    const cumulative = [
      0, 0, 0, 0, 0, 90, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100,
    ];
    expect(bucketQuantile(0.95, cumulative)).toBeCloseTo(75, 5);
    expect(bucketQuantile(0.5, [2, 2])).toBeCloseTo(0.25, 5);
    expect(Number.isNaN(bucketQuantile(0.99, [0, 0, 0]))).toBe(true);
  });

  it('runs error-20x × one policy once and reports a sane row', { timeout: 60_000 }, async () => {
    const row = await runOne({
      scenario: scenarioByName('error-20x'),
      policy: SMOKE_POLICY,
      seed: 7,
      timeScale: 0.05,
      prom: { url: inject('prometheusUrl'), sdDir: inject('prometheusSdDir') },
      timeline: true,
      maxRunMs: 45_000,
    });
    expect(row).toMatchObject({ scenario: 'error-20x', policy: 'smoke', seed: 7, outcome: 'rolledBack' });
    expect(row.detectionMs).toBeGreaterThan(0);
    expect(row.detectionMs).toBeLessThan(30_000);
    expect(row.maxWeightRegressed).toBeGreaterThanOrEqual(10);
    expect(row.injectedAtMs).not.toBeNull();
    expect(row.maxWeightRegressed).toBeLessThanOrEqual(50);
    expect(row.weights.at(-1)).toBe(0);
    expect(row.harmed).toBeGreaterThanOrEqual(0);
    expect(row.exposed).toBeGreaterThan(row.harmed);
    expect(row.falseRollback).toBe(false);
    expect(row.missed).toBe(false);
    expect(row.queries).toBeGreaterThan(0);
    expect(row.writes).toBe(row.weights.length);
    expect(row.reason).toMatch(/error/);
    expect(row.timeline?.length).toBeGreaterThan(2);

    const summary = summarize([row]);
    expect(summary).toHaveLength(1);
    expect(summary[0]).toMatchObject({ runs: 1, outcomes: { rolledBack: 1 }, falseRollbacks: 0, missed: 0 });
    expect(formatTable(summary)).toContain('error-20x');
    const svg = renderSvg([row], 'smoke');
    expect(svg).toMatch(/^<svg[^>]+xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg).toContain('<polyline');
  });
});
