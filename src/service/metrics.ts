/** meshshift's own Prometheus metrics (prom-client), shared by the API and the workers of one process. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface ServiceMetrics {
  registry: Registry;
  migrationsByState: Gauge<'state'>;
  stepDuration: Histogram<'namespace'>;
  verdicts: Counter<'result'>;
  rollbacks: Counter<'cause'>;
  kubeCalls: Histogram<'verb' | 'outcome'>;
  kubeErrors: Counter<'verb' | 'code'>;
  prometheusQueries: Histogram<'outcome'>;
  prometheusErrors: Counter;
  jobs: Counter<'outcome'>;
  takeovers: Counter;
  httpRequests: Counter<'route' | 'method' | 'status'>;
}

export function createServiceMetrics(countByState?: () => Promise<Record<string, number>>): ServiceMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'meshshift_process_' });
  const m: ServiceMetrics = {
    registry,
    migrationsByState: new Gauge({
      name: 'meshshift_migrations',
      help: 'Migrations known to this service, by state (read from Redis at scrape time)',
      labelNames: ['state'],
      registers: [registry],
      async collect() {
        if (!countByState) return;
        const counts = await countByState();
        this.reset();
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
      },
    }),
    stepDuration: new Histogram({
      name: 'meshshift_step_duration_seconds',
      help: 'Time spent at one weight before the next step (or the end), seconds',
      labelNames: ['namespace'],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
      registers: [registry],
    }),
    verdicts: new Counter({
      name: 'meshshift_verdicts_total',
      help: 'Gate verdicts by result',
      labelNames: ['result'],
      registers: [registry],
    }),
    rollbacks: new Counter({
      name: 'meshshift_rollbacks_total',
      help: 'Rollbacks to 100 % source, by cause',
      labelNames: ['cause'],
      registers: [registry],
    }),
    kubeCalls: new Histogram({
      name: 'meshshift_kubernetes_request_duration_seconds',
      help: 'Kubernetes API call latency',
      labelNames: ['verb', 'outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    kubeErrors: new Counter({
      name: 'meshshift_kubernetes_errors_total',
      help: 'Failed Kubernetes API calls, by HTTP code (0 = no response)',
      labelNames: ['verb', 'code'],
      registers: [registry],
    }),
    prometheusQueries: new Histogram({
      name: 'meshshift_prometheus_query_duration_seconds',
      help: 'Prometheus query latency',
      labelNames: ['outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    prometheusErrors: new Counter({
      name: 'meshshift_prometheus_errors_total',
      help: 'Failed Prometheus queries',
      registers: [registry],
    }),
    jobs: new Counter({
      name: 'meshshift_worker_jobs_total',
      help: 'Drive jobs processed by this worker, by outcome (committed, stale, locked, fenced, error)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    takeovers: new Counter({
      name: 'meshshift_worker_takeovers_total',
      help: 'Migrations resumed after the previous worker stopped mid-step',
      registers: [registry],
    }),
    httpRequests: new Counter({
      name: 'meshshift_http_requests_total',
      help: 'HTTP API requests',
      labelNames: ['route', 'method', 'status'],
      registers: [registry],
    }),
  };
  return m;
}
