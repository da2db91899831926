/**
 * The gate's view of Prometheus in virtual time: every query is asked at the virtual clock's now, and an outage
 * makes queries fail. Counts calls in flight so the driver knows when the engine is idle.
 */
import {
  MetricsUnavailableError,
  type MetricsProvider,
  type SampleRequest,
} from '../../src/gate/input/provider.js';
import type { PrometheusProvider } from '../../src/gate/prometheus.js';
import { recentTrafficQuery } from '../../src/gate/input/promql.js';
import type { GateSample } from '../../src/gate/types.js';
import type { Clock } from '../../src/engine/clock.js';

export class VirtualMetrics implements MetricsProvider {
  inflight = 0;
  constructor(
    private readonly inner: PrometheusProvider,
    private readonly clock: Clock,
    private readonly down: (at: number) => boolean,
  ) {}

  private async track<T>(fn: () => Promise<T>): Promise<T> {
    this.inflight++;
    try {
      if (this.down(this.clock.now()))
        throw new MetricsUnavailableError(
          'Prometheus at bench: network error: connect ECONNREFUSED',
          'network_error',
        );
      return await fn();
    } finally {
      this.inflight--;
    }
  }

  sample(req: SampleRequest): Promise<GateSample> {
    const at = req.at ?? this.clock.now();
    return this.track(() => this.inner.sample({ ...req, at }));
  }

  recentRequests(labels: Record<string, string>, reporter: string, windowMs: number): Promise<number> {
    return this.track(async () => {
      const res = await this.inner.query(recentTrafficQuery(labels, reporter, windowMs), this.clock.now());
      return res[0]?.value ?? 0;
    });
  }
}
