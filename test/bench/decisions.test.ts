/**
 * The decisions benchmark's quick run (the full one is `npm run bench:decisions`, tens of minutes): a healthy
 * migration and two bad builds, each under the default policy and flagger-defaults, driven in virtual time
 * through the real engine, the in-repo Kubernetes API server and a real Prometheus fed by remote write.
 */
import { describe, expect, it } from 'vitest';
import { runPlan } from '../../bench/decisions/lanes.js';
import { formatTable, renderSvg, summarize, targetChecks, wilson95 } from '../../bench/decisions/report.js';
import { scenarioByName } from '../../bench/decisions/scenarios.js';

describe('decisions benchmark (quick)', () => {
  it('Wilson intervals', () => {
    const r = wilson95(0, 380);
    expect(r.high).toBeLessThan(0.0101);
    expect(wilson95(5, 10).low).toBeCloseTo(0.2366, 3);
  });

  it('runs healthy and bad builds in virtual time and reports them', { timeout: 120_000 }, async () => {
    const started = Date.now();
    const planned = ['healthy', 'errors-20x', 'errors-2x'].flatMap((name) =>
      ['default', 'flagger-defaults'].map((policy) => ({
        scenario: scenarioByName(name),
        policy: { label: policy, policy },
        seed: 3,
      })),
    );
    const rows = await runPlan(planned, 2);
    const row = (s: string, p: string) => rows.find((r) => r.scenario === s && r.policy === p)!;
    // Whole migrations at their real durations (18 min for default) in seconds of wall time.
    expect(row('healthy', 'default')).toMatchObject({
      outcome: 'completed',
      weights: [1, 5, 10, 25, 50, 100],
    });
    expect(row('healthy', 'default').virtualMs).toBeGreaterThanOrEqual(6 * 180_000 - 1);
    expect(row('healthy', 'flagger-defaults').outcome).toBe('completed');
    const fast = row('errors-20x', 'default');
    expect(fast.outcome).toBe('rolledBack');
    expect(fast.weightAtDetection).toBe(1);
    expect(fast.reason).toMatch(/error rate .*evidence/);
    expect(row('errors-2x', 'default').outcome).toBe('rolledBack');
    expect(row('errors-2x', 'default').harmed).toBeLessThan(row('errors-2x', 'flagger-defaults').harmed);
    expect(rows.every((r) => r.queries > 0 && r.wallMs < r.virtualMs)).toBe(true);

    const cells = summarize(rows);
    expect(cells).toHaveLength(6);
    expect(formatTable(cells)).toContain('errors-20x');
    expect(targetChecks(cells).some((t) => /20× errors/.test(t.target))).toBe(true);
    expect(renderSvg(rows, 'quick')).toMatch(
      /^<svg[^>]+xmlns="http:\/\/www.w3.org\/2000\/svg"[\s\S]*<polyline/,
    );
    expect(Date.now() - started).toBeLessThan(90_000);
  });
});
