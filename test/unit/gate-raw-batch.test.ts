/**
 * Raw reads of many migrations in one query (src/gate/input/raw-batch.ts): each read gets exactly the series and
 * samples its own query would have returned, groups stay bounded, and a refused union fails only the read that
 * caused it.
 */
import { describe, expect, it } from 'vitest';
import {
  RawReadBatcher,
  coveringRange,
  pickFor,
  unionMatchers,
  type RawRead,
  type UnionQuery,
} from '../../src/gate/input/raw-batch.js';
import { rawCountersQuery, rawUnionQuery } from '../../src/gate/input/promql.js';
import type { ReadSeries } from '../../src/gate/input/bin-ledger.js';
import { MetricsUnavailableError } from '../../src/gate/input/provider.js';

const AT = 1_767_600_000_000;
const read = (svc: string, version: string, over: Partial<RawRead> = {}): RawRead => ({
  labels: { destination_service: svc, destination_version: version },
  reporter: 'destination',
  rangeMs: 30_000,
  at: AT,
  ...over,
});
const series = (svc: string, version: string, ts: number[]): ReadSeries => ({
  labels: {
    __name__: 'istio_requests_total',
    reporter: 'destination',
    destination_service: svc,
    destination_version: version,
    response_code: '200',
  },
  tv: ts.flatMap((t, i) => [t, 100 + i]),
});

describe('the union query', () => {
  it('is the single query, byte for byte, when one selector is read', () => {
    const labels = { destination_service: 'web.shop.svc.cluster.local', destination_version: 'v"1' };
    const single = Object.entries(labels).map(([name, v]) => ({ name, values: [v] }));
    expect(rawUnionQuery(single, 'destination', 29_500)).toBe(
      rawCountersQuery(labels, 'destination', 29_500),
    );
    expect(rawCountersQuery(labels, 'destination', 29_500)).toBe(
      '{__name__=~"istio_requests_total|istio_request_duration_milliseconds_bucket",destination_service="web.shop.svc.cluster.local",destination_version="v\\"1",reporter="destination"}[30s]',
    );
  });

  it('escapes regex metacharacters, so a value matches itself only', () => {
    const q = rawUnionQuery(
      unionMatchers([read('a.b', 'vm'), read('c+d', 'vm'), read('e(f)', 'k8s')]),
      'destination',
      30_000,
    );
    expect(q).toContain('destination_service=~"a\\\\.b|c\\\\+d|e\\\\(f\\\\)"');
    expect(q).toContain('destination_version=~"k8s|vm"');
    expect(q).toContain('reporter="destination"');
  });

  it('covers every read: the latest instant, back to the earliest start in whole seconds', () => {
    expect(
      coveringRange([read('a', 'vm', { at: AT, rangeMs: 10_500 }), read('b', 'vm', { at: AT - 40 })]),
    ).toEqual({ at: AT, rangeMs: 30_040 });
  });
});

describe("a read's share of the union answer", () => {
  it('keeps only its own series and the samples of its own range and instant', () => {
    const answer = [
      series('a', 'vm', [AT - 31_000, AT - 30_000, AT - 10_000, AT, AT + 20]),
      series('a', 'k8s', [AT - 5_000]),
      series('b', 'vm', [AT - 5_000]),
    ];
    expect(pickFor(read('a', 'vm'), answer)).toEqual([
      { labels: answer[0]!.labels, tv: [AT - 30_000, 101, AT - 10_000, 102, AT, 103] },
    ]);
    expect(pickFor(read('b', 'k8s'), answer)).toEqual([]);
  });
});

/** A fake Prometheus: answers the union from `store`, records each query's matchers. */
function fakeQuery(store: ReadSeries[], refuse?: (values: string[]) => Error | undefined) {
  const calls: Array<Record<string, readonly string[]>> = [];
  const query: UnionQuery = async (matchers) => {
    const m = Object.fromEntries(matchers.map((x) => [x.name, x.values]));
    calls.push(m);
    const err = refuse?.([...(m.destination_service ?? [])]);
    if (err) throw err;
    return store.filter((s) => matchers.every((x) => x.values.includes(s.labels[x.name]!)));
  };
  return { query, calls };
}

describe('RawReadBatcher', () => {
  const store = [
    series('a', 'vm', [AT - 1000]),
    series('a', 'k8s', [AT - 1000]),
    series('b', 'vm', [AT - 2000]),
    series('b', 'k8s', [AT - 2000]),
    series('a', 'canary', [AT - 1000]), // matched by the union's cross product, asked for by no one
  ];

  it('answers reads within the window with one query, each with what it asked for', async () => {
    const { query, calls } = fakeQuery(store);
    const batcher = new RawReadBatcher(query, { windowMs: 5 });
    const reads = [read('a', 'vm'), read('a', 'k8s'), read('b', 'vm'), read('b', 'k8s')];
    const answers = await Promise.all(reads.map((r) => batcher.read(r)));
    expect(calls).toHaveLength(1);
    answers.forEach((a, i) => {
      expect(a).toHaveLength(1);
      expect(a[0]!.labels.destination_service).toBe(reads[i]!.labels.destination_service);
      expect(a[0]!.labels.destination_version).toBe(reads[i]!.labels.destination_version);
    });
    expect(batcher.stats).toEqual({ queries: 1, reads: 4 });
  });

  it('queries at once when a group is full, and keeps different label sets and counters apart', async () => {
    const { query, calls } = fakeQuery(store);
    const batcher = new RawReadBatcher(query, { windowMs: 5, maxSelectors: 2 });
    await Promise.all([
      batcher.read(read('a', 'vm')),
      batcher.read(read('a', 'k8s')),
      batcher.read(read('b', 'vm')),
      batcher.read({ ...read('b', 'vm'), names: ['istio_requests_total'] }),
      batcher.read({
        labels: { destination_service: 'b' },
        reporter: 'destination',
        rangeMs: 30_000,
        at: AT,
      }),
    ]);
    expect(calls).toHaveLength(4);
  });

  it('reads one by one when Prometheus refuses the union (4xx): only the odd read fails', async () => {
    const refusal = new MetricsUnavailableError('bad_data: invalid regex', 'http_error', 400);
    const { query, calls } = fakeQuery(store, (svcs) => (svcs.includes('bad') ? refusal : undefined));
    const batcher = new RawReadBatcher(query, { windowMs: 5 });
    const out = await Promise.allSettled([
      batcher.read(read('a', 'vm')),
      batcher.read(read('bad', 'vm')),
      batcher.read(read('b', 'k8s')),
    ]);
    expect(out.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(calls).toHaveLength(4); // the union, then each alone
    expect((out[0] as PromiseFulfilledResult<ReadSeries[]>).value).toHaveLength(1);
  });

  it('fails the whole group, without retrying each, when Prometheus is unreachable or overloaded', async () => {
    for (const err of [
      new MetricsUnavailableError('network error: ECONNREFUSED', 'network_error'),
      new MetricsUnavailableError('http error: 503', 'http_error', 503),
    ]) {
      const { query, calls } = fakeQuery(store, () => err);
      const batcher = new RawReadBatcher(query, { windowMs: 5 });
      const out = await Promise.allSettled([batcher.read(read('a', 'vm')), batcher.read(read('b', 'vm'))]);
      expect(out.map((o) => o.status)).toEqual(['rejected', 'rejected']);
      expect(calls).toHaveLength(1);
    }
  });
});
