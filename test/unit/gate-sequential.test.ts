import { describe, expect, it } from 'vitest';
import { rateBinLLR, ratioBinLLR } from '../../src/gate/stats/evidence.js';
import { logMeanExp, logThreshold, normalCdf, type Counts } from '../../src/gate/stats/sequential.js';

/** One bin's evidence, untempered and uncapped (the live tests' per-bin ratios, mixed over the alternatives). */
const PLAIN = { phi: 1, cap: Infinity };
const rateEvidence = (k: number, n: number, p0: number) => logMeanExp(rateBinLLR(k, n, p0, PLAIN));
const ratioEvidence = (target: Counts, source: Counts, rho0: number) =>
  logMeanExp(ratioBinLLR({ target, source }, rho0, PLAIN));
import { mulberry32 as rng } from '../../src/sim/random.js';

/** Share of runs whose e-value ever reaches 1/alpha when checked after every batch. */
function crossings(
  runs: number,
  batches: number,
  alpha: number,
  step: (u: () => number) => { kt: number; nt: number; ks: number; ns: number },
  evidence: (c: { kt: number; nt: number; ks: number; ns: number }) => number,
): number {
  const u = rng(11);
  let crossed = 0;
  for (let r = 0; r < runs; r++) {
    const c = { kt: 0, nt: 0, ks: 0, ns: 0 };
    for (let b = 0; b < batches; b++) {
      const d = step(u);
      c.kt += d.kt;
      c.nt += d.nt;
      c.ks += d.ks;
      c.ns += d.ns;
      if (evidence(c) >= logThreshold(alpha)) {
        crossed++;
        break;
      }
    }
  }
  return crossed / runs;
}

const bernoulli = (u: () => number, n: number, p: number) => {
  let k = 0;
  for (let i = 0; i < n; i++) if (u() < p) k++;
  return k;
};

describe('sequential tests', () => {
  it('normal CDF matches known values', () => {
    expect(normalCdf(0)).toBeCloseTo(0.5, 6);
    expect(normalCdf(2.3263)).toBeCloseTo(0.99, 4);
    expect(normalCdf(-1.6449)).toBeCloseTo(0.05, 4);
  });

  it('rate test: checked after every batch, a rate at the SLO crosses 1/alpha in at most alpha of runs', () => {
    const alpha = 0.05;
    const share = crossings(
      400,
      60,
      alpha,
      (u) => ({ kt: bernoulli(u, 50, 0.01), nt: 50, ks: 0, ns: 0 }),
      (c) => rateEvidence(c.kt, c.nt, 0.01),
    );
    expect(share).toBeLessThanOrEqual(alpha);
  });

  it('rate test: 5× the SLO is caught, and one error in a few dozen requests is no evidence', () => {
    expect(rateEvidence(30, 600, 0.01)).toBeGreaterThan(logThreshold(0.001));
    expect(rateEvidence(1, 21, 0.01)).toBeLessThan(Math.log(2));
    expect(rateEvidence(0, 1000, 0.01)).toBeLessThan(0);
  });

  it('ratio test: a container as good as the VMs rarely crosses; twice as bad is caught', () => {
    const alpha = 0.05;
    const healthy = crossings(
      300,
      40,
      alpha,
      (u) => ({ kt: bernoulli(u, 100, 0.005), nt: 100, ks: bernoulli(u, 900, 0.005), ns: 900 }),
      (c) => ratioEvidence({ events: c.kt, trials: c.nt }, { events: c.ks, trials: c.ns }, 1),
    );
    expect(healthy).toBeLessThanOrEqual(alpha);
    const bad = crossings(
      100,
      40,
      alpha,
      (u) => ({ kt: bernoulli(u, 250, 0.02), nt: 250, ks: bernoulli(u, 750, 0.005), ns: 750 }),
      (c) => ratioEvidence({ events: c.kt, trials: c.nt }, { events: c.ks, trials: c.ns }, 1),
    );
    expect(bad).toBeGreaterThan(0.9);
  });

  it('ratio test: the null ratio is a tolerance (1.5× passes a test of ρ ≤ 2)', () => {
    const t = { events: 75, trials: 10_000 };
    const s = { events: 50, trials: 10_000 };
    expect(ratioEvidence(t, s, 1)).toBeGreaterThan(0);
    expect(ratioEvidence(t, s, 2)).toBeLessThan(0);
  });
});
