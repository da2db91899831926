/**
 * PromQL templates over Istio's standard metrics. Pure string building; the transport is in prometheus.ts.
 *
 * All numbers one analysis needs (requests, errors and latency quantiles of both sides) are asked in ONE query:
 * each sub-expression is tagged with `side` and `signal` labels via label_replace and joined with `or`.
 */
import { formatDuration } from '../../plan/duration.js';
import { qualifyHost, type ResolvedPlan } from '../../plan/load.js';
import { QUANTILES, type MetricSelectors, type Quantile } from '../types.js';

export type Side = 'source' | 'target';

/** Escapes a label value for a PromQL string literal. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** `a="x",b="y"` (no braces), in a stable order. */
export function matchers(labels: Record<string, string>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}="${escapeLabelValue(labels[k]!)}"`)
    .join(',');
}

export function rangeSelector(windowMs: number): string {
  return `[${formatDuration(windowMs)}]`;
}

const tag = (expr: string, side: Side, signal: string) =>
  `label_replace(label_replace(${expr}, "side", "${side}", "", ""), "signal", "${signal}", "", "")`;

export interface SideQueries {
  requests: string;
  errors: string;
  latency: Partial<Record<Quantile, string>>;
}

/** Failed requests under `sel` (no braces): HTTP 5xx, plus gRPC failures Istio reports as HTTP 200. */
function errorSums(sel: string, w: string, by = ''): { http: string; grpc: string } {
  const sum = by ? `sum by (${by}) (` : 'sum(';
  return {
    http: `${sum}increase(istio_requests_total{${sel},response_code=~"5.."}${w}))`,
    grpc: `${sum}increase(istio_requests_total{${sel},response_code!~"5..",grpc_response_status!~"0|"}${w}))`,
  };
}

/** The individual expressions for one side (also used by preflight and documentation). */
export function sideQueries(
  sel: string,
  windowMs: number,
  quantiles: readonly Quantile[],
  grpc = true,
): SideQueries {
  const w = rangeSelector(windowMs);
  const latency: Partial<Record<Quantile, string>> = {};
  for (const q of quantiles) {
    latency[q] =
      `histogram_quantile(${QUANTILES[q]}, sum by (le) (rate(istio_request_duration_milliseconds_bucket{${sel}}${w})))`;
  }
  return {
    requests: `sum(increase(istio_requests_total{${sel}}${w}))`,
    // HTTP 5xx, plus gRPC failures that Istio reports as HTTP 200 with grpc_response_status != 0.
    errors: grpc
      ? `(${errorSums(sel, w).http} or vector(0)) + (${errorSums(sel, w).grpc} or vector(0))`
      : `(${errorSums(sel, w).http} or vector(0))`,
    latency,
  };
}

export function selectorFor(labels: Record<string, string>, reporter: string): string {
  return matchers({ reporter, ...labels });
}

/** One query answering every golden signal for both sides. */
export function goldenSignalsQuery(
  selectors: MetricSelectors,
  reporter: string,
  windowMs: number,
  quantiles: readonly Quantile[],
  grpc = true,
): string {
  const parts: string[] = [];
  for (const side of ['source', 'target'] as const) {
    const q = sideQueries(selectorFor(selectors[side], reporter), windowMs, quantiles, grpc);
    parts.push(tag(q.requests, side, 'requests'), tag(`(${q.errors})`, side, 'errors'));
    for (const quantile of quantiles) parts.push(tag(q.latency[quantile]!, side, quantile));
  }
  return parts.join(' or ');
}

/**
 * Golden signals of every service matching `filter`, grouped by service and version, in one query (the
 * service worker's batching provider answers many migrations from it). Signals: requests, e5xx, egrpc and one
 * per quantile; with `serviceLatency`, quantiles over all versions of a service too (grp="service").
 */
export function goldenSignalsByService(
  filter: string,
  windowMs: number,
  quantiles: readonly Quantile[],
  serviceLatency: boolean,
): string {
  const w = rangeSelector(windowMs);
  const by = 'destination_service, destination_version';
  const tagSignal = (expr: string, signal: string) => `label_replace(${expr}, "signal", "${signal}", "", "")`;
  const errors = errorSums(filter, w, by);
  const parts = [
    tagSignal(`sum by (${by}) (increase(istio_requests_total{${filter}}${w}))`, 'requests'),
    tagSignal(errors.http, 'e5xx'),
    tagSignal(errors.grpc, 'egrpc'),
  ];
  const buckets = `istio_request_duration_milliseconds_bucket{${filter}}${w}`;
  for (const q of quantiles) {
    parts.push(tagSignal(`histogram_quantile(${QUANTILES[q]}, sum by (le, ${by}) (rate(${buckets})))`, q));
    if (serviceLatency)
      parts.push(
        tagSignal(
          `label_replace(histogram_quantile(${QUANTILES[q]}, sum by (le, destination_service) (rate(${buckets}))), "grp", "service", "", "")`,
          q,
        ),
      );
  }
  return parts.join(' or ');
}

export interface TemplateContext {
  namespace: string;
  windowMs: number;
  selectors: MetricSelectors;
  reporter: string;
}

/** Fills a custom metric's placeholders: {{namespace}}, {{window}}, {{source.selector}}, {{target.version}}, … */
export function renderTemplate(query: string, ctx: TemplateContext): string {
  const values: Record<string, string> = {
    namespace: ctx.namespace,
    window: formatDuration(ctx.windowMs),
    'source.selector': selectorFor(ctx.selectors.source, ctx.reporter),
    'target.selector': selectorFor(ctx.selectors.target, ctx.reporter),
    'source.version': ctx.selectors.source.destination_version ?? '',
    'target.version': ctx.selectors.target.destination_version ?? '',
    'source.service': ctx.selectors.source.destination_service ?? '',
    'target.service': ctx.selectors.target.destination_service ?? '',
  };
  return query.replace(/\{\{\s*([a-z.]+)\s*\}\}/g, (whole, key: string) => {
    const v = values[key];
    if (v === undefined)
      throw new Error(
        `unknown placeholder ${whole} in custom metric query (known: ${Object.keys(values).join(', ')})`,
      );
    return v;
  });
}

/** Previously-seen traffic of a side, for preflight's "observability first" check. */
export function recentTrafficQuery(
  labels: Record<string, string>,
  reporter: string,
  windowMs: number,
): string {
  return `sum(increase(istio_requests_total{${selectorFor(labels, reporter)}}${rangeSelector(windowMs)}))`;
}

/** RE2 metacharacters escaped, so a label value in a regex matcher matches itself only. */
export function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Requests that a PeerAuthentication governs, by connection_security_policy (the check before mTLS goes
 * STRICT). A PeerAuthentication with a selector covers the plan's workloads (both hosts of a two-host plan);
 * one without a selector covers the whole namespace.
 */
export function mtlsTrafficQuery(
  plan: Pick<ResolvedPlan, 'namespace' | 'source' | 'target'>,
  opts: { namespaceWide: boolean; reporter: 'destination' | 'source'; windowMs: number },
): string {
  const seconds = Math.max(1, Math.round(opts.windowMs / 1000));
  let scope: string;
  if (opts.namespaceWide) {
    scope = `destination_workload_namespace="${escapeLabelValue(plan.namespace)}"`;
  } else {
    const hosts = [
      ...new Set(
        [plan.source.destination.host, plan.target.destination.host].map((h) =>
          qualifyHost(h, plan.namespace),
        ),
      ),
    ];
    // A regex inside a PromQL string: escape for the regex, then for the string (`\.` becomes `\\.`).
    scope =
      hosts.length === 1
        ? `destination_service="${escapeLabelValue(hosts[0]!)}"`
        : `destination_service=~"${hosts.map((h) => escapeLabelValue(escapeRegex(h))).join('|')}"`;
  }
  return `sum by (connection_security_policy) (increase(istio_requests_total{reporter="${opts.reporter}",${scope}}[${seconds}s]))`;
}

/** The metric names whose raw counter samples the sequential method reads. */
export const RAW_COUNTER_NAMES = [
  'istio_requests_total',
  'istio_request_duration_milliseconds_bucket',
] as const;

/** `name="v"` for one value, `name=~"v1|v2"` for several (each escaped): a PromQL label matcher. */
export function unionMatcher(name: string, values: readonly string[]): string {
  if (values.length === 1) return `${name}="${escapeLabelValue(values[0]!)}"`;
  return `${name}=~"${escapeLabelValue(values.map(escapeRegex).join('|'))}"`;
}

/**
 * Every raw sample of one side's request counters and latency buckets over the last `rangeMs` (a range-vector
 * instant query: no `increase()`, so no extrapolation; the caller computes exact increases).
 */
export function rawCountersQuery(
  labels: Record<string, string>,
  reporter: string,
  rangeMs: number,
  names: readonly string[] = RAW_COUNTER_NAMES,
): string {
  const single = Object.keys(labels).map((name) => ({ name, values: [labels[name]!] }));
  return rawUnionQuery(single, reporter, rangeMs, names);
}

/** The range a raw read covers: `rangeMs` rounded up to whole seconds (at least one), as its query sends it. */
export function rawRangeMs(rangeMs: number): number {
  return Math.max(1, Math.ceil(rangeMs / 1000)) * 1000;
}

/**
 * The raw read of several selectors at once (raw-batch.ts): per label name the values any of them asks for,
 * as one matcher each; the answer holds every series any of them would have read.
 */
export function rawUnionQuery(
  labels: ReadonlyArray<{ name: string; values: readonly string[] }>,
  reporter: string,
  rangeMs: number,
  names: readonly string[] = RAW_COUNTER_NAMES,
): string {
  // A selector's own `reporter` label wins, as in selectorFor.
  const own = labels.some((m) => m.name === 'reporter');
  const all = [...(own ? [] : [{ name: 'reporter', values: [reporter] }]), ...labels].sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  const selector = all.map((m) => unionMatcher(m.name, m.values)).join(',');
  return `{__name__=~"${names.join('|')}",${selector}}[${formatDuration(rawRangeMs(rangeMs))}]`;
}

/** Whether a request series counts as failed: HTTP 5xx, or gRPC status ≠ 0 (Istio reports those with HTTP 200). */
export function isErrorSeries(labels: Record<string, string>): boolean {
  const code = labels.response_code ?? '';
  const grpc = labels.grpc_response_status ?? '';
  return /^5\d\d$/.test(code) || (grpc !== '' && grpc !== '0');
}
