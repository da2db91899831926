/**
 * The decisions benchmark's quick run (the full one is `npm run bench:decisions`, tens of minutes): a healthy
 * migration and two bad builds, each under the default policy and flagger-defaults, driven in virtual time
 * through the real engine, the in-repo Kubernetes API server and a real Prometheus fed by remote write.
 */
import { describe, expect, it } from 'vitest';
import {
  HARM_HORIZON_MS,
  excessBadProbability,
  harmAfterRun,
  regressedAfterRun,
} from '../../bench/decisions/harm.js';
import { runPlan } from '../../bench/decisions/lanes.js';
import {
  formatTable,
  inPauseDomain,
  summarize,
  targetChecks,
  wilson95,
} from '../../bench/decisions/report.js';
import { renderSvg } from '../../bench/decisions/chart.js';
import { chartedRuns } from '../../bench/decisions/main.js';
import { routePolicyLabel, type RunRow } from '../../bench/decisions/results.js';
import type { PlannedRun } from '../../bench/decisions/lanes.js';
import { scenarioByName, vmBehaviour } from '../../bench/decisions/scenarios.js';

const vm = vmBehaviour(0.005);
const pick = (r: RunRow) => ({
  outcome: r.outcome,
  weights: r.weights,
  detectionMs: r.detectionMs,
  weightAtDetection: r.weightAtDetection,
  virtualMs: r.virtualMs,
});
const regressedBy = (name: string) => scenarioByName(name).regression!.apply(vm);

/** A finished run as the report reads it: only what summarize and the targets use, the rest overridden per test. */
const fakeRun = (over: Partial<RunRow>): RunRow =>
  ({
    family: 'regression',
    policy: 'default',
    seed: 1,
    outcome: 'completed',
    regression: true,
    detectionMs: null,
    weightAtDetection: null,
    harmed: 0,
    harmedDuringRun: 0,
    wallMs: 1,
    virtualMs: 1,
    weights: [1, 5, 10, 25, 50, 100],
    ...over,
  }) as RunRow;

describe('harm measure', () => {
  it('counts the excess bad-request probability a regression adds, and none for p50 +30 % with p99 unchanged', () => {
    expect(HARM_HORIZON_MS).toBe(2 * 3600_000);
    const e2 = excessBadProbability(regressedBy('errors-2x'), vm);
    // One more 0.5 % of failures, less those that were slow anyway (about 1.2 % are over 100 ms).
    expect(e2).toBeGreaterThan(0.0049);
    expect(e2).toBeLessThan(0.005);
    expect(excessBadProbability(regressedBy('p99-plus-20'), vm)).toBeGreaterThan(0.004);
    expect(excessBadProbability(regressedBy('p50-shift'), vm)).toBeLessThan(1e-9);
    // A healthy container with 5 % more errors than the VMs: p50-shift on it still adds no bad request.
    const worseHealthy = { ...vm, errorRate: 0.00525 };
    const p50 = scenarioByName('p50-shift').regression!.apply(worseHealthy);
    expect(excessBadProbability(p50, vm, worseHealthy)).toBeLessThan(1e-9);
    expect(excessBadProbability(vm, regressedBy('errors-2x'))).toBe(0);
  });

  it('a promoted bad build accrues harm until the horizon, a rolled-back one stops, a paused one at its weight', () => {
    const base = {
      finalWeight: 100,
      regressed: true,
      endMs: 1_080_000,
      excess: 0.005,
      rps: 200,
      volume: undefined,
    };
    const remaining = (HARM_HORIZON_MS - 1_080_000) / 1000;
    expect(harmAfterRun({ ...base, outcome: 'completed' })).toBeCloseTo(200 * remaining * 0.005, 6);
    expect(harmAfterRun({ ...base, outcome: 'rolledBack', finalWeight: 0 })).toBe(0);
    expect(harmAfterRun({ ...base, outcome: 'aborted', finalWeight: 25 })).toBe(0);
    expect(harmAfterRun({ ...base, outcome: 'paused', finalWeight: 25 })).toBeCloseTo(
      0.25 * 200 * remaining * 0.005,
      6,
    );
    expect(harmAfterRun({ ...base, outcome: 'timeout', endMs: HARM_HORIZON_MS + 1 })).toBe(0);
    expect(harmAfterRun({ ...base, outcome: 'completed', regressed: false })).toBe(0);
    // Diurnal traffic over whole periods averages the scenario's rate.
    const flat = harmAfterRun({ ...base, outcome: 'completed', endMs: 0 });
    expect(harmAfterRun({ ...base, outcome: 'completed', endMs: 0, volume: 'diurnal' })).toBeCloseTo(flat, 3);
    // A regression that would start at 25 % is active once a run completes past it, not when paused before.
    expect(regressedAfterRun(false, 'completed', 25)).toBe(true);
    expect(regressedAfterRun(false, 'completed', Infinity)).toBe(false);
    expect(regressedAfterRun(false, 'paused', 25)).toBe(false);
    expect(regressedAfterRun(true, 'paused', 25)).toBe(true);
  });

  it('shows the runs that stepped back from 100 % beside their outcomes', () => {
    const row = (seed: number, weights: number[], outcome: RunRow['outcome']): RunRow =>
      fakeRun({ scenario: 'shared-slowdown', family: 'healthy', regression: false, seed, weights, outcome });
    const [cell] = summarize([
      row(1, [1, 5, 10, 25, 50, 100], 'completed'),
      row(2, [1, 5, 10, 25, 50, 100, 50, 100], 'completed'),
      row(3, [1, 5, 10, 25, 50, 100, 50, 100, 0], 'rolledBack'),
      row(4, [1, 5, 10, 25, 50, 0], 'rolledBack'),
    ]);
    expect(cell!.outcomes).toEqual({ completed: 2, rolledBack: 2, 'of them stepped back': 2 });
  });

  it('reports no harm ratio, and no target met or failed, when the reference harms nothing', () => {
    const row = (policy: string, seed: number, harmed: number): RunRow =>
      fakeRun({ scenario: 'p50-shift', policy, seed, harmed, harmedDuringRun: harmed });
    const cells = summarize([row('default', 1, 0.3), row('flagger-defaults', 1, 0.2)]);
    const own = cells.find((c) => c.policy === 'default')!;
    expect(own.harmRatioVsFlagger).toBeNull();
    expect(own.harmRatioNote).toMatch(/no harm to compare/);
    expect(formatTable(cells)).toMatch(/n\/a: no harm to compare/);
    const check = targetChecks(cells).find((t) => /p50-shift: harm ratio/.test(t.target))!;
    expect(check).toMatchObject({ met: null, figure: expect.stringMatching(/^not applicable: no harm/) });
    // Two paired seeds: the target is judged on the bootstrap interval's upper bound, not the point estimate.
    const real = summarize([
      row('default', 1, 3),
      row('flagger-defaults', 1, 30),
      row('default', 2, 2),
      row('flagger-defaults', 2, 25),
    ]);
    const cell = real.find((c) => c.policy === 'default')!;
    expect(cell.harmRatioVsFlagger).toBeCloseTo(5 / 55);
    expect(cell.harmRatioCi![1]).toBeLessThanOrEqual(0.12);
    expect(targetChecks(real).find((t) => /harm ratio/.test(t.target))!.met).toBe(true);
    // One pair has no interval: the target is not met on a point estimate.
    const one = summarize([row('default', 1, 3), row('flagger-defaults', 1, 30)]);
    expect(targetChecks(one).find((t) => /harm ratio/.test(t.target))!.met).toBe(false);
  });

  it('counts pauses against the target only for runs drawn at ≥ 100 req/s and ≥ 0.1 % errors', () => {
    const row = (
      seed: number,
      rps: number | undefined,
      rate: number | undefined,
      scenario = 'low-base-errors',
    ) =>
      fakeRun({
        scenario,
        family: 'healthy',
        seed,
        outcome: 'paused',
        regression: false,
        ...(rps === undefined ? {} : { rps }),
        ...(rate === undefined ? {} : { baseErrorRate: rate }),
      });
    expect(inPauseDomain(row(1, 200, 0.002))).toBe(true);
    expect(inPauseDomain(row(1, 100, 0.001))).toBe(true);
    expect(inPauseDomain(row(1, 99, 0.002))).toBe(false);
    expect(inPauseDomain(row(1, 400, 0.0005))).toBe(false);
    expect(inPauseDomain(row(1, 200, 0.005, 'outage'))).toBe(false);
    // Results written before runs recorded their traffic: judged by scenario.
    expect(inPauseDomain(row(1, undefined, undefined, 'vms-near-zero'))).toBe(false);
    expect(inPauseDomain(row(1, undefined, undefined, 'healthy'))).toBe(true);
    // One paused run in the domain, one outside it: the target reads one run, not two.
    const cells = summarize([row(1, 200, 0.002), row(2, 200, 0.0005)]);
    const check = targetChecks(cells).find((t) => /needed a human/.test(t.target))!;
    expect(check.target).toMatch(/the 1 of 2 runs drawn at ≥ 100 req\/s/);
    expect(check.figure).toMatch(/^100\.0 %/);
    expect(targetChecks(summarize([row(2, 200, 0.0005)])).some((t) => /needed a human/.test(t.target))).toBe(
      false,
    );
  });

  it('judges a regression that starts at 50 % on rollbacks before 100 % (the watch after promotion is too late)', () => {
    const row = (seed: number, weightAtDetection: number): RunRow =>
      fakeRun({
        scenario: 'errors-1.5x-from-50',
        seed,
        outcome: 'rolledBack',
        detectionMs: 60_000,
        weightAtDetection,
        harmed: 1,
        harmedDuringRun: 1,
      });
    // 90 caught at 50 %, 10 only by the watch at 100 %: all rolled back, 90 % before the promotion.
    const rows = Array.from({ length: 100 }, (_, i) => row(i, i < 90 ? 50 : 100));
    const check = targetChecks(summarize(rows)).find((t) => /1\.5× from 50 %/.test(t.target))!;
    expect(check.target).toMatch(/before 100 %/);
    expect(check.figure).toMatch(/^90\.0 %/);
    expect(check.met).toBe(true);
    const late = Array.from({ length: 100 }, (_, i) => row(i, i < 84 ? 50 : 100));
    expect(targetChecks(summarize(late)).find((t) => /1\.5× from 50 %/.test(t.target))!.met).toBe(false);
  });
});

describe('decisions benchmark (quick)', () => {
  it('charts the first 40 seeds of each scenario × policy, whatever seed the runs started from', () => {
    const rows = ['default', 'flagger-defaults'].flatMap((policy) =>
      // Held-out seeds, listed out of order: the lowest 40 of each cell are charted.
      Array.from({ length: 50 }, (_, i) => fakeRun({ scenario: 'errors-2x', policy, seed: 18050 - i })),
    );
    const charted = chartedRuns(rows);
    expect(charted.size).toBe(80);
    for (const policy of ['default', 'flagger-defaults'])
      expect(
        rows
          .filter((r) => r.policy === policy && charted.has(r))
          .map((r) => r.seed)
          .sort((a, b) => a - b),
      ).toEqual(Array.from({ length: 40 }, (_, i) => 18001 + i));
  });

  it('Wilson intervals', () => {
    const r = wilson95(0, 380);
    expect(r.high).toBeLessThan(0.0101);
    expect(wilson95(5, 10).low).toBeCloseTo(0.2366, 3);
  });

  it('runs healthy and bad builds in virtual time and reports them', { timeout: 120_000 }, async () => {
    const started = Date.now();
    const planned: PlannedRun[] = ['healthy', 'errors-20x', 'errors-2x'].flatMap((name) =>
      ['default', 'flagger-defaults'].map((policy) => ({
        scenario: scenarioByName(name),
        policy: { label: policy, policy },
        seed: 3,
      })),
    );
    // The HTTPRoute lane: the same seeds on a Gateway API HTTPRoute in ambient mode (metrics from the waypoint).
    for (const name of ['healthy', 'errors-20x'])
      planned.push({
        scenario: scenarioByName(name),
        policy: { label: routePolicyLabel('default', 'httproute-ambient'), policy: 'default' },
        seed: 3,
        route: 'httproute-ambient',
      });
    const rows = await runPlan(planned, 2);
    const row = (s: string, p: string) => rows.find((r) => r.scenario === s && r.policy === p)!;
    // Whole migrations at their real durations (18 min for default) in seconds of wall time.
    expect(row('healthy', 'default')).toMatchObject({
      outcome: 'completed',
      weights: [1, 5, 10, 25, 50, 100],
    });
    expect(row('healthy', 'default').virtualMs).toBeGreaterThanOrEqual(6 * 180_000 - 1);
    expect(row('healthy', 'flagger-defaults').outcome).toBe('completed');
    // Every sequential check's highest evidence is kept for the Ville check (ville.ts), with the level that fails it.
    const seen = row('healthy', 'default').maxEvidence!['error-rate-vs-source']!;
    expect(seen.level).toBeGreaterThan(5);
    expect(seen.logE).toBeLessThan(seen.level);
    expect(row('healthy', 'flagger-defaults').maxEvidence).toEqual({});
    // The traffic drawn for the seed is kept: the pause target is judged on it (≥ 100 req/s, ≥ 0.1 % errors).
    expect(row('healthy', 'default')).toMatchObject({ rps: 200, baseErrorRate: 0.005 });
    // And how the healthy containers were drawn against the VMs (0.9–1.05×), the same for every policy.
    const drawn = row('healthy', 'default').targetErrorRate!;
    expect(drawn / 0.005).toBeGreaterThanOrEqual(0.9);
    expect(drawn / 0.005).toBeLessThanOrEqual(1.05);
    expect(row('healthy', 'flagger-defaults').targetErrorRate).toBe(drawn);
    const fast = row('errors-20x', 'default');
    expect(fast.outcome).toBe('rolledBack');
    expect(fast.weightAtDetection).toBe(1);
    expect(fast.reason).toMatch(/error rate .*evidence/);
    // An oracle that knows both rates could tell at some scrape (15 s grid); the gate is not far behind it: it needs
    // two 30-s bins of evidence (one burst never decides alone), so up to two bins and a scrape after the oracle.
    expect(fast.oracleMs! % 15_000).toBe(0);
    expect(fast.detectionMs! - fast.oracleMs!).toBeLessThanOrEqual(75_000);
    expect(row('healthy', 'default').oracleMs).toBeNull();
    expect(row('errors-2x', 'default').outcome).toBe('rolledBack');
    expect(row('errors-2x', 'default').harmed).toBeLessThan(row('errors-2x', 'flagger-defaults').harmed);
    // Harm runs to the 2 h horizon: a rolled-back build stops harming, a promoted bad one keeps serving.
    for (const r of rows) {
      if (r.virtualMs < HARM_HORIZON_MS)
        expect(r.harmed).toBeCloseTo(r.harmedDuringRun + r.harmedAfterRun, 1);
      if (!r.regression) expect(r.harmed).toBe(0);
      if (r.outcome === 'rolledBack') expect(r.harmedAfterRun).toBe(0);
      if (r.regression && r.outcome === 'completed')
        expect(r.harmedAfterRun).toBeGreaterThan(r.harmedDuringRun);
    }
    expect(fast.harmed).toBeGreaterThan(0);
    expect(fast.harmed).toBeLessThan(50);
    expect(rows.every((r) => r.queries > 0 && r.wallMs < r.virtualMs)).toBe(true);

    // Same traffic, other route kind and reporter: the same decisions at the same instants.
    for (const name of ['healthy', 'errors-20x']) {
      const onRoute = row(name, 'default @httproute');
      const onVs = row(name, 'default');
      expect(onRoute.route).toBe('httproute-ambient');
      expect(onVs.route).toBeUndefined();
      expect(onRoute.queries).toBeGreaterThan(0);
      expect({ ...pick(onRoute), reason: onRoute.reason.replace(/waypoint/g, 'destination') }).toEqual({
        ...pick(onVs),
        reason: onVs.reason,
      });
    }

    const cells = summarize(rows);
    expect(cells).toHaveLength(8);
    expect(formatTable(cells)).toContain('errors-20x');
    expect(targetChecks(cells).some((t) => /20× errors/.test(t.target))).toBe(true);
    expect(renderSvg(rows, 'quick')).toMatch(
      /^<svg[^>]+xmlns="http:\/\/www.w3.org\/2000\/svg"[\s\S]*<polyline/,
    );
    expect(Date.now() - started).toBeLessThan(90_000);
  });
});
