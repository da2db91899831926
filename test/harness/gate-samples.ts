/** Gate samples of error counts in evidence bins, for the sequential checks' tests (every request fast). */
import { ISTIO_LATENCY_BUCKETS_MS } from '../../src/gate/input/buckets.js';
import type { BinCounts, GateSample } from '../../src/gate/types.js';

/** One side's bin: `requests`, `errors` of them, all below Istio's first latency bound. */
export const errorBin = (requests: number, errors: number): BinCounts => ({
  requests,
  errors,
  buckets: ISTIO_LATENCY_BUCKETS_MS.map(() => requests),
  latencyCount: requests,
});

type Batch = NonNullable<GateSample['batches']>[number];

/**
 * A sample as the gate sees it after the last of `batches`: evidence carried from the first bin, the current
 * step started at `since` (its totals are the bins that start there or later).
 */
export function carriedSample(batches: readonly Batch[], since: number): GateSample {
  const step = batches.filter((b) => b.start! >= since);
  const sum = (side: 'target' | 'source', k: 'requests' | 'errors') =>
    step.reduce((a, b) => a + b[side][k], 0);
  return {
    at: batches.at(-1)!.end!,
    windowMs: 60_000,
    since,
    evidenceSince: batches[0]!.start!,
    batches: [...batches],
    source: { requests: sum('source', 'requests'), errors: sum('source', 'errors'), latencyMs: {} },
    target: { requests: sum('target', 'requests'), errors: sum('target', 'errors'), latencyMs: {} },
    custom: {},
    queries: 0,
  };
}
