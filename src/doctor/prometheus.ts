/** Does Prometheus answer, and does it hold Istio's standard metrics with the labels meshshift queries by? */
import { errorText, type CheckResult } from './types.js';

/** How far back to look for Istio series. */
export const SERIES_LOOKBACK_MS = 60 * 60 * 1000;

/** Each metric meshshift queries, and the labels its queries need. */
export const ISTIO_METRICS = [
  { name: 'istio_requests_total', labels: ['reporter', 'destination_version', 'response_code'] },
  { name: 'istio_request_duration_milliseconds_bucket', labels: ['reporter', 'destination_version', 'le'] },
] as const;

interface ApiReply<T> {
  status: 'success' | 'error';
  data: T;
  error?: string;
}

async function api<T>(
  base: string,
  path: string,
  params: Record<string, string>,
  timeoutMs: number,
): Promise<T> {
  const url = new URL(path, base.endsWith('/') ? base : `${base}/`);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  // fetch refuses credentials in the URL: send them as basic auth (and keep them out of messages).
  const headers: Record<string, string> = {};
  if (url.username || url.password) {
    const user = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    headers.Authorization = `Basic ${Buffer.from(user).toString('base64')}`;
    url.username = '';
    url.password = '';
  }
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let body: ApiReply<T>;
  try {
    body = JSON.parse(text) as ApiReply<T>;
  } catch {
    throw new Error(`HTTP ${res.status} from ${url.origin}${url.pathname}, not a Prometheus API answer`);
  }
  if (body.status !== 'success') throw new Error(`HTTP ${res.status}: ${body.error ?? 'error'}`);
  return body.data;
}

/** Redacts user:password from a URL for messages. */
export const safeUrl = (u: string): string => u.replace(/\/\/[^@/]*@/, '//***@');

export async function checkPrometheus(base: string, timeoutMs: number): Promise<CheckResult> {
  const id = 'prometheus';
  try {
    const info = await api<{ version: string }>(base, 'api/v1/status/buildinfo', {}, timeoutMs);
    return { id, ok: true, message: `${safeUrl(base)} answers: Prometheus ${info.version}` };
  } catch (err) {
    return {
      id,
      ok: false,
      message: `${safeUrl(base)}: ${errorText(err)}`,
      fix: 'pass the Prometheus base URL with --prometheus (e.g. http://prometheus.istio-system:9090) and check it is reachable from here',
    };
  }
}

async function checkMetric(
  base: string,
  m: (typeof ISTIO_METRICS)[number],
  timeoutMs: number,
  now: number,
): Promise<CheckResult> {
  const id = `prometheus.${m.name}`;
  const range = {
    'match[]': m.name,
    start: String((now - SERIES_LOOKBACK_MS) / 1000),
    end: String(now / 1000),
  };
  try {
    const labels = await api<string[]>(base, 'api/v1/labels', range, timeoutMs);
    if (labels.length === 0)
      return {
        id,
        ok: false,
        message: `no ${m.name} series in the last hour`,
        fix: "scrape Istio's sidecars and gateways (Istio's Prometheus integration: prometheus.io annotations / the envoy-stats job) and send traffic through the mesh",
      };
    const missing = m.labels.filter((l) => !labels.includes(l));
    if (missing.length > 0)
      return {
        id,
        ok: false,
        message: `${m.name} has no ${missing.join(', ')} label (has: ${labels.join(', ')})`,
        fix: missing.includes('destination_version')
          ? 'label the workloads with `version` (pods, and WorkloadEntry/WorkloadGroup for the VMs): Istio derives destination_version from it'
          : "keep Istio's standard labels: do not drop them in metric_relabel_configs or the telemetry API",
      };
    const reporters = labels.includes('reporter')
      ? await api<string[]>(base, 'api/v1/label/reporter/values', range, timeoutMs)
      : [];
    return {
      id,
      ok: true,
      message: `present with ${m.labels.join(', ')}; reporter=${reporters.join('|')}`,
    };
  } catch (err) {
    return { id, ok: false, message: errorText(err), fix: 'check Prometheus answers (see the line above)' };
  }
}

export async function checkIstioMetrics(base: string, timeoutMs: number): Promise<CheckResult[]> {
  const now = Date.now();
  return Promise.all(ISTIO_METRICS.map((m) => checkMetric(base, m, timeoutMs, now)));
}
