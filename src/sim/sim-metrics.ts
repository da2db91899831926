/**
 * A MetricsProvider that reads the mesh simulator's own counters instead of Prometheus — only for the demo on a
 * machine without the prometheus binary. It computes the same golden signals the PromQL would (increase over the
 * window; histogram_quantile by linear interpolation inside the bucket) from snapshots it takes every 250 ms.
 */
import type { MetricsProvider, SampleRequest } from '../gate/input/provider.js';
import { quantilesOf } from '../gate/input/provider.js';
import { QUANTILES, type GateSample, type Quantile, type SideSample } from '../gate/types.js';
import type { BackendSpec, BackendStats, MeshSim } from './mesh/index.js';
import { ISTIO_DURATION_BUCKETS } from './mesh/index.js';

/** Prometheus's histogram_quantile over cumulative bucket counts (upper bounds `bounds`, last = +Inf). */
export function histogramQuantile(
  q: number,
  bounds: readonly number[],
  cumulative: readonly number[],
): number {
  const total = cumulative[cumulative.length - 1] ?? 0;
  if (!(total > 0)) return NaN;
  const rank = q * total;
  for (let i = 0; i < cumulative.length; i++) {
    if (cumulative[i]! >= rank) {
      if (i === cumulative.length - 1) return bounds[bounds.length - 2] ?? NaN; // +Inf bucket: highest finite bound
      const lo = i === 0 ? 0 : bounds[i - 1]!;
      const below = i === 0 ? 0 : cumulative[i - 1]!;
      const inBucket = cumulative[i]! - below;
      return inBucket > 0 ? lo + (bounds[i]! - lo) * ((rank - below) / inBucket) : lo;
    }
  }
  return NaN;
}

export class SimulatorMetricsProvider implements MetricsProvider {
  private history: Array<{ at: number; stats: Record<string, BackendStats> }> = [];
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly sim: MeshSim,
    private readonly backends: BackendSpec[],
  ) {
    this.timer = setInterval(() => this.snap(), 250);
    this.timer.unref();
    this.snap();
  }

  private snap() {
    const now = Date.now();
    this.history.push({ at: now, stats: this.sim.stats() });
    while (this.history.length > 2 && this.history[1]!.at < now - 15 * 60_000) this.history.shift();
  }

  private backendFor(labels: Record<string, string>): string | undefined {
    return this.backends.find((b) =>
      Object.entries(labels).every(
        ([k, v]) => k === 'reporter' || (b.labels as Record<string, string | undefined>)[k] === v,
      ),
    )?.name;
  }

  private windowed(name: string | undefined, windowMs: number) {
    this.snap();
    const now = this.history[this.history.length - 1]!;
    const then = [...this.history].reverse().find((h) => h.at <= now.at - windowMs) ?? this.history[0]!;
    const a = name ? now.stats[name] : undefined;
    const b = name ? then.stats[name] : undefined;
    return {
      requests: (a?.requests ?? 0) - (b?.requests ?? 0),
      errors: (a?.errors ?? 0) - (b?.errors ?? 0),
      buckets: (a?.buckets ?? []).map((c, i) => c - (b?.buckets[i] ?? 0)),
    };
  }

  async sample(req: SampleRequest): Promise<GateSample> {
    const windowMs = req.policy.analysis.window;
    const quantiles: Quantile[] = quantilesOf(req.policy);
    const side = (labels: Record<string, string>): SideSample => {
      const w = this.windowed(this.backendFor(labels), windowMs);
      const latencyMs: Partial<Record<Quantile, number>> = {};
      for (const q of quantiles)
        latencyMs[q] = histogramQuantile(QUANTILES[q], ISTIO_DURATION_BUCKETS, w.buckets);
      return { requests: w.requests, errors: w.errors, latencyMs };
    };
    const custom: Record<string, number> = {};
    for (const m of req.policy.metrics) custom[m.name] = NaN; // custom PromQL needs a real Prometheus
    return {
      at: Date.now(),
      windowMs,
      source: side(req.selectors.source),
      target: side(req.selectors.target),
      custom,
      queries: 0,
    };
  }

  async recentRequests(labels: Record<string, string>, _reporter: string, windowMs: number): Promise<number> {
    return this.windowed(this.backendFor(labels), windowMs).requests;
  }

  close() {
    clearInterval(this.timer);
  }
}
