import { describe, expect, it } from 'vitest';
import { binnedSince, sideSinceStep } from '../../src/gate/cumulative.js';
import { RawSampleCache } from '../../src/gate/raw-cache.js';
import {
  counterIncrease,
  logThreshold,
  normalCdf,
  rateEvidence,
  ratioEvidence,
} from '../../src/gate/sequential.js';
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

describe('counts from raw counter samples', () => {
  it('counts exact increases, never extrapolated: one error is one error', () => {
    const from = 1000;
    // Present before the step: counts from its first sample at/after the step start.
    expect(
      counterIncrease(
        [
          { t: 0, v: 10 },
          { t: 15_000, v: 14 },
          { t: 30_000, v: 15 },
        ],
        from,
      ),
    ).toBe(1);
    // Born during the step: its first sample is traffic too.
    expect(counterIncrease([{ t: 15_000, v: 1 }], from)).toBe(1);
    expect(counterIncrease([], from)).toBe(0);
  });

  it('a counter reset (pod restart) is no negative or invented evidence', () => {
    const samples = [
      { t: 0, v: 100 },
      { t: 15_000, v: 130 },
      { t: 30_000, v: 5 },
      { t: 45_000, v: 20 },
    ];
    // The 30 between t=0 and 15 s straddle the step start: not counted (conservative); then a reset to 5, then +15.
    expect(counterIncrease(samples, 1000)).toBe(5 + 15);
    expect(counterIncrease(samples, -1)).toBe(130 + 5 + 15);
  });

  it('a scrape gap loses no counts and adds none', () => {
    const samples = [
      { t: 0, v: 0 },
      { t: 15_000, v: 10 },
      { t: 75_000, v: 50 },
    ];
    expect(counterIncrease(samples, 1000)).toBe(40);
  });

  it('aggregates requests, HTTP and gRPC errors and latency buckets of one side', () => {
    const s = (name: string, labels: Record<string, string>, values: number[]) => ({
      labels: { __name__: name, ...labels },
      samples: values.map((v, i) => ({ t: 2000 + i * 15_000, v })),
    });
    const side = sideSinceStep(
      [
        s('istio_requests_total', { response_code: '200', grpc_response_status: '0' }, [90, 190]),
        s('istio_requests_total', { response_code: '200', grpc_response_status: '14' }, [1, 3]),
        s('istio_requests_total', { response_code: '503', grpc_response_status: '14' }, [0, 1]),
        s('istio_request_duration_milliseconds_bucket', { le: '25' }, [50, 150]),
        s('istio_request_duration_milliseconds_bucket', { le: '100' }, [80, 185]),
        s('istio_request_duration_milliseconds_bucket', { le: '+Inf' }, [91, 194]),
      ],
      1000,
    );
    expect(side.requests).toBe(194);
    expect(side.errors).toBe(4);
    expect(side.latencyCount).toBe(194);
    expect(side.buckets?.[4]).toBe(150); // le=25
    expect(side.buckets?.[6]).toBe(185); // le=100
  });
});

describe('raw sample cache', () => {
  it('asks only for what is new, and merges without duplicating samples', () => {
    const cache = new RawSampleCache(2);
    const labels = { __name__: 'istio_requests_total', pod: 'a' };
    expect(cache.fetchFrom('k', 0, 30_000, 60_000)).toBe(0);
    cache.merge(
      'k',
      [
        {
          labels,
          samples: [
            { t: 15_000, v: 1 },
            { t: 30_000, v: 2 },
          ],
        },
      ],
      30_000,
    );
    expect(cache.fetchFrom('k', 0, 120_000, 60_000)).toBe(0);
    expect(cache.fetchFrom('k', 0, 200_000, 60_000)).toBe(0);
    const all = cache.merge(
      'k',
      [
        {
          labels,
          samples: [
            { t: 30_000, v: 2 },
            { t: 45_000, v: 5 },
          ],
        },
        { labels: { ...labels, pod: 'b' }, samples: [{ t: 45_000, v: 1 }] },
      ],
      100_000,
    );
    expect(all.map((s) => s.samples.length)).toEqual([3, 1]);
    expect(cache.fetchFrom('k', 0, 110_000, 60_000)).toBe(40_000);
    // Asked about an earlier instant than cached: read everything again.
    expect(cache.fetchFrom('k', 0, 50_000, 60_000)).toBe(0);
  });
});

describe('evidence bins', () => {
  it('each bin holds both sides’ increases, dated by the sample that reported them', () => {
    const req = (pod: string, values: number[]) => ({
      labels: { __name__: 'istio_requests_total', pod, response_code: '200', grpc_response_status: '0' },
      samples: values.map((v, i) => ({ t: i * 15_000, v })),
    });
    const bins = binnedSince(
      [req('vm', [0, 100, 200, 300, 400])],
      [req('k8s', [0, 1, 2, 13, 24])],
      0,
      30_000,
    );
    expect(bins.map((b) => [b.source.requests, b.target.requests])).toEqual([
      [100, 1],
      [200, 12],
      [100, 11],
    ]);
  });
});
