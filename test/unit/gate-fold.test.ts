/**
 * Folding old bins away (fold.ts): the checks decide as they do on every bin, and the evidence a migration holds
 * stops growing with its duration.
 */
import { describe, expect, it } from 'vitest';
import type { EvidenceBin } from '../../src/gate/input/bins.js';
import { ISTIO_LATENCY_BUCKETS_MS } from '../../src/gate/input/buckets.js';
import { FOLD_CHUNK, foldEvidence, LIVE_BINS } from '../../src/gate/checks/fold.js';
import { normalCdf } from '../../src/gate/stats/sequential.js';
import { sequentialChecks } from '../../src/gate/checks/sequential-verdict.js';
import type { BinCounts, GateSample } from '../../src/gate/types.js';
import { loadPolicy } from '../../src/plan/load.js';
import { mulberry32, normalFrom, poissonFrom } from '../../src/sim/random.js';

const policy = loadPolicy('default').spec;
const BIN = 3 * policy.analysis.interval;
const T0 = 1_000_000;

/** One side's bin: Poisson requests, binomial-ish errors, log-normal latency (p50 30 ms, p99 `p99` ms). */
function side(rand: () => number, n: number, errRate: number, p99: number): BinCounts {
  const requests = poissonFrom(rand, n);
  const errors = poissonFrom(rand, requests * errRate);
  const sigma = Math.log(p99 / 30) / 2.326;
  const buckets = ISTIO_LATENCY_BUCKETS_MS.map((b) => {
    const p = normalCdf(Math.log(b / 30) / sigma);
    return Math.max(0, Math.round(requests * p + normalFrom(rand) * Math.sqrt(requests * p * (1 - p))));
  });
  for (let i = 1; i < buckets.length; i++)
    buckets[i] = Math.min(requests, Math.max(buckets[i]!, buckets[i - 1]!));
  return { requests, errors, buckets, latencyCount: requests };
}

const STEPS = (i: number): number => (i < 60 ? 0.1 : i < 120 ? 0.25 : 0.5);

/** A migration's bins: 10 % for half an hour, then 25 %, then 50 %; containers ×`ratio` errors from bin `from`. */
function migration(seed: number, bins: number, ratio = 1, from = 0, weight = STEPS): EvidenceBin[] {
  const rand = mulberry32(seed);
  return Array.from({ length: bins }, (_, i) => {
    const w = weight(i);
    const rps = 200 * (BIN / 1000);
    return {
      start: T0 + i * BIN,
      end: T0 + (i + 1) * BIN,
      source: side(rand, rps * (1 - w), 0.003, 100),
      target: side(rand, rps * w, 0.003 * (i >= from ? ratio : 1), 100),
    };
  });
}

function sampleOf(bins: readonly EvidenceBin[]): GateSample {
  const n = bins.length;
  const stepStart = n <= 60 ? 0 : n <= 120 ? 60 : 120;
  const step = bins.slice(stepStart);
  const sum = (s: 'source' | 'target') => ({
    requests: step.reduce((a, b) => a + b[s].requests, 0),
    errors: step.reduce((a, b) => a + b[s].errors, 0),
    latencyCount: step.reduce((a, b) => a + b[s].latencyCount, 0),
    latencyMs: {},
  });
  return {
    at: T0 + n * BIN,
    windowMs: (n - stepStart) * BIN,
    since: T0 + stepStart * BIN,
    evidenceSince: T0,
    batches: [...bins],
    source: sum('source'),
    target: sum('target'),
    custom: {},
    queries: 0,
  };
}

/** What the provider does: fold FOLD_CHUNK bins whenever LIVE_BINS + FOLD_CHUNK are held. */
function folded(bins: readonly EvidenceBin[], keep = LIVE_BINS): GateSample {
  let s = sampleOf(bins);
  while (s.batches!.length >= keep + FOLD_CHUNK) {
    const f = foldEvidence(policy, s, FOLD_CHUNK);
    s = { ...s, batches: s.batches!.slice(FOLD_CHUNK), folded: f };
  }
  return s;
}

const outcomes = (s: GateSample, weight: number) =>
  Object.fromEntries(sequentialChecks(policy, s, weight).map((c) => [c.name, c.outcome]));
const evidence = (s: GateSample, weight: number) =>
  Object.fromEntries(
    sequentialChecks(policy, s, weight).map((c) => [
      c.name,
      Number(/evidence ([\d.e+]+)/.exec(c.message)?.[1] ?? NaN),
    ]),
  );

describe('folding old bins', () => {
  it('a healthy migration reads the same with its old bins folded', () => {
    for (const seed of [1, 2, 3]) {
      const bins = migration(seed, 200);
      const full = sampleOf(bins);
      const f = folded(bins);
      expect(f.folded!.bins).toBeGreaterThan(100);
      expect(outcomes(f, 50)).toEqual(outcomes(full, 50));
      const a = evidence(full, 50);
      const b = evidence(f, 50);
      for (const k of Object.keys(a))
        if (Number.isFinite(a[k])) expect(Math.abs(Math.log(b[k]! / a[k]!)), k).toBeLessThan(0.7);
    }
  });

  it('a regression is caught at the same bin, folded or not (a small one from the start, a late one)', () => {
    for (const [seed, ratio, from, weight] of [
      [4, 1.35, 0, STEPS],
      [7, 1.3, 0, () => 0.5],
      [5, 2.5, 130, STEPS],
      [6, 2.5, 130, STEPS],
    ] as const) {
      const bins = migration(seed, 240, ratio, from, weight);
      const firstFail = (fold: boolean) => {
        for (let n = 61; n <= bins.length; n++) {
          const s = fold ? folded(bins.slice(0, n)) : sampleOf(bins.slice(0, n));
          if (sequentialChecks(policy, s, 50).some((c) => c.outcome === 'fail')) return n;
        }
        return Infinity;
      };
      const plain = firstFail(false);
      expect(plain, `seed ${seed}`).toBeLessThan(240);
      expect(plain).toBeGreaterThan(LIVE_BINS + FOLD_CHUNK);
      expect(Math.abs(firstFail(true) - plain)).toBeLessThanOrEqual(2);
    }
  });

  it('the evidence held stops growing with the migration', () => {
    const bins = migration(6, 480);
    const size = (n: number) => JSON.stringify(folded(bins.slice(0, n))).length;
    const at1h = size(120);
    expect(size(240)).toBeLessThan(at1h * 1.1);
    expect(size(480)).toBeLessThan(at1h * 1.1);
    // Unfolded, the same evidence grows with every bin.
    expect(JSON.stringify(sampleOf(bins)).length).toBeGreaterThan(3 * at1h);
  });
});
