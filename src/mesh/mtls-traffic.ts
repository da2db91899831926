/** Judging the mTLS traffic check from the query's answer. Pure. */

/** One series of an instant query, as `PrometheusProvider.query` returns it. */
export interface MtlsQuerySeries {
  labels: Record<string, string>;
  value: number;
}

/** Runs one PromQL instant query. `PrometheusProvider#query` fits: `(q) => provider.query(q)`. */
export type MtlsQueryFn = (promql: string) => Promise<MtlsQuerySeries[]>;

export interface MtlsTrafficVerdict {
  ok: boolean;
  message: string;
  fix: string;
  /** Requests in the window, and the share of them over mutual TLS (0 when there were none). */
  requests: number;
  mutualTlsRatio: number;
}

/**
 * Whether (about) every request `what` received used mutual TLS: at least `minRequests` requests, and a
 * `mutual_tls` share of at least `minRatio`. Non-finite samples are ignored.
 */
export function judgeMtlsTraffic(
  series: MtlsQuerySeries[],
  opts: { what: string; minRatio: number; minRequests: number },
): MtlsTrafficVerdict {
  let total = 0;
  let mutual = 0;
  const plain: string[] = [];
  for (const s of series) {
    if (!Number.isFinite(s.value)) continue;
    total += s.value;
    const policy = s.labels.connection_security_policy ?? '';
    if (policy === 'mutual_tls') mutual += s.value;
    else if (s.value > 0) plain.push(`${policy || '(none)'}: ${Math.round(s.value)}`);
  }
  const ratio = total > 0 ? mutual / total : 0;
  const n = Math.round(total);
  if (total < opts.minRequests) {
    return {
      ok: false,
      message: `Prometheus shows ${n} requests to ${opts.what} in the window: too few to prove that clients use mutual TLS`,
      fix: 'wait for traffic, or check the Istio metrics scrape',
      requests: total,
      mutualTlsRatio: ratio,
    };
  }
  const ok = ratio >= opts.minRatio;
  const pct = (ratio * 100).toFixed(2);
  return {
    ok,
    message: ok
      ? `${pct} % of ${n} requests to ${opts.what} use mutual TLS`
      : `only ${pct} % of ${n} requests to ${opts.what} use mutual TLS (${plain.join(', ')}): STRICT would reject the rest`,
    fix: 'move the remaining clients into the mesh (sidecar or ambient) before tightening',
    requests: total,
    mutualTlsRatio: ratio,
  };
}
