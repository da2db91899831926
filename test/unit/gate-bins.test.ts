import { describe, expect, it } from 'vitest';
import {
  alignedBins,
  seriesIncreases,
  sideBetween,
  sideBounds,
  type RawSeries,
} from '../../src/gate/input/bins.js';
import { ISTIO_LATENCY_BUCKETS_MS } from '../../src/gate/input/buckets.js';

const req = (pod: string, values: number[], t0 = 0, every = 15_000, code = '200'): RawSeries => ({
  labels: { __name__: 'istio_requests_total', pod, response_code: code, grpc_response_status: '0' },
  samples: values.map((v, i) => ({ t: t0 + i * every, v })),
});

describe('evidence bins from raw counters', () => {
  it('each bin holds what both sides served in the same interval', () => {
    const { bins, completeTo } = alignedBins(
      [req('vm', [0, 100, 200, 300, 400])],
      [req('k8s', [0, 1, 2, 13, 24])],
      0,
      30_000,
      60_000,
    );
    expect(completeTo).toBe(60_000);
    expect(bins.map((b) => [b.source.requests, b.target.requests])).toEqual([
      [200, 2],
      [200, 22],
    ]);
  });

  it('scrape jobs out of phase put a shared burst in the same bin in the same proportion', () => {
    // Both sides: 10 per second, a burst of 300 between 20 s and 22 s. VMs scraped at 0,15,30…; pods at 10,25,40…
    const served = (t: number) => 10 * t + (t >= 22 ? 300 : t > 20 ? 150 * (t - 20) : 0);
    const series = (t0: number, pod: string): RawSeries =>
      req(
        pod,
        Array.from({ length: 6 }, (_, i) => served((t0 + i * 15_000) / 1000)),
        t0,
      );
    const { bins } = alignedBins([series(0, 'vm')], [series(10_000, 'k8s')], 10_000, 30_000, 80_000);
    // Out to the instant both were scraped past (75 s): same counts on both sides, within one scrape's spread.
    for (const b of bins) expect(Math.abs(b.source.requests - b.target.requests)).toBeLessThan(170);
    const totals = (side: 'source' | 'target') => bins.reduce((s, b) => s + b[side].requests, 0);
    expect(Math.abs(totals('source') - totals('target'))).toBeLessThan(1e-6);
  });

  it('evidence stops where the later side has not been scraped yet', () => {
    const { completeTo, bins } = alignedBins(
      [req('vm', [0, 100, 200, 300])],
      [req('k8s', [0, 10, 20], 10_000)],
      0,
      30_000,
      50_000,
    );
    expect(completeTo).toBe(40_000);
    expect(bins.at(-1)!.end).toBe(40_000);
  });

  it('a series born while Prometheus was scraping counts from zero; one present from the first sample is a baseline', () => {
    const first = 0;
    expect(seriesIncreases(req('a', [5, 7], 15_000), first)).toEqual([
      { from: 0, to: 15_000, inc: 5 },
      { from: 15_000, to: 30_000, inc: 2 },
    ]);
    // Present from the very first sample we have (e.g. after a Prometheus outage): its lifetime count is not evidence.
    expect(seriesIncreases(req('a', [500_000, 500_010], 15_000), 15_000)).toEqual([
      { from: 15_000, to: 30_000, inc: 10 },
    ]);
  });

  it('a sparse error series that comes back after its pod restarted is not undercounted', () => {
    const total = req('p', [100, 200, 5, 105]);
    const errors = req('p', [1, 1, 1, 3], 0, 15_000, '503');
    // The errors series reads 1 → 1 → 1 → 3, but the pod restarted between 15 and 30 s: the 1 at 30 s is a new
    // error (reading it as "no change" would count 2 instead of 3).
    const side = sideBetween([total, errors], 0, 45_000, 0);
    expect(side.errors).toBe(1 + 2);
    expect(side.requests).toBe(100 + 5 + 100 + 3);
  });

  it('aggregates requests, HTTP and gRPC errors and latency buckets of one side', () => {
    const s = (name: string, labels: Record<string, string>, values: number[]) => ({
      labels: { __name__: name, pod: 'x', ...labels },
      samples: values.map((v, i) => ({ t: 2000 + i * 15_000, v })),
    });
    const side = sideBetween(
      [
        s('istio_requests_total', { response_code: '200', grpc_response_status: '0' }, [90, 190]),
        s('istio_requests_total', { response_code: '200', grpc_response_status: '14' }, [1, 3]),
        s('istio_requests_total', { response_code: '503', grpc_response_status: '14' }, [0, 1]),
        s('istio_request_duration_milliseconds_bucket', { le: '25' }, [50, 150]),
        s('istio_request_duration_milliseconds_bucket', { le: '100' }, [80, 185]),
        s('istio_request_duration_milliseconds_bucket', { le: '+Inf' }, [91, 194]),
      ],
      1000,
      17_000,
    );
    expect(side.requests).toBe(103);
    expect(side.errors).toBe(3);
    expect(side.latencyCount).toBe(103);
    // Only two bounds reported: the side's histogram has just those two.
    expect(side.bounds).toEqual([25, 100]);
    expect(side.buckets).toEqual([100, 105]);
  });
});

describe('histogram bounds', () => {
  const bucket = (pod: string, le: string, v: number[]): RawSeries => ({
    labels: { __name__: 'istio_request_duration_milliseconds_bucket', pod, le },
    samples: v.map((x, i) => ({ t: i * 15_000, v: x })),
  });
  it('uses the bounds every pod of a side reports (finer buckets), Istio’s defaults otherwise', () => {
    const fine = ['100', '125', '150', '+Inf'];
    const a = fine.map((le) => bucket('a', le, [0, 10]));
    const b = [...fine, '175'].map((le) => bucket('b', le, [0, 10]));
    expect(sideBounds([...a, ...b])).toEqual([100, 125, 150]);
    expect(sideBounds([])).toBe(ISTIO_LATENCY_BUCKETS_MS);
    const side = sideBetween([...a, ...b], 0, 15_000, 0);
    expect(side.bounds).toEqual([100, 125, 150]);
    expect(side.buckets).toEqual([20, 20, 20]);
  });
});
