/** The dispersion estimators (src/gate/stats/dispersion.ts): κ from the data, the conditional residual, the floor. */
import { describe, expect, it } from 'vitest';
import {
  conditionalDispersion,
  kappaOf,
  ownDispersion,
  type BinMoment,
} from '../../src/gate/stats/dispersion.js';
import { evidenceOf, sequentialChecks } from '../../src/gate/checks/sequential-verdict.js';
import { vmRateBound } from '../../src/gate/checks/sequential-errors.js';
import { wilson } from '../../src/gate/stats/stats.js';
import { parsePlan } from '../../src/plan/load.js';
import { mulberry32, normalFrom, poissonFrom } from '../../src/sim/random.js';
import { carriedSample, errorBin } from '../harness/gate-samples.js';
import { planYaml } from '../harness/plan-fixtures.js';

/** Seeded counts: Poisson with a log-normal factor of mean 1 (σ) per bin; `shared` draws one factor for both. */
function counts(seed: number, bins: number, opts: { sigma: number; shared?: boolean }) {
  const u = mulberry32(seed);
  const factor = () => (opts.sigma > 0 ? Math.exp(opts.sigma * normalFrom(u) - opts.sigma ** 2 / 2) : 1);
  return Array.from({ length: bins }, () => {
    const ft = factor();
    const fs = opts.shared ? ft : factor();
    return {
      target: { events: poissonFrom(u, 50 * ft), trials: 10_000 },
      source: { events: poissonFrom(u, 250 * fs), trials: 50_000 },
    };
  });
}

describe('ownDispersion', () => {
  it('finds no dispersion in Poisson counts', () => {
    const d = ownDispersion(counts(1, 400, { sigma: 0 }).map((b) => b.source));
    expect(d.kappa).toBeLessThan(0.01);
    expect(Math.max(...d.phi)).toBeLessThan(1 + 0.01 * 260);
  });

  it('estimates κ = e^σ² − 1 of a log-normal rate (σ 0.5: 0.28)', () => {
    const d = ownDispersion(counts(2, 400, { sigma: 0.5 }).map((b) => b.source));
    expect(d.kappa).toBeGreaterThan(0.2);
    expect(d.kappa).toBeLessThan(0.38);
  });

  it('never goes below the floor it is given', () => {
    const bins = counts(3, 50, { sigma: 0 }).map((b) => b.target);
    const d = ownDispersion(bins, undefined, undefined, 0.3);
    expect(d.kappa).toBe(0.3);
    expect(d.phi[0]).toBeCloseTo(1 + 0.3 * 50 * (bins.reduce((a, b) => a + b.events, 0) / (50 * 50)), 6);
  });
});

describe('conditionalDispersion (the containers’ share of each bin’s errors)', () => {
  it('a burst both sides share costs nothing', () => {
    expect(conditionalDispersion(counts(4, 400, { sigma: 0.8, shared: true })).kappa).toBeLessThan(0.02);
  });

  it('bursts of each side on its own show', () => {
    expect(conditionalDispersion(counts(5, 400, { sigma: 0.5 })).kappa).toBeGreaterThan(0.15);
  });

  it('never goes below the floor it is given', () => {
    expect(conditionalDispersion(counts(6, 40, { sigma: 0 }), undefined, undefined, 0.25).kappa).toBe(0.25);
  });
});

describe('the error comparison tempers by the VMs’ own burstiness', () => {
  const policy = parsePlan(planYaml({}), 'default.yaml').policy;
  function sample(vmErrors: number[], targetErrors: number[]) {
    const t0 = 1_000_000;
    const batches = vmErrors.map((e, i) => ({
      start: t0 + i * 30_000,
      end: t0 + (i + 1) * 30_000,
      target: errorBin(3_000, targetErrors[i]!),
      source: errorBin(57_000, e),
    }));
    return carriedSample(batches, t0);
  }

  // Six bins at 5 % of 2,000 req/s; the containers' errors match the VMs' mean (0.5 %) but two bins burst ×2.7.
  // (That the floor changes decisions is shown on whole migrations: gate-noise.test.ts, the seeded early bursts.)
  const target = [15, 14, 40, 41, 15, 16];
  const comparison = (vm: number[]) =>
    sequentialChecks(policy, sample(vm, target), 5).find((c) => c.name === 'error-rate-vs-source')!;

  it('VMs whose errors vary ±70 % bin to bin: the containers’ burst is weighed down, and the verdict says why', () => {
    const bursty = comparison([120, 520, 180, 430, 90, 370]);
    expect(bursty.outcome).not.toBe('fail');
    expect(bursty.message).toMatch(/errors come in bursts \(the VMs' error rate varies by up to ±\d+ %/);
  });

  it('VMs as steady as Poisson: nothing is said about the VMs, and the burst is weighed by the containers’ share', () => {
    const steady = comparison([285, 280, 290, 286, 279, 288]);
    expect(steady.message).not.toMatch(/the VMs' error rate varies/);
    expect(steady.message).toMatch(
      /errors come in bursts \(the containers' share of errors varies by up to ±\d+ %/,
    );
  });
});

describe('κ is read high once the bins show bursts', () => {
  /** 40 bins of 30 s at 2,000 req/s, 0.5 % errors, each pod's rate × a log-normal factor per 10-s slot. */
  function podBins(seed: number, sigma: number) {
    const u = mulberry32(seed);
    const side = (pods: number) => {
      let events = 0;
      for (let slot = 0; slot < 3; slot++)
        for (let p = 0; p < pods; p++)
          events += poissonFrom(
            u,
            (10_000 / pods) * 0.005 * Math.exp(sigma * normalFrom(u) - sigma ** 2 / 2),
          );
      return { events, trials: 30_000 };
    };
    return Array.from({ length: 40 }, () => ({ target: side(2), source: side(3) }));
  }
  const plain = (terms: ReadonlyArray<BinMoment | undefined>) => {
    const t = terms.filter((x): x is BinMoment => x !== undefined);
    return Math.max(0, (t.reduce((a, x) => a + x.excess, 0) + 1) / t.reduce((a, x) => a + x.weight, 0));
  };

  it('per-pod bursts (σ 0.8, 3 VM instances, 2 pods): at or above the truth in about half the runs, not a fifth', () => {
    const v = Math.exp(0.64) - 1;
    const truth = (v / 6 + v / 9) / 2; // the conditional κ of equal sides: the mean of theirs (per bin of 3 slots)
    let used = 0;
    let estimated = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const d = conditionalDispersion(podBins(seed, 0.8));
      if (d.kappa >= truth) used++;
      if (plain(d.terms) >= truth) estimated++;
    }
    expect(estimated / 200).toBeLessThan(0.3);
    expect(used / 200).toBeGreaterThanOrEqual(0.45);
  });

  it('Poisson counts: the estimate as it is (within one standard error of 0 nothing is added)', () => {
    let same = 0;
    for (let seed = 1; seed <= 100; seed++) {
      const d = conditionalDispersion(podBins(seed, 0));
      if (d.kappa === plain(d.terms)) same++;
    }
    expect(same).toBeGreaterThanOrEqual(80);
  });

  it('one standard error high once κ̂ is two above 0, and the same whether bins are live or folded', () => {
    const terms: BinMoment[] = Array.from({ length: 30 }, (_, i) => ({
      excess: i % 2 ? 40 : 10,
      weight: 100,
      segment: 0,
    }));
    const k = (25 * 30 + 1) / 3000;
    const se = Math.sqrt(2 * (30 + 2 * k * 3000 + k * k * 30 * 100 * 100)) / 3000;
    expect(k / se).toBeGreaterThan(2);
    expect(kappaOf(terms, undefined)).toBeCloseTo(k + se, 12);
    const folded = terms.slice(0, 20);
    const prior = {
      excess: folded.reduce((a, t) => a + t.excess, 0),
      weight: 2000,
      count: 20,
      weightSq: 20 * 100 * 100,
      segments: [0],
    };
    expect(kappaOf(terms.slice(20), prior)).toBeCloseTo(kappaOf(terms, undefined), 12);
  });
});

describe('the watch after promotion holds the containers to the VMs’ earlier rate, bounded with their bursts', () => {
  const policy = parsePlan(planYaml({}), 'default.yaml').policy;
  const t0 = 1_000_000;
  const batches = Array.from({ length: 20 }, (_, i) => ({
    start: t0 + i * 30_000,
    end: t0 + (i + 1) * 30_000,
    target: errorBin(3_000, 15),
    source: errorBin(57_000, 285),
  }));
  const ev = evidenceOf(policy, carriedSample(batches, t0), 5);
  const sk = 285 * 20;
  const sn = 57_000 * 20;

  it('steady VMs: the Poisson bound', () => {
    expect(vmRateBound(ev, sk, sn, 0)).toBeCloseTo(wilson(sk, sn, 0.99).high, 12);
  });

  it('bursty VMs (κ 0.1, 285 errors a bin): the bound counts n/φ requests, φ = 1 + 0.1 × 285', () => {
    const phi = 1 + 0.1 * 285;
    const bound = vmRateBound(ev, sk, sn, 0.1);
    expect(bound).toBeCloseTo(wilson(sk / phi, sn / phi, 0.99).high, 12);
    expect(bound).toBeGreaterThan(wilson(sk, sn, 0.99).high * 1.05);
  });
});
