/**
 * A MetricsProvider that answers many migrations' golden-signal samples with ONE Prometheus query per tick.
 *
 * Samples requested within `windowMs` of each other (the worker aligns wake-ups so migrations tick together)
 * are grouped by (reporter, range window, quantiles) and answered by a query grouped
 * `by (destination_service, destination_version)`, filtered to the services asked for; each migration picks its
 * rows. Queries per tick therefore stay constant as migrations grow. Selectors using other labels, custom
 * metrics, explicit evaluation times and policies judged by the sequential method go to the wrapped provider.
 */
import type { MetricsProvider, SampleRequest } from '../gate/input/provider.js';
import { quantilesOf } from '../gate/input/provider.js';
import type { PrometheusProvider } from '../gate/prometheus.js';
import { escapeLabelValue, goldenSignalsByService, renderTemplate } from '../gate/input/promql.js';
import type { GateSample, Quantile, SideSample } from '../gate/types.js';

const GROUP_LABELS = new Set(['destination_service', 'destination_version']);

interface Pending {
  req: SampleRequest;
  resolve: (s: GateSample) => void;
  reject: (e: unknown) => void;
}

interface Row {
  labels: Record<string, string>;
  value: number;
}

export interface BatchingStats {
  /** Batched queries sent. */
  batches: number;
  /** Samples answered from batches. */
  batchedSamples: number;
  /** Samples passed to the wrapped provider. */
  fallbackSamples: number;
}

/** Rows of one answer keyed by (signal, group, service, version), so each migration's lookup is O(1). */
type RowIndex = Map<string, number>;
const ANY_VERSION = '*';
const rowKey = (signal: string, grp: string, service: string, version: string) =>
  `${signal}\u0000${grp}\u0000${service}\u0000${version}`;

function indexRows(rows: Row[]): RowIndex {
  const index: RowIndex = new Map();
  const add = (k: string, v: number) => index.set(k, (index.get(k) ?? 0) + v);
  for (const r of rows) {
    const { signal = '', grp = '', destination_service: svc = '', destination_version: ver = '' } = r.labels;
    add(rowKey(signal, grp, svc, ver), r.value);
    // Counts summed over versions answer selectors that name only the service (two-host splits).
    if (!grp) add(rowKey(signal, grp, svc, ANY_VERSION), r.value);
  }
  return index;
}

export class BatchingMetricsProvider implements MetricsProvider {
  private readonly groups = new Map<string, Pending[]>();
  readonly stats: BatchingStats = { batches: 0, batchedSamples: 0, fallbackSamples: 0 };

  /** Mesh-wide answers per (reporter, window, quantiles), reused for `cacheMs` (one query per tick slot). */
  private readonly cache = new Map<string, { at: number; rows: Promise<RowIndex> }>();

  /**
   * @param windowMs collect samples this long into one filtered query (when `cacheMs` is 0)
   * @param cacheMs  when > 0, ask once for every service in the mesh and answer all samples of the next
   *                 `cacheMs` from that answer: queries per tick stay at one however many migrations tick
   *                 (meshshift serve passes its tick alignment). Data at most `cacheMs` old is fine against
   *                 analysis windows of minutes.
   */
  constructor(
    private readonly inner: PrometheusProvider,
    private readonly windowMs = 50,
    private readonly cacheMs = 0,
  ) {}

  recentRequests(labels: Record<string, string>, reporter: string, windowMs: number): Promise<number> {
    return this.inner.recentRequests(labels, reporter, windowMs);
  }

  sample(req: SampleRequest): Promise<GateSample> {
    const keys = [...Object.keys(req.selectors.source), ...Object.keys(req.selectors.target)];
    const batchable =
      req.at === undefined &&
      // The sequential method reads raw counters since the step started: one migration at a time.
      req.policy.analysis.method !== 'sequential' &&
      keys.every((k) => GROUP_LABELS.has(k)) &&
      !!req.selectors.source.destination_service &&
      !!req.selectors.target.destination_service;
    if (!batchable) {
      this.stats.fallbackSamples++;
      return this.inner.sample(req);
    }
    const { policy } = req;
    const key = JSON.stringify([policy.analysis.reporter, policy.analysis.window, quantilesOf(policy)]);
    if (this.cacheMs > 0) return this.fromMeshWideAnswer(key, req);
    return new Promise((resolve, reject) => {
      let group = this.groups.get(key);
      if (!group) {
        group = [];
        this.groups.set(key, group);
        setTimeout(() => {
          this.groups.delete(key);
          void this.flush(group!);
        }, this.windowMs);
      }
      group.push({ req, resolve, reject });
    });
  }

  private async fromMeshWideAnswer(key: string, req: SampleRequest): Promise<GateSample> {
    const now = Date.now();
    let entry = this.cache.get(key);
    if (!entry || now - entry.at >= this.cacheMs) {
      const { reporter, window } = req.policy.analysis;
      const rows = (async () => {
        this.stats.batches++;
        return indexRows(
          await this.inner.query(
            goldenSignalsByService(
              `reporter="${escapeLabelValue(reporter)}"`,
              window,
              quantilesOf(req.policy),
              true,
            ),
          ),
        );
      })();
      const fresh = { at: now, rows };
      entry = fresh;
      this.cache.set(key, fresh);
      // A failed answer is not cached: the next sample asks again.
      rows.catch(() => {
        if (this.cache.get(key) === fresh) this.cache.delete(key);
      });
    }
    const rows = await entry.rows;
    this.stats.batchedSamples++;
    return this.answer(req, rows, quantilesOf(req.policy), req.policy.analysis.window, Date.now());
  }

  private async flush(batch: Pending[]): Promise<void> {
    const first = batch[0]!.req.policy;
    const reporter = first.analysis.reporter;
    const windowMs = first.analysis.window;
    const quantiles = quantilesOf(first);
    const services = new Set<string>();
    let needServiceLatency = false;
    for (const p of batch) {
      for (const side of [p.req.selectors.source, p.req.selectors.target]) {
        services.add(side.destination_service!);
        if (side.destination_version === undefined) needServiceLatency = true;
      }
    }
    const filter = `reporter="${escapeLabelValue(reporter)}",destination_service=~"${[...services]
      .map(escapeLabelValue)
      .join('|')}"`;
    const query = goldenSignalsByService(filter, windowMs, quantiles, needServiceLatency);
    let rows: Row[];
    try {
      this.stats.batches++;
      rows = await this.inner.query(query);
    } catch (err) {
      for (const p of batch) p.reject(err);
      return;
    }
    const at = Date.now();
    const index = indexRows(rows);
    for (const p of batch) {
      try {
        this.stats.batchedSamples++;
        p.resolve(await this.answer(p.req, index, quantiles, windowMs, at));
      } catch (err) {
        p.reject(err);
      }
    }
  }

  private async answer(
    req: SampleRequest,
    rows: RowIndex,
    quantiles: Quantile[],
    windowMs: number,
    at: number,
  ): Promise<GateSample> {
    const side = (sel: Record<string, string>): SideSample => {
      const svc = sel.destination_service ?? '';
      const ver = sel.destination_version;
      const sum = (signal: string) => rows.get(rowKey(signal, '', svc, ver ?? ANY_VERSION)) ?? 0;
      const latencyMs: Partial<Record<Quantile, number>> = {};
      for (const q of quantiles) {
        latencyMs[q] =
          (ver === undefined ? rows.get(rowKey(q, 'service', svc, '')) : rows.get(rowKey(q, '', svc, ver))) ??
          NaN;
      }
      const grpc = req.policy.slo.errorRate?.codes !== '5xx';
      return { requests: sum('requests'), errors: sum('e5xx') + (grpc ? sum('egrpc') : 0), latencyMs };
    };
    const custom: Record<string, number> = {};
    let queries = 1;
    for (const m of req.policy.metrics) {
      const q = renderTemplate(m.query, {
        namespace: req.namespace,
        windowMs,
        selectors: req.selectors,
        reporter: req.policy.analysis.reporter,
      });
      const res = await this.inner.query(q);
      queries++;
      custom[m.name] = res.length === 1 ? res[0]!.value : NaN;
    }
    return {
      at,
      windowMs,
      source: side(req.selectors.source),
      target: side(req.selectors.target),
      custom,
      queries,
    };
  }
}
