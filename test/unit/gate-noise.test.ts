/**
 * Monte-Carlo checks of the sequential error checks' false-rollback guarantee under the noise real meshes have
 * (issue 19): each family serves a container exactly as good as the VMs through a whole schedule, the checks run
 * after every bin exactly as the gate runs them, and the share of runs in which any check ever fails must stay
 * within the checks' alpha (with the Monte-Carlo error's 95 % allowance). Seeds here are not the bench's.
 */
import { describe, expect, it } from 'vitest';
import { sequentialChecks } from '../../src/gate/checks/sequential-verdict.js';
import type { GateSample } from '../../src/gate/types.js';
import { parsePlan } from '../../src/plan/load.js';
import { mulberry32, normalFrom, poissonFrom } from '../../src/sim/random.js';
import { carriedSample, errorBin } from '../harness/gate-samples.js';
import { planYaml } from '../harness/plan-fixtures.js';

/** Errors only, both checks; alpha 0.1 → 0.05 per check, so a few hundred runs can see a violation. */
const POLICY = parsePlan(
  planYaml({}).replace(
    'policy: default',
    `policy:
    steps: [1, 5, 10, 25, 50, 100]
    stepDuration: 3m
    analysis: { interval: 10s, window: 1m, method: sequential, alpha: 0.1, minRequests: 50 }
    slo: { errorRate: { max: 0.01, maxIncreaseOverSource: 0 } }`,
  ),
  'noise.yaml',
).policy;
const ALPHA = 0.1;

interface Noise {
  rps: number;
  rate: number;
  /** Per-side lognormal multiplier of the error rate per 10-s slot (σ), independent on each side. */
  sideSigma?: number;
  /** The containers' own lognormal multiplier per 10-s slot (σ): burstier than steady VMs. */
  targetSigma?: number;
  /** Per-pod multiplier per slot (σ), with three VM instances and `targetPods` pods (default 3). */
  podSigma?: number;
  targetPods?: number;
  /** Probability per slot that both sides fail ×`sharedFactor` together. */
  shared?: number;
  sharedFactor?: number;
  /** Share of each slot's target counts that a scrape out of phase moves into the next bin. */
  phase?: number;
  /** A regressed container: its error rate × `factor` from weight `from` on (VMs at `vmRate` if given). */
  regression?: { factor: number; from: number };
  vmRate?: number;
}

function sampler(seed: number) {
  const u = mulberry32(seed);
  const normal = () => normalFrom(u);
  const poisson = (l: number) => poissonFrom(u, l);
  const mult = (sigma = 0) => (sigma > 0 ? Math.exp(sigma * normal() - (sigma * sigma) / 2) : 1);
  return { u, poisson, mult };
}

/**
 * One migration (6 min per step up to 50 %, then 10 min at 100 %); the weight at which a check first failed, or
 * undefined.
 */
function firstFailure(n: Noise, seed: number, policy = POLICY): number | undefined {
  const s = sampler(seed);
  const batches: NonNullable<GateSample['batches']> = [];
  let carry = 0;
  const t0 = 1_000_000;
  const schedule = [1, 5, 10, 25, 50, 100].flatMap((w) => Array<number>(w === 100 ? 20 : 12).fill(w));
  let stepStart = t0;
  for (const [i, w] of schedule.entries()) {
    if (i > 0 && w !== schedule[i - 1]) stepStart = t0 + i * 30_000;
    let kt = 0;
    let ks = 0;
    for (let slot = 0; slot < 3; slot++) {
      const both = s.u() < (n.shared ?? 0) ? (n.sharedFactor ?? 4) : 1;
      const side = (requests: number, rate: number, pods = 3) => {
        const m = s.mult(n.sideSigma) * both;
        let e = 0;
        for (let p = 0; p < pods; p++) e += s.poisson((requests / pods) * rate * m * s.mult(n.podSigma));
        return e;
      };
      const slotN = n.rps * 10;
      const regressed = n.regression && w >= n.regression.from ? n.regression.factor : 1;
      const et = side((slotN * w) / 100, n.rate * regressed * s.mult(n.targetSigma), n.targetPods);
      const moved = Math.round(et * (n.phase ?? 0));
      kt += et - moved + carry;
      carry = moved;
      ks += side((slotN * (100 - w)) / 100, n.vmRate ?? n.rate);
    }
    const nt = (n.rps * 30 * w) / 100;
    batches.push({
      start: t0 + i * 30_000,
      end: t0 + (i + 1) * 30_000,
      target: errorBin(nt, kt),
      source: errorBin(n.rps * 30 - nt, ks),
    });
    const sample = carriedSample(batches, stepStart);
    if (sequentialChecks(policy, sample, w).some((c) => c.outcome === 'fail')) return w;
  }
  return undefined;
}

/** Share of runs in which a check failed (before weight `before`, if given). */
function rate(n: Noise, runs: number, seed0: number, before = Infinity): number {
  let hits = 0;
  for (let r = 0; r < runs; r++) {
    const w = firstFailure(n, seed0 + r);
    if (w !== undefined && w < before) hits++;
  }
  return hits / runs;
}

/** The alpha bound with the Monte-Carlo error of `runs` runs (one-sided 95 %). */
const bound = (runs: number) => ALPHA + 1.645 * Math.sqrt((ALPHA * (1 - ALPHA)) / runs);

describe('false rollbacks of a container as good as the VMs, per noise family (Monte Carlo)', () => {
  const RUNS = 120;
  const families: Array<[string, Noise]> = [
    ['independent (binomial) errors, 200 req/s', { rps: 200, rate: 0.005 }],
    ['bursty per side per 10 s (σ 0.8), 200 req/s', { rps: 200, rate: 0.005, sideSigma: 0.8 }],
    ['bursty per side per 10 s (σ 0.5), 2,000 req/s', { rps: 2000, rate: 0.005, sideSigma: 0.5 }],
    ['bursty per pod per 10 s (σ 1), 2,000 req/s', { rps: 2000, rate: 0.005, podSigma: 1 }],
    [
      'bursty per pod per 10 s (σ 1.2), 3 VM instances against 2 pods, 2,000 req/s',
      { rps: 2000, rate: 0.005, podSigma: 1.2, targetPods: 2 },
    ],
    [
      'bursty per pod per 10 s (σ 1.2), 3 VM instances against 1 pod, 200 req/s',
      { rps: 200, rate: 0.005, podSigma: 1.2, targetPods: 1 },
    ],
    [
      'the containers bursty on their own (σ 0.8), the VMs steady, 2,000 req/s',
      { rps: 2000, rate: 0.005, targetSigma: 0.8 },
    ],
    [
      'shared failures of both sides (×6 in 5 % of slots), 2,000 req/s',
      { rps: 2000, rate: 0.005, shared: 0.05, sharedFactor: 6 },
    ],
    ['both sides at 1.3 % (a failing shared dependency), 200 req/s', { rps: 200, rate: 0.013 }],
    [
      'scrape jobs out of phase (a third of each slot lands late) with shared failures',
      { rps: 2000, rate: 0.005, phase: 0.33, shared: 0.05 },
    ],
    ['low base rate 0.05 %, 200 req/s', { rps: 200, rate: 0.0005 }],
  ];
  for (const [name, noise] of families) {
    it(name, () => {
      expect(rate(noise, RUNS, 90_001)).toBeLessThanOrEqual(bound(RUNS));
    });
  }
});

describe('side-wide bursts early in the migration, at the default policy', () => {
  const DEFAULT = parsePlan(planYaml({}), 'default.yaml').policy;
  // Runs (σ drawn per seed from 0.3–0.8, 2,000 req/s) that the checks rolled back at 5 % while the
  // containers' dispersion was still estimated from their own few errors: the VMs' bursts, measured from the
  // first bin, now temper the containers' bins from the start.
  const rolledBackBefore: Array<[seed: number, sigma: number]> = [
    [178, 0.6197919072117657],
    [213, 0.5891359428176657],
    [284, 0.5938462650636211],
    [796, 0.4495374199002981],
    [909, 0.4439117712434381],
  ];
  it.each(rolledBackBefore)('seed %i (σ %f) is not rolled back before weight 50', (seed, sigma) => {
    const w = firstFailure({ rps: 2000, rate: 0.005, sideSigma: sigma }, seed, DEFAULT);
    expect(w === undefined || w >= 50).toBe(true);
  });
});

describe('the same checks still catch what they are for (the Monte Carlo above can fail)', () => {
  it('2× errors from the first step, under bursts at 200 req/s: caught before 50 % in ≥ 90 %', () => {
    const n = { rps: 200, rate: 0.005, sideSigma: 0.5, regression: { factor: 2, from: 1 } };
    expect(rate(n, 40, 77_001, 50)).toBeGreaterThanOrEqual(0.9);
  });

  it('1.5× errors that begin only at 50 % (a load-dependent bug): caught, at 50 % or in the watch after 100 %', () => {
    const n = { rps: 200, rate: 0.005, regression: { factor: 1.5, from: 50 } };
    expect(rate(n, 40, 78_001)).toBeGreaterThanOrEqual(0.6);
  });

  it('containers failing 0.8 % against VMs that never fail: caught in every run', () => {
    const n = { rps: 200, rate: 0.008, vmRate: 0 };
    expect(rate(n, 20, 79_001, 50)).toBe(1);
  });
});
