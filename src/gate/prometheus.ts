/** MetricsProvider backed by a real Prometheus, through prometheus-query. */
import { PrometheusDriver } from 'prometheus-query';
import {
  MetricsUnavailableError,
  quantilesOf,
  type MetricsProvider,
  type SampleRequest,
} from './input/provider.js';
import {
  goldenSignalsQuery,
  rawCountersQuery,
  rawUnionQuery,
  recentTrafficQuery,
  renderTemplate,
} from './input/promql.js';
import { RawReadBatcher, type RawBatchOptions } from './input/raw-batch.js';
import { evidenceBinMs } from './checks/sequential-verdict.js';
import { LedgerCache, type ReadSeries } from './input/bin-ledger.js';
import { HISTORY_COUNTERS, HISTORY_MS, historyBins } from './input/history.js';
import { FOLD_CHUNK, foldEvidence, shouldFold } from './checks/fold.js';

import type { BinCounts, GateSample, HistoryBin, Quantile, SideSample } from './types.js';

/** Read this far back before the evidence starts: series present then are baselines, not new traffic. */
const RAW_LOOKBACK_MS = 60_000;

const asSide = (c: BinCounts): SideSample => ({ ...c, latencyMs: {} });

export interface PrometheusProviderOptions {
  url: string;
  timeoutMs?: number;
  headers?: Record<string, string>;
  /** Called after every query with its duration and outcome (for meshshift's own metrics/logs). */
  onQuery?: (info: { query: string; ms: number; ok: boolean }) => void;
  /**
   * Raw counter reads arriving within `windowMs` of each other share one query (raw-batch.ts): a worker driving
   * many migrations sends a few queries a tick instead of two per migration. Off when absent.
   */
  batchRawReads?: RawBatchOptions;
}

interface Series {
  labels: Record<string, string>;
  value: number;
}

type DriverRequest = (method: 'GET', uri: string, params: Record<string, unknown>) => Promise<unknown>;

/**
 * A range-vector answer (`{ resultType: 'matrix', result: [{ metric, values: [[seconds, "value"], …] }] }`), each
 * series' samples as milliseconds and values interleaved (the ledger's compact form).
 */
export function matrixOf(data: unknown): ReadSeries[] {
  const d = data as { resultType?: unknown; result?: unknown } | null;
  if (d?.resultType !== 'matrix' || !Array.isArray(d.result))
    throw new MetricsUnavailableError(`expected a matrix, got ${String(d?.resultType)}`, 'bad_data');
  const result = d.result as Array<{ metric?: Record<string, string>; values?: Array<[number, string]> }>;
  return result.map((r) => {
    const tv: number[] = [];
    for (const [seconds, value] of r.values ?? []) tv.push(Math.round(seconds * 1000), Number(value));
    return { labels: r.metric ?? {}, tv };
  });
}

/** prometheus-query throws plain objects ({ status, errorType, error }); make them real errors with a kind. */
function wrapError(err: unknown, url: string): MetricsUnavailableError {
  if (err instanceof MetricsUnavailableError) return err;
  const o = (err ?? {}) as {
    errorType?: string;
    error?: unknown;
    message?: string;
    status?: unknown;
    httpStatus?: number;
  };
  const detail =
    typeof o.error === 'string'
      ? o.error
      : o.error instanceof Error
        ? o.error.message
        : (o.message ?? String(err));
  const kind =
    o.errorType === 'timeout_error'
      ? 'timeout_error'
      : o.errorType === 'network_error'
        ? 'network_error'
        : o.errorType === 'http_error'
          ? 'http_error'
          : o.status
            ? 'query_error'
            : 'network_error';
  return new MetricsUnavailableError(
    `Prometheus at ${url}: ${kind.replace('_', ' ')}: ${detail}`,
    kind,
    typeof o.httpStatus === 'number' ? o.httpStatus : undefined,
  );
}

export class PrometheusProvider implements MetricsProvider {
  private readonly driver: PrometheusDriver;
  queries = 0;
  /** Each migration's evidence so far (final bins and the raw samples since): reads ask only for what is new. */
  readonly ledgers = new LedgerCache();
  /** Raw reads of many migrations in one query (when `batchRawReads` is set). */
  readonly rawBatch: RawReadBatcher | undefined;

  constructor(private readonly opts: PrometheusProviderOptions) {
    this.rawBatch = opts.batchRawReads
      ? new RawReadBatcher(
          (labels, reporter, rangeMs, at, names) =>
            this.rangeQuery(rawUnionQuery(labels, reporter, rangeMs, names), at),
          opts.batchRawReads,
        )
      : undefined;
    this.driver = new PrometheusDriver({
      endpoint: opts.url.replace(/\/+$/, ''),
      baseURL: '/api/v1',
      timeout: opts.timeoutMs ?? 5000,
      // Uncompressed answers unless the caller asks otherwise: Prometheus sits next to the worker, and inflating
      // two reads per analysis cost more CPU (and a zlib stream per read in flight) than the bytes saved.
      headers: { 'Accept-Encoding': 'identity', ...opts.headers },
    });
  }

  async query(promql: string, at?: number): Promise<Series[]> {
    const started = performance.now();
    this.queries++;
    try {
      const res = await this.driver.instantQuery(promql, at === undefined ? undefined : new Date(at));
      this.opts.onQuery?.({ query: promql, ms: performance.now() - started, ok: true });
      if (res.resultType !== 'vector')
        throw new MetricsUnavailableError(`expected a vector, got ${res.resultType}`, 'bad_data');
      return (
        res.result as Array<{ metric?: { labels?: Record<string, string> }; value?: { value?: unknown } }>
      ).map((r) => ({
        labels: r.metric?.labels ?? {},
        value: Number(r.value?.value),
      }));
    } catch (err) {
      this.opts.onQuery?.({ query: promql, ms: performance.now() - started, ok: false });
      throw wrapError(err, this.opts.url);
    }
  }

  /** Raw samples of one side's counters over `rangeMs` before `at` (batched with others' when configured). */
  rawSeries(
    labels: Record<string, string>,
    reporter: string,
    rangeMs: number,
    at?: number,
    names?: readonly string[],
  ): Promise<ReadSeries[]> {
    const when = at ?? Date.now();
    if (this.rawBatch)
      return this.rawBatch.read({ labels, reporter, rangeMs, at: when, ...(names ? { names } : {}) });
    return this.rangeQuery(rawCountersQuery(labels, reporter, rangeMs, names), when);
  }

  /** A range-vector query at `at`, as compact series; counted and timed like every query. */
  private async rangeQuery(promql: string, at: number): Promise<ReadSeries[]> {
    const started = performance.now();
    this.queries++;
    try {
      const data = await this.rawQuery(promql, at);
      this.opts.onQuery?.({ query: promql, ms: performance.now() - started, ok: true });
      return matrixOf(data);
    } catch (err) {
      this.opts.onQuery?.({ query: promql, ms: performance.now() - started, ok: false });
      throw wrapError(err, this.opts.url);
    }
  }

  /**
   * An instant query answered as Prometheus' own `data` (resultType and result), through the driver's request
   * (the same HTTP, headers, timeout and error shapes as instantQuery). instantQuery would first turn every
   * sample into a Date and two objects: for raw counter reads, most of what the worker allocated.
   */
  private rawQuery(promql: string, at: number): Promise<unknown> {
    const request = (this.driver as unknown as { request?: DriverRequest }).request;
    if (typeof request !== 'function')
      throw new MetricsUnavailableError(
        'prometheus-query has no request method (version changed?)',
        'bad_data',
      );
    return request.call(this.driver, 'GET', 'query', { query: promql, time: at / 1000 });
  }

  async sample(req: SampleRequest): Promise<GateSample> {
    const { policy } = req;
    if (policy.analysis.method === 'sequential' && req.stepStartedAt !== undefined)
      return this.sampleSinceStep(req, req.stepStartedAt);
    const quantiles = quantilesOf(policy);
    const windowMs = policy.analysis.window;
    const reporter = policy.analysis.reporter;
    const before = this.queries;
    const grpc = policy.slo.errorRate?.codes !== '5xx';
    const series = await this.query(
      goldenSignalsQuery(req.selectors, reporter, windowMs, quantiles, grpc),
      req.at,
    );
    const side = (name: 'source' | 'target'): SideSample => {
      const pick = (signal: string) =>
        series.find((s) => s.labels.side === name && s.labels.signal === signal)?.value;
      const latencyMs: Partial<Record<Quantile, number>> = {};
      for (const q of quantiles) latencyMs[q] = pick(q) ?? NaN;
      // An absent counter means no such requests in the window (Prometheus drops empty sums).
      return { requests: pick('requests') ?? 0, errors: pick('errors') ?? 0, latencyMs };
    };
    const custom = await this.customMetrics(req);
    return {
      at: req.at ?? Date.now(),
      windowMs,
      source: side('source'),
      target: side('target'),
      custom,
      queries: this.queries - before,
    };
  }

  /** Sequential method: exact counts of both sides since the step started, and binned since evidenceSince. */
  private async sampleSinceStep(req: SampleRequest, since: number): Promise<GateSample> {
    const at = req.at ?? Date.now();
    const carried = req.evidenceSince !== undefined && req.evidenceSince <= since;
    const evidenceSince = carried ? req.evidenceSince! : since;
    const reporter = req.policy.analysis.reporter;
    const key = `${rawCountersQuery(req.selectors.source, reporter, 0)}|${rawCountersQuery(req.selectors.target, reporter, 0)}`;
    const ledger = this.ledgers.ledgerFor(key, evidenceSince, evidenceBinMs(req.policy), since, at);
    const from = ledger.readFrom(evidenceSince - RAW_LOOKBACK_MS);
    const read = (labels: Record<string, string>) => this.rawSeries(labels, reporter, at - from, at);
    // This sample's own reads — both sides, the VMs' history once per ledger, the custom metrics — a read batched
    // with other migrations' counting as one (`this.queries` moves with theirs too while this one awaits).
    const reads = 2 + (ledger.history ? 0 : 1) + req.policy.metrics.length;
    const [source, target, history] = await Promise.all([
      read(req.selectors.source),
      read(req.selectors.target),
      ledger.history ?? this.history(req.selectors.source, reporter, evidenceSince, ledger.binMs),
    ]);
    const custom = await this.customMetrics(req);
    // A later analysis of the same migration answered first (concurrent reads): read afresh.
    if (!ledger.canAnswer(since, at)) return this.sampleSinceStep(req, since);
    if (history) ledger.history = history;
    const { bins, step, folded } = ledger.add({ source, target }, at, since);
    const sample: GateSample = {
      at,
      since,
      ...(carried ? { evidenceSince } : {}),
      ...(req.setAside ? { setAside: req.setAside } : {}),
      batches: bins,
      ...(folded ? { folded } : {}),
      ...(history?.length ? { history: { source: history } } : {}),
      windowMs: Math.max(0, at - since),
      source: asSide(step.source),
      target: asSide(step.target),
      custom,
      queries: reads,
    };
    // Memory per migration stays flat: the oldest bins are replaced by their evidence (fold.ts); a ledger just
    // rebuilt from Prometheus (another worker, a restart) folds until it is back to size.
    let out = sample;
    while (shouldFold(ledger.finalBins)) {
      const next = foldEvidence(req.policy, out, FOLD_CHUNK);
      ledger.fold(FOLD_CHUNK, next);
      out = { ...out, batches: out.batches!.slice(FOLD_CHUNK), folded: next };
    }
    return out;
  }

  /**
   * The VMs' bins before the evidence start (history.ts). Optional: a failed read leaves the floor to be learnt
   * from the migration's own bins, as before, and is tried again at the next analysis.
   */
  private async history(
    labels: Record<string, string>,
    reporter: string,
    end: number,
    binMs: number,
  ): Promise<HistoryBin[] | undefined> {
    try {
      const series = await this.rawSeries(
        labels,
        reporter,
        HISTORY_MS + RAW_LOOKBACK_MS,
        end,
        HISTORY_COUNTERS,
      );
      return historyBins(series, end, binMs);
    } catch {
      return undefined;
    }
  }

  private async customMetrics(req: SampleRequest): Promise<Record<string, number>> {
    const custom: Record<string, number> = {};
    for (const m of req.policy.metrics) {
      const q = renderTemplate(m.query, {
        namespace: req.namespace,
        windowMs: req.policy.analysis.window,
        selectors: req.selectors,
        reporter: req.policy.analysis.reporter,
      });
      const res = await this.query(q, req.at);
      custom[m.name] = res.length === 1 ? res[0]!.value : NaN;
    }
    return custom;
  }

  async recentRequests(labels: Record<string, string>, reporter: string, windowMs: number): Promise<number> {
    const res = await this.query(recentTrafficQuery(labels, reporter, windowMs));
    return res[0]?.value ?? 0;
  }
}
