/**
 * Counts since the current step started, from raw counter samples (pure). Feeds the sequential method with
 * counts the data supports: exact per-series increases, resets handled, never extrapolated (a single error
 * stays one error).
 */
import { isErrorSeries } from './promql.js';
import { counterIncrease } from './sequential.js';
import { ISTIO_LATENCY_BUCKETS_MS } from './buckets.js';
import type { SideSample } from './types.js';

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
