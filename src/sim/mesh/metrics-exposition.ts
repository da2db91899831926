/**
 * Istio standard metrics as the simulated sidecars would export them: `istio_requests_total` and the
 * `istio_request_duration_milliseconds` histogram, per reporter and label set, in the Prometheus text format.
 */

/** Istio's default buckets for istio_request_duration_milliseconds (+Inf last). */
export const ISTIO_DURATION_BUCKETS: readonly number[] = [
  0.5,
  1,
  5,
  10,
  25,
  50,
  100,
  250,
  500,
  1000,
  2500,
  5000,
  10000,
  30000,
  60000,
  300000,
  600000,
  1800000,
  3600000,
  Number.POSITIVE_INFINITY,
];

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function renderLabels(pairs: Array<[string, string]>): string {
  return pairs.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',');
}

export function bucketIndex(ms: number): number {
  const n = ISTIO_DURATION_BUCKETS.length;
  for (let i = 0; i < n - 1; i++) {
    if (ms <= (ISTIO_DURATION_BUCKETS[i] as number)) return i;
  }
  return n - 1;
}

interface Series {
  /** rendered label set without braces */
  labels: string;
  /** non-cumulative counts per bucket */
  counts: number[];
  sum: number;
  count: number;
}

const BUCKET_LE: readonly string[] = ISTIO_DURATION_BUCKETS.map((b) =>
  b === Number.POSITIVE_INFINITY ? '+Inf' : String(b),
);

/** Sidecars report as `source` and `destination`; in ambient, only the waypoint reports L7 (`waypoint`). */
export type Reporter = 'destination' | 'source' | 'waypoint';

/** The destination side of a series' label set, fixed per backend. */
export interface MetricsDestination {
  index: number;
  destLabels: Array<[string, string]>;
}

/** The counters and histograms of one simulated mesh, rendered for a Prometheus scrape. */
export class IstioMetrics {
  private readonly series = new Map<string, Series>();

  constructor(
    private readonly protocol: 'grpc' | 'http',
    /** The source side of every label set (the load generator's identity). */
    private readonly sourceLabels: Array<[string, string]>,
  ) {}

  record(
    reporter: Reporter,
    b: MetricsDestination,
    code: number,
    grpcStatus: string,
    flags: string,
    ms: number,
  ): void {
    const key = `${reporter}|${b.index}|${code}|${grpcStatus}|${flags}`;
    let s = this.series.get(key);
    if (s === undefined) {
      const pairs: Array<[string, string]> = [
        ['reporter', reporter],
        ...this.sourceLabels,
        ...b.destLabels,
        ['request_protocol', this.protocol],
        ['response_code', String(code)],
        ['grpc_response_status', this.protocol === 'grpc' ? grpcStatus : ''],
        ['response_flags', flags],
        ['connection_security_policy', reporter === 'source' ? 'unknown' : 'mutual_tls'],
      ];
      s = { labels: renderLabels(pairs), counts: ISTIO_DURATION_BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    const i = bucketIndex(ms);
    s.counts[i] = (s.counts[i] as number) + 1;
    s.sum += ms;
    s.count += 1;
  }

  render(): string {
    const all = [...this.series.values()];
    const out: string[] = [];
    out.push('# HELP istio_requests_total Total requests.');
    out.push('# TYPE istio_requests_total counter');
    for (const s of all) out.push(`istio_requests_total{${s.labels}} ${s.count}`);
    out.push('# HELP istio_request_duration_milliseconds Request duration in milliseconds.');
    out.push('# TYPE istio_request_duration_milliseconds histogram');
    for (const s of all) {
      let cum = 0;
      for (let i = 0; i < BUCKET_LE.length; i++) {
        cum += s.counts[i] as number;
        out.push(`istio_request_duration_milliseconds_bucket{${s.labels},le="${BUCKET_LE[i]}"} ${cum}`);
      }
      out.push(`istio_request_duration_milliseconds_sum{${s.labels}} ${s.sum}`);
      out.push(`istio_request_duration_milliseconds_count{${s.labels}} ${s.count}`);
    }
    return out.join('\n') + '\n';
  }
}
