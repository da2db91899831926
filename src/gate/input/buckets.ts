/** Istio's default buckets for istio_request_duration_milliseconds (upper bounds, ms). */
export const ISTIO_LATENCY_BUCKETS_MS: readonly number[] = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
  3600000,
];

/** Index of the bucket holding `ms` (the first bound ≥ ms); the +Inf bucket is `length`. */
export function bucketIndex(ms: number): number {
  const i = ISTIO_LATENCY_BUCKETS_MS.findIndex((b) => ms <= b);
  return i === -1 ? ISTIO_LATENCY_BUCKETS_MS.length : i;
}
