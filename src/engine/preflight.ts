/** Preflight = the mesh adapter's checks + "observability first": Prometheus must already see the VMs' traffic. */
import type { MetricsProvider } from '../gate/input/provider.js';
import type { PolicySpec } from '../plan/policy-schema.js';
import type { ResolvedPlan } from '../plan/load.js';
import { formatDuration } from '../plan/duration.js';
import type { MeshAdapter, PreflightReport } from '../mesh/types.js';

export async function runPreflight(
  plan: ResolvedPlan,
  policy: PolicySpec,
  mesh: MeshAdapter,
  metrics: MetricsProvider,
  signal?: AbortSignal,
): Promise<PreflightReport> {
  const report = await mesh.preflight(plan, signal ? { signal } : {});
  // Look back over several windows: a quiet minute should not block, an absent series should.
  const lookback = policy.analysis.window * 5;
  try {
    const seen = await metrics.recentRequests(report.selectors.source, policy.analysis.reporter, lookback);
    const ok = seen > 0;
    report.checks.push({
      id: 'observability',
      ok,
      message: ok
        ? `Prometheus sees ${Math.round(seen)} requests to the source in the last ${formatDuration(lookback)}`
        : `Prometheus has no istio_requests_total{reporter="${policy.analysis.reporter}", ${Object.entries(
            report.selectors.source,
          )
            .map(([k, v]) => `${k}="${v}"`)
            .join(
              ', ',
            )}} in the last ${formatDuration(lookback)}: the gate would have nothing to compare against`,
      ...(ok
        ? {}
        : {
            fix: 'make sure Prometheus scrapes the VM sidecars (observability first), or fix spec.source.metrics',
            // nothing found wrong yet: a fresh scrape may bring the evidence (a few tries, see preflightRetry)
            awaiting: true,
          }),
    });
  } catch (err) {
    report.checks.push({
      id: 'observability',
      ok: false,
      message: (err as Error).message,
      fix: 'check --prometheus and that Prometheus is up',
      transient: true,
    });
  }
  report.ok = report.checks.every((c) => c.ok);
  return report;
}
