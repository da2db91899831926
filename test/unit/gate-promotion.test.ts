import { describe, expect, it } from 'vitest';
import { parsePlan } from '../../src/plan/load.js';
import { scalePolicy } from '../../src/plan/load.js';
import {
  detectionPower,
  errorPromotionReadiness,
  promotesNext,
  trafficFactorFor,
} from '../../src/gate/stats/promotion.js';
import { ratioBinLLR } from '../../src/gate/stats/evidence.js';
import { ALTERNATIVES, logMeanExp, logThreshold, type Batch } from '../../src/gate/stats/sequential.js';

/** The ratio test over batches (per-alternative ln LR added up, then mixed), untempered and uncapped. */
const ratioEvidenceBatches = (batches: readonly Batch[], rho0: number) => {
  const sums = ALTERNATIVES.map(() => 0);
  for (const b of batches) ratioBinLLR(b, rho0, { phi: 1, cap: Infinity }).forEach((x, j) => (sums[j]! += x));
  return logMeanExp(sums);
};
import { mulberry32, poissonFrom } from '../../src/sim/random.js';
import { GOOD_PLAN } from '../harness/plan-fixtures.js';

const poisson = poissonFrom;

/** One step at `w` % of `rps`: 30-second bins (request counts only; events are filled in by the caller). */
function step(rps: number, w = 50, bins = 6): Batch[] {
  return Array.from({ length: bins }, () => ({
    target: { events: 0, trials: rps * 30 * (w / 100) },
    source: { events: 0, trials: rps * 30 * (1 - w / 100) },
  }));
}

describe('power before promotion', () => {
  const level = logThreshold(0.01 / 5);

  it('matches a Monte-Carlo run of the same test on the last step (±8 points)', () => {
    const bins = step(200, 50, 20);
    const predicted = detectionPower({ bins, sourceRate: 0.005, targetRate: 0.0075, rho0: 1, level });
    const u = mulberry32(7);
    const runs = 400;
    let crossed = 0;
    for (let r = 0; r < runs; r++) {
      const batches = bins.map((b) => ({
        target: { events: poisson(u, b.target.trials * 0.0075), trials: b.target.trials },
        source: { events: poisson(u, b.source.trials * 0.005), trials: b.source.trials },
      }));
      if (ratioEvidenceBatches(batches, 1) >= level) crossed++;
    }
    const observed = crossed / runs;
    // The normal approximation takes the best single alternative of the grid, so it is conservative.
    expect(predicted).toBeGreaterThan(0.2);
    expect(predicted).toBeLessThan(observed + 0.08);
    expect(observed - predicted).toBeLessThan(0.3);
  });

  it('grows with traffic and with the size of the regression, and falls with dispersion', () => {
    const at = (rps: number, ratio: number, phi = 1) =>
      detectionPower({
        bins: step(rps),
        phi: step(rps).map(() => phi),
        sourceRate: 0.005,
        targetRate: 0.005 * ratio,
        rho0: 1,
        level,
      });
    expect(at(20, 1.5)).toBeLessThan(0.05);
    expect(at(200, 1.5)).toBeGreaterThan(at(20, 1.5));
    expect(at(2000, 1.5)).toBeGreaterThan(0.99);
    expect(at(200, 3)).toBeGreaterThan(at(200, 1.5));
    expect(at(2000, 1.5, 10)).toBeLessThan(at(2000, 1.5));
  });

  it('says how much more traffic it needs, and that traffic then suffices', () => {
    const q = { bins: step(200), sourceRate: 0.005, targetRate: 0.0075, rho0: 1, level };
    const f = trafficFactorFor(q, 0.9);
    expect(f).toBeGreaterThan(1);
    const more = step(200, 50, Math.ceil(6 * f));
    expect(detectionPower({ ...q, bins: more })).toBeGreaterThanOrEqual(0.89);
  });

  it('holds the last gate at low traffic with an estimate, and promotes at high traffic', () => {
    const base = { lastGate: true, detect: { errorRatio: 1.5, power: 0.9 }, rho0: 1, level, binMs: 30_000 };
    const low = errorPromotionReadiness({
      ...base,
      bins: step(20),
      phi: [],
      sourceErrors: 160,
      sourceRequests: 32000,
    });
    expect(low.ok).toBe(false);
    expect(low.note).toMatch(
      /0\.75 % error rate \(vs 0\.50 % on the VMs\) would have been caught at this step/,
    );
    expect(low.note).toMatch(/needs ≈ \d+ more minutes at 10 req\/s/);
    const high = errorPromotionReadiness({
      ...base,
      bins: step(2000),
      phi: [],
      sourceErrors: 16_000,
      sourceRequests: 3_200_000,
    });
    expect(high).toEqual({ ok: true, note: '' });
    // Not the last gate: nothing to wait for.
    expect(
      errorPromotionReadiness({
        ...base,
        lastGate: false,
        bins: [],
        phi: [],
        sourceErrors: 0,
        sourceRequests: 1,
      }).ok,
    ).toBe(true);
  });

  it('VMs that never fail: the rule still runs, on +0.1 points over nothing', () => {
    const base = {
      lastGate: true,
      detect: { errorRatio: 1.5, power: 0.9 },
      rho0: 1,
      level,
      binMs: 30_000,
      phi: [],
    };
    const r = errorPromotionReadiness({
      ...base,
      bins: step(20, 50, 20),
      sourceErrors: 0,
      sourceRequests: 100_000,
    });
    expect(r.ok).toBe(false);
    expect(r.note).toMatch(/0\.10 % error rate \(vs 0\.00 % on the VMs\)/);
    expect(
      errorPromotionReadiness({ ...base, bins: step(2000, 50, 20), sourceErrors: 0, sourceRequests: 1e6 }).ok,
    ).toBe(true);
  });

  it('a very reliable service is asked for an absolute increase (0.1 points), not 1.5× of almost nothing', () => {
    const r = errorPromotionReadiness({
      lastGate: true,
      detect: { errorRatio: 1.5, power: 0.9 },
      rho0: 1,
      level,
      binMs: 30_000,
      bins: step(200, 50, 12),
      phi: [],
      sourceErrors: 30,
      sourceRequests: 300_000,
    });
    // 0.01 % on the VMs: 1.5× is unknowable on this traffic, +0.1 points (11×) is not.
    expect(r).toEqual({ ok: true, note: '' });
  });

  it('without enough requests to expect three errors at this step there is nothing to compare', () => {
    const r = errorPromotionReadiness({
      lastGate: true,
      rho0: 1,
      level,
      binMs: 30_000,
      bins: step(20, 50, 1),
      phi: [],
      sourceErrors: 5,
      sourceRequests: 1000,
    });
    expect(r.ok).toBe(false);
    expect(r.note).toMatch(/1\.8 expected errors \(need 3\)/);
  });

  it('only the step before 100 % is the last gate', () => {
    expect(promotesNext([1, 5, 10, 25, 50, 100], 50)).toBe(true);
    expect(promotesNext([1, 5, 10, 25, 50, 100], 25)).toBe(false);
    expect(promotesNext([1, 5, 10, 25, 50, 100], 100)).toBe(false);
  });

  it('the default policy asks for it, and a time-compressed run (demos, tests) waives it', () => {
    const plan = parsePlan(GOOD_PLAN, 'p.yaml');
    expect(plan.policy.analysis.detectBeforePromotion).toEqual({ errorRatio: 1.5, power: 0.9 });
    expect(scalePolicy(plan.policy, 1).analysis.detectBeforePromotion).toBeDefined();
    expect(scalePolicy(plan.policy, 0.05).analysis.detectBeforePromotion).toBeUndefined();
  });
});
