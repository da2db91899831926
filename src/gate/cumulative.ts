/**
 * Counts since the current step started, from raw counter samples (pure). Feeds the sequential method with
 * counts the data supports: exact per-series increases, resets handled, never extrapolated (a single error
 * stays one error).
 */
import { isErrorSeries } from './promql.js';
import { counterIncrease, counterIncreases } from './sequential.js';
import { ISTIO_LATENCY_BUCKETS_MS } from './buckets.js';
import type { BinCounts, SideSample } from './types.js';

export interface RawSeries {
  labels: Record<string, string>;
  samples: Array<{ t: number; v: number }>;
}

/** Requests, errors and cumulative latency-bucket counts of one side since `from` (epoch ms). */
export function sideSinceStep(series: readonly RawSeries[], from: number): SideSample {
  let requests = 0;
  let errors = 0;
  const buckets = ISTIO_LATENCY_BUCKETS_MS.map(() => 0);
  let latencyCount = 0;
  for (const s of series) {
    const inc = counterIncrease(s.samples, from);
    if (inc === 0) continue;
    const name = s.labels.__name__;
    if (name === 'istio_requests_total') {
      requests += inc;
      if (isErrorSeries(s.labels)) errors += inc;
    } else if (name === 'istio_request_duration_milliseconds_bucket') {
      const le = s.labels.le ?? '';
      if (le === '+Inf') {
        latencyCount += inc;
        continue;
      }
      const i = ISTIO_LATENCY_BUCKETS_MS.indexOf(Number(le));
      if (i >= 0) buckets[i]! += inc;
    }
  }
  return { requests, errors, latencyMs: {}, buckets, latencyCount };
}

const emptyBin = (): BinCounts => ({
  requests: 0,
  errors: 0,
  buckets: ISTIO_LATENCY_BUCKETS_MS.map(() => 0),
  latencyCount: 0,
});

/**
 * Both sides' counts since `from` in bins of `binMs`: each increase between two raw samples lands in the bin of
 * the later sample, so a side's requests and errors (scraped together) share bins, and each bin has the split
 * that held when its requests were served.
 */
export function binnedSince(
  source: readonly RawSeries[],
  target: readonly RawSeries[],
  from: number,
  binMs: number,
): Array<{ source: BinCounts; target: BinCounts }> {
  const bins = new Map<number, { source: BinCounts; target: BinCounts }>();
  const add = (side: 'source' | 'target', series: readonly RawSeries[]) => {
    for (const s of series) {
      const name = s.labels.__name__;
      const le = s.labels.le;
      const bucket = le === undefined || le === '+Inf' ? -1 : ISTIO_LATENCY_BUCKETS_MS.indexOf(Number(le));
      for (const { t, inc } of counterIncreases(s.samples, from)) {
        const key = Math.floor((t - from) / binMs);
        let bin = bins.get(key);
        if (!bin) bins.set(key, (bin = { source: emptyBin(), target: emptyBin() }));
        const c = bin[side];
        if (name === 'istio_requests_total') {
          c.requests += inc;
          if (isErrorSeries(s.labels)) c.errors += inc;
        } else if (le === '+Inf') c.latencyCount += inc;
        else if (bucket >= 0) c.buckets[bucket]! += inc;
      }
    }
  };
  add('source', source);
  add('target', target);
  return [...bins.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v);
}
