/** Where golden signals come from. The gate logic never talks HTTP itself. */
import type { PolicySpec } from '../../plan/policy-schema.js';
import type { GateSample, MetricSelectors, Quantile, TimeRange } from '../types.js';

export interface SampleRequest {
  namespace: string;
  selectors: MetricSelectors;
  policy: PolicySpec;
  /** Evaluation time (epoch ms); undefined = "now" on the metrics server. */
  at?: number;
  /** Epoch ms of the current step's weight write: the sequential method counts evidence since then. */
  stepStartedAt?: number;
  /**
   * Epoch ms from which the sequential method accumulates evidence across steps (the migration's first weight
   * write or its resumption); default: the step's start.
   */
  evidenceSince?: number;
  /** Sequential method: evidence bins in this range count for nothing (the 100 % a migration stepped back from). */
  setAside?: TimeRange;
}

export interface MetricsProvider {
  /** Reads one window of golden signals for both sides. Throws MetricsUnavailableError when it cannot. */
  sample(req: SampleRequest): Promise<GateSample>;
  /** Total requests seen for a side in a window (preflight's "observability first" check). */
  recentRequests(labels: Record<string, string>, reporter: string, windowMs: number): Promise<number>;
}

export class MetricsUnavailableError extends Error {
  constructor(
    message: string,
    readonly kind: 'http_error' | 'network_error' | 'timeout_error' | 'bad_data' | 'query_error',
    /** The HTTP status of Prometheus' answer, when it answered with an error. */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'MetricsUnavailableError';
  }
}

export function quantilesOf(policy: PolicySpec): Quantile[] {
  return (['p50', 'p95', 'p99'] as const).filter((q) => policy.slo.latency?.[q]);
}
