/** meshshift's own Prometheus metrics (prom-client), shared by the API and the workers of one process. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { MigrationSummary } from '../store/store.js';
import { isTerminalPhase } from '../engine/vocabulary.js';

export interface ServiceMetrics {
  registry: Registry;
  migrationsByState: Gauge<'state'>;
  stepDuration: Histogram<'namespace'>;
  verdicts: Counter<'result' | 'namespace' | 'migration'>;
  rollbacks: Counter<'cause' | 'namespace' | 'migration'>;
  migrationWeight: Gauge<'namespace' | 'migration' | 'plan'>;
  migrationPhase: Gauge<'namespace' | 'migration' | 'phase'>;
  migrationLastTransition: Gauge<'namespace' | 'migration'>;
  rollbackPending: Gauge<'namespace' | 'migration'>;
  kubeCalls: Histogram<'verb' | 'outcome'>;
  kubeErrors: Counter<'verb' | 'code'>;
  prometheusQueries: Histogram<'outcome'>;
  prometheusErrors: Counter;
  jobs: Counter<'outcome'>;
  takeovers: Counter;
  httpRequests: Counter<'route' | 'method' | 'status'>;
  redisUp: Gauge;
  redisErrors: Counter;
}

/**
 * Per-migration gauges of finished migrations are dropped this long after their last transition (the store's
 * summaries read only live migrations and those finished within a day).
 */
const FINISHED_RETENTION_MS = 24 * 3600_000;

export function createServiceMetrics(
  countByState?: () => Promise<Record<string, number>>,
  summaries?: () => Promise<MigrationSummary[]>,
): ServiceMetrics {
  const registry = new Registry();
  // One Redis read per scrape serves all three per-migration gauges.
  let cached: { at: number; rows: Promise<MigrationSummary[]> } | undefined;
  const rows = async (): Promise<MigrationSummary[]> => {
    if (!summaries) return [];
    if (!cached || Date.now() - cached.at > 1000) cached = { at: Date.now(), rows: summaries() };
    const now = Date.now();
    return (await cached.rows).filter(
      (r) => !isTerminalPhase(r.phase) || now - r.transitionAt < FINISHED_RETENTION_MS,
    );
  };
  /** A gauge with one series per live (or recently finished) migration, read at scrape time. */
  const perMigration = <L extends string>(
    name: string,
    help: string,
    labelNames: L[],
    series: (r: MigrationSummary) => [Partial<Record<L, string>>, number],
  ): Gauge<L> =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        const list = await rows();
        this.reset();
        for (const r of list) this.set(...series(r));
      },
    });
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
      labelNames: ['result', 'namespace', 'migration'],
      registers: [registry],
    }),
    rollbacks: new Counter({
      name: 'meshshift_rollbacks_total',
      help: 'Rollbacks to 100 % source, by cause',
      labelNames: ['cause', 'namespace', 'migration'],
      registers: [registry],
    }),
    migrationWeight: perMigration(
      'meshshift_migration_weight_percent',
      'Target (Kubernetes) weight last written, 0-100 (read from Redis at scrape time)',
      ['namespace', 'migration', 'plan'],
      (r) => [{ namespace: r.namespace, migration: r.id, plan: r.plan }, r.weight],
    ),
    migrationPhase: perMigration(
      'meshshift_migration_phase',
      '1 for the current phase of each migration (read from Redis at scrape time)',
      ['namespace', 'migration', 'phase'],
      (r) => [{ namespace: r.namespace, migration: r.id, phase: r.phase }, 1],
    ),
    migrationLastTransition: perMigration(
      'meshshift_migration_last_transition_timestamp_seconds',
      'Unix time of the last phase change or weight write of each migration',
      ['namespace', 'migration'],
      (r) => [{ namespace: r.namespace, migration: r.id }, r.transitionAt / 1000],
    ),
    rollbackPending: new Gauge({
      name: 'meshshift_rollback_pending_seconds',
      help: 'Seconds since a decided rollback started while it has not landed yet (one series per migration rolling back)',
      labelNames: ['namespace', 'migration'],
      registers: [registry],
      async collect() {
        const list = await rows();
        const now = Date.now();
        this.reset();
        for (const r of list)
          if (r.phase === 'rollingBack')
            this.set({ namespace: r.namespace, migration: r.id }, Math.max(0, now - r.transitionAt) / 1000);
      },
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
    redisUp: new Gauge({
      name: 'meshshift_redis_up',
      help: '1 while every Redis connection of this process is ready, 0 while Redis is unavailable',
      registers: [registry],
    }),
    redisErrors: new Counter({
      name: 'meshshift_redis_connection_errors_total',
      help: 'Redis connection errors (logged once per outage, counted here)',
      registers: [registry],
    }),
  };
  return m;
}
