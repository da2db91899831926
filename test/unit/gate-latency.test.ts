/**
 * The latency comparison means what it says (issue 19): maxRatioToSource r on p99 tests the containers' p99 ≤ r ×
 * the VMs' p99, whatever the VMs' p99 is relative to Istio's bounds; counts below are exact expectations of
 * log-normal latencies (with a small slow minority) at Istio's bounds, in 30-s bins.
 */
import { describe, expect, it } from 'vitest';
import { rateBinLLR } from '../../src/gate/stats/evidence.js';
import { ISTIO_LATENCY_BUCKETS_MS } from '../../src/gate/input/buckets.js';
import {
  ALTERNATIVES,
  LATENCY_RATIO_ALTERNATIVES,
  logMeanExp,
  normalCdf,
} from '../../src/gate/stats/sequential.js';
import { latencyAtShare, sourceQuantileUpper } from '../../src/gate/checks/sequential-latency.js';
import { sequentialChecks } from '../../src/gate/checks/sequential-verdict.js';
import type { BinCounts, GateSample } from '../../src/gate/types.js';
import { loadPolicy } from '../../src/plan/load.js';

interface Shape {
  median: number;
  p99: number;
  tail?: number;
}

const cdf = (s: Shape, x: number) => {
  const sigma = Math.log(s.p99 / s.median) / 2.326;
  const body = normalCdf(Math.log(x / s.median) / sigma);
  const tail = normalCdf(Math.log(x / (s.p99 * 3)) / 0.5);
  return (1 - (s.tail ?? 0)) * body + (s.tail ?? 0) * tail;
};

const counts = (s: Shape, n: number, bounds: readonly number[] = ISTIO_LATENCY_BUCKETS_MS): BinCounts => ({
  requests: n,
  errors: 0,
  buckets: bounds.map((b) => n * cdf(s, b)),
  latencyCount: n,
  ...(bounds === ISTIO_LATENCY_BUCKETS_MS ? {} : { bounds }),
});

/** Finer buckets around 100–250 ms, as the statsHistogramBuckets annotation would set them. */
const FINE = [0.5, 1, 5, 10, 25, 50, 75, 100, 125, 150, 175, 200, 225, 250, 300, 400, 500, 1000, 2500, 5000];

const policy = loadPolicy('default').spec;

/** `bins` 30-s bins from the step's start (the migration's too), each side's counts the same in every bin. */
function binsSample(source: BinCounts, target: BinCounts, bins: number): GateSample {
  const t0 = 1_000_000;
  const batches = Array.from({ length: bins }, (_, i) => ({
    start: t0 + i * 30_000,
    end: t0 + (i + 1) * 30_000,
    source,
    target,
  }));
  return {
    at: t0 + bins * 30_000,
    windowMs: bins * 30_000,
    since: t0,
    evidenceSince: t0,
    batches,
    source: { requests: bins * source.requests, errors: 0, latencyMs: {} },
    target: {
      requests: bins * target.requests,
      errors: 0,
      latencyMs: {},
      latencyCount: bins * target.requests,
    },
    custom: {},
    queries: 0,
  };
}

/** 20 bins at 50 %, 200 req/s; the worst outcome of the p99 and p50 comparisons. */
function judge(
  vm: Shape,
  target: Shape,
  bounds: readonly number[] = ISTIO_LATENCY_BUCKETS_MS,
  bins = 20,
): { p99: string; p50: string; messages: string } {
  const sample = binsSample(counts(vm, 3000, bounds), counts(target, 3000, bounds), bins);
  const checks = sequentialChecks(policy, sample, 50);
  const get = (name: string) => checks.find((c) => c.name === name)!;
  return {
    p99: get('p99-vs-source').outcome,
    p50: get('p50-vs-source').outcome,
    messages: checks.map((c) => `${c.name}: ${c.message}`).join('\n'),
  };
}

describe('latency vs the VMs is a quantile ratio', () => {
  it('a latency floor (no request under 1 ms) does not pull the median down to the first bound', () => {
    const floor = counts({ median: 20, p99: 80 }, 1e5);
    floor.buckets = floor.buckets.map((c, i) => (ISTIO_LATENCY_BUCKETS_MS[i]! <= 1 ? 0 : c));
    const p50 = latencyAtShare(floor, 0.5)!;
    expect(p50).toBeGreaterThan(18);
    expect(p50).toBeLessThan(22);
  });

  it('places a log-normal quantile between bounds (probit interpolation is exact for it)', () => {
    const vm = { median: 20, p99: 170 };
    expect(latencyAtShare(counts(vm, 1e6), 0.01)).toBeCloseTo(170, 0);
    expect(latencyAtShare(counts(vm, 1e6), 0.5)).toBeCloseTo(20, 0);
    expect(sourceQuantileUpper(counts(vm, 1e6), 'p99')).toBeGreaterThan(170);
    expect(sourceQuantileUpper(counts(vm, 1e6), 'p99')).toBeLessThan(180);
  });

  // +30 % is an 8 % excess over a 1.2× allowance. With the VMs' p99 mid-bucket, the share the test reads moves by
  // ~10 % for it — inside what Istio's default buckets resolve (README: finer buckets); +50 % is caught there.
  for (const [where, vm, bad] of [
    ['on a bound (100 ms)', { median: 20, p99: 100, tail: 0.002 }, 1.3],
    ['mid-bucket (170 ms)', { median: 30, p99: 170, tail: 0.002 }, 1.5],
  ] as const) {
    it(`VMs' p99 ${where}: uniformly 10 % slower passes a 1.2× allowance`, () => {
      const r = judge(vm, { median: vm.median * 1.1, p99: vm.p99 * 1.1, tail: vm.tail });
      expect(r.p99, r.messages).toBe('pass');
      expect(r.p50, r.messages).toBe('pass');
    });

    it(`VMs' p99 ${where}: p99 ×${bad} (median unchanged) fails`, () => {
      const r = judge(vm, { median: vm.median, p99: vm.p99 * bad, tail: vm.tail });
      expect(r.p99, r.messages).toBe('fail');
      expect(r.messages).toMatch(/p99-vs-source: .* of target requests over \d+ ms = 1\.2× the VMs' p99/);
    });
  }

  it('finer buckets (when every pod reports them) resolve +30 % with the VMs’ p99 mid-bucket', () => {
    // The VMs' p99 is placed at its upper 90 % bound (~8 % above at 100 req/s a side): +30 % against 1.2× needs
    // about 20 minutes at 100 req/s a side to be caught.
    const vm = { median: 30, p99: 170, tail: 0.002 };
    const r = judge(vm, { median: 30, p99: 170 * 1.3, tail: 0.002 }, FINE, 40);
    expect(r.p99, r.messages).toBe('fail');
    expect(judge(vm, { median: 33, p99: 187, tail: 0.002 }, FINE, 40).p99).toBe('pass');
  });

  it('p50 near a bound: the same median passes, +40 % fails', () => {
    const vm = { median: 24, p99: 100 };
    expect(judge(vm, vm).p50).toBe('pass');
    const slow = judge(vm, { median: 24 * 1.4, p99: 100 * 1.4 });
    expect(slow.p50, slow.messages).toBe('fail');
  });
});

describe('the latency comparison’s alternatives', () => {
  // A p99 30 % above the VMs' against a 1.2× allowance puts 1.12–1.22× the allowed share over x*: at 1.12× the
  // error checks' grid (smallest 1.25×, as odds) has no drift, the latency grid's 1.1× has.
  it('a share 1.12× the allowed one gains evidence on the latency grid, not on the error grid', () => {
    const p0 = 0.01;
    const bin = { k: 1.12 * p0 * 3_000, n: 3_000 };
    const evidence = (grid: readonly number[]) => {
      const sums = grid.map(() => 0);
      for (let b = 0; b < 60; b++)
        rateBinLLR(bin.k, bin.n, p0, { phi: 1, cap: Infinity }, grid).forEach((x, j) => (sums[j]! += x));
      return logMeanExp(sums);
    };
    expect(evidence(LATENCY_RATIO_ALTERNATIVES)).toBeGreaterThan(Math.log(20));
    expect(evidence(ALTERNATIVES)).toBeLessThan(Math.log(2));
  });
});

describe('a latency check short of samples', () => {
  /** `bins` 30-s bins at `weight` %, the step started at the first one; requests per bin on each side. */
  const checksAt = (weight: number, perBin: number, vmPerBin = 4 * perBin, bins = 12) => {
    const healthy = { median: 30, p99: 100 };
    const sample = binsSample(counts(healthy, vmPerBin), counts(healthy, perBin), bins);
    return sequentialChecks(policy, sample, weight).filter((c) => /^p\d\d/.test(c.name));
  };

  it('is skipped at an early step (the evidence carries forward) and never passes', () => {
    const checks = checksAt(25, 30); // 360 samples this step; p99 needs 500
    const p99 = checks.filter((c) => c.name.startsWith('p99'));
    expect(p99.length).toBeGreaterThan(0);
    for (const c of p99) {
      expect(c.outcome).toBe('skipped');
      expect(c.waiting).toBeUndefined();
    }
  });

  it('holds the last step before 100 % until judged, waiting (not counted as missing data)', () => {
    const short = checksAt(50, 30).filter((c) => c.name.startsWith('p99'));
    for (const c of short) {
      expect(c.outcome).toBe('inconclusive');
      expect(c.waiting).toBe(true);
      expect(c.message).toMatch(/360 target samples since the step started, need 500 before 100 %/);
    }
    // With the samples, the same healthy containers pass.
    for (const c of checksAt(50, 60).filter((c) => c.name.startsWith('p99'))) expect(c.outcome).toBe('pass');
    // Too few VM samples to place their p99: the last gate waits for those too; an earlier step skips.
    const vmShort = (w: number) => checksAt(w, 60, 30).find((c) => c.name === 'p99-vs-source')!;
    expect(vmShort(50)).toMatchObject({ outcome: 'inconclusive', waiting: true });
    expect(vmShort(50).message).toMatch(/too little VM traffic .*need 500 before 100 %/);
    expect(vmShort(25).outcome).toBe('skipped');
    // A policy without detectBeforePromotion (and time-compressed runs, which drop it) does not wait.
    const { detectBeforePromotion: _dropped, ...analysis } = policy.analysis;
    const noWait = { ...policy, analysis };
    const sample = binsSample(
      counts({ median: 30, p99: 100 }, 120),
      counts({ median: 30, p99: 100 }, 30),
      12,
    );
    for (const c of sequentialChecks(noWait, sample, 50).filter((c) => c.name.startsWith('p99')))
      expect(c.outcome).toBe('skipped');
  });
});
