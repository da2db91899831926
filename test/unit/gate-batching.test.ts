/**
 * The service worker's batching provider against a real Prometheus (fed by remote write): many migrations
 * answered by one query give exactly what the one-migration provider gives each of them; the sequential method
 * and explicit evaluation times go to the one-migration provider.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBenchPrometheus, type BenchProm } from '../../bench/decisions/prom.js';
import type { Series } from '../../bench/decisions/traffic.js';
import { PrometheusProvider } from '../../src/gate/prometheus.js';
import type { SampleRequest } from '../../src/gate/input/provider.js';
import { loadPolicy } from '../../src/plan/load.js';
import type { PolicySpec } from '../../src/plan/policy-schema.js';
import { BatchingMetricsProvider } from '../../src/worker/batching.js';

const shipped = loadPolicy('default').spec;
const windowed: PolicySpec = {
  ...shipped,
  analysis: { ...shipped.analysis, method: 'window', window: 60_000 },
};

let prom: BenchProm;
const now = Date.now();

/** Counters of one workload: `rate` requests, `e5xx` 503s and `egrpc` gRPC failures per 15 s scrape. */
function workload(service: string, version: string, rate: number, e5xx: number, egrpc: number): Series[] {
  const base = { reporter: 'destination', destination_service: service, destination_version: version };
  const times = Array.from({ length: 9 }, (_, i) => now - (8 - i) * 15_000);
  const counter = (labels: Record<string, string>, perScrape: number): Series => ({
    labels: { __name__: 'istio_requests_total', ...base, ...labels },
    samples: times.map((t, i) => ({ timestamp: t, value: perScrape * (i + 1) })),
  });
  const bucket = (le: string, share: number): Series => ({
    labels: { __name__: 'istio_request_duration_milliseconds_bucket', ...base, le },
    samples: times.map((t, i) => ({ timestamp: t, value: Math.round(rate * share) * (i + 1) })),
  });
  return [
    counter({ response_code: '200', grpc_response_status: '0' }, rate - e5xx - egrpc),
    counter({ response_code: '503', grpc_response_status: '14' }, e5xx),
    counter({ response_code: '200', grpc_response_status: '14' }, egrpc),
    bucket('25', 0.5),
    bucket('100', 0.99),
    bucket('+Inf', 1),
  ];
}

const request = (svc: string, policy: PolicySpec): SampleRequest => ({
  namespace: 'ns',
  policy,
  selectors: {
    source: { destination_service: svc, destination_version: 'vm' },
    target: { destination_service: svc, destination_version: 'k8s' },
  },
});

beforeAll(async () => {
  prom = await startBenchPrometheus();
  await prom.push([
    ...workload('a.ns.svc.cluster.local', 'vm', 600, 3, 2),
    ...workload('a.ns.svc.cluster.local', 'k8s', 60, 1, 1),
    ...workload('b.ns.svc.cluster.local', 'vm', 300, 0, 0),
    ...workload('b.ns.svc.cluster.local', 'k8s', 30, 3, 0),
  ]);
});
afterAll(async () => prom?.close());

describe('batching provider', () => {
  it('answers several migrations with one query, as the one-migration provider would', async () => {
    const inner = new PrometheusProvider({ url: prom.url });
    const batching = new BatchingMetricsProvider(inner, 30);
    const [a, b] = await Promise.all([
      batching.sample(request('a.ns.svc.cluster.local', windowed)),
      batching.sample(request('b.ns.svc.cluster.local', windowed)),
    ]);
    expect(batching.stats).toMatchObject({ batches: 1, batchedSamples: 2, fallbackSamples: 0 });
    for (const [got, svc] of [
      [a!, 'a.ns.svc.cluster.local'],
      [b!, 'b.ns.svc.cluster.local'],
    ] as const) {
      const want = await inner.sample(request(svc, windowed));
      for (const side of ['source', 'target'] as const) {
        expect(got[side].requests).toBeCloseTo(want[side].requests, 6);
        expect(got[side].errors).toBeCloseTo(want[side].errors, 6);
        expect(got[side].latencyMs.p99).toBeCloseTo(want[side].latencyMs.p99!, 6);
      }
    }
    // 1 + 1 failures per 60 requests: HTTP 503 and gRPC status 14 under HTTP 200 both count.
    expect(a!.target.errors / a!.target.requests).toBeCloseTo(2 / 60, 6);
    expect(b!.source.errors).toBe(0);
    expect(b!.target.errors / b!.target.requests).toBeCloseTo(3 / 30, 6);
  });

  it('leaves the sequential method and explicit times to the one-migration provider', async () => {
    const inner = new PrometheusProvider({ url: prom.url });
    const batching = new BatchingMetricsProvider(inner, 30);
    const s = await batching.sample({
      ...request('a.ns.svc.cluster.local', shipped),
      stepStartedAt: now - 100_000,
    });
    expect(s.since).toBe(now - 100_000);
    // Counter increases since the step, each spread over the 15 s it accrued in: 100 s at 60 requests and 2
    // failures per scrape (the scrape interval straddling the step's start counts for its part after it).
    expect(s.target.requests).toBeCloseTo((100 / 15) * 60, 6);
    expect(s.target.errors).toBeCloseTo((100 / 15) * 2, 6);
    await batching.sample({ ...request('b.ns.svc.cluster.local', windowed), at: now });
    expect(batching.stats).toMatchObject({ batches: 0, fallbackSamples: 2 });
  });
});
