/**
 * `meshshift serve`: the HTTP API, the workers, or both in one process. Every flag has an environment variable
 * (flags win). SIGTERM/SIGINT: stop taking jobs, let the in-flight ones commit, close the API and Redis.
 */
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { buildApi } from '../api/server.js';
import { FileTokenStore, type TokenStore } from '../api/auth.js';
import { PrometheusProvider } from '../gate/prometheus.js';
import type { MetricsProvider } from '../gate/provider.js';
import { createLogger, type Logger } from '../log/logger.js';
import { PeerAuthenticationAdapter } from '../mesh/peer-authentication.js';
import type { MtlsStep } from '../engine/effects.js';
import { IstioMeshAdapter } from '../mesh/istio.js';
import { loadKubeConfig } from '../mesh/kube/config.js';
import type { MeshAdapter } from '../mesh/types.js';
import type { Clock } from '../engine/clock.js';
import { BatchingMetricsProvider } from '../service/batching.js';
import { createServiceMetrics, type ServiceMetrics } from '../service/metrics.js';
import { connectRedis, MigrationQueue, redisOptions } from '../service/queue.js';
import { MigrationService } from '../service/service.js';
import { RedisMigrationStore } from '../service/store.js';
import { MigrationWorker } from '../service/worker.js';

export interface ServeOptions {
  role: 'api' | 'worker' | 'all';
  redis: string;
  prefix: string;
  host: string;
  port: number;
  tokensFile?: string;
  authReads?: boolean;
  kubeconfig?: string;
  context?: string;
  prometheus?: string;
  concurrency: number;
  lockTtlMs: number;
  maxPerNamespace: number;
  maxConcurrent: number;
  timeScale: number;
  tickAlignMs: number;
  batchWindowMs: number;
  reconcileEveryMs: number;
  /** Finished migrations are forgotten this long after they finished (default 30 days). */
  retentionMs?: number;
  policies?: string;
  logLevel?: string;
}

export interface RunningService {
  url?: string;
  worker?: MigrationWorker;
  store: RedisMigrationStore;
  queue: MigrationQueue;
  metrics: ServiceMetrics;
  provider?: MetricsProvider;
  api?: FastifyInstance;
  /** Graceful: stop taking jobs, finish in-flight ones, close the API and Redis. */
  close(): Promise<void>;
}

export interface ServeDeps {
  logger?: Logger;
  clock?: Clock;
  /** Injected in tests/benchmarks instead of --kubeconfig / --prometheus. */
  mesh?: MeshAdapter;
  metricsProvider?: MetricsProvider;
  /** PeerAuthentication adapter ("policy second"); default: built from the kubeconfig and Prometheus. */
  mtls?: MtlsStep;
  tokens?: TokenStore;
}

export async function startService(o: ServeOptions, deps: ServeDeps = {}): Promise<RunningService> {
  const logger = deps.logger ?? createLogger({ ...(o.logLevel ? { level: o.logLevel } : {}) });
  const redis: Redis = connectRedis(o.redis, 'meshshift-store');
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  const store = new RedisMigrationStore(redis, o.prefix, {
    ...(o.retentionMs ? { retentionMs: o.retentionMs } : {}),
  });
  const connection = redisOptions(o.redis);
  const queue = new MigrationQueue(connection, o.prefix, deps.clock);
  queue.queue.on('error', (err) => logger.warn({ err: err.message }, 'queue connection error'));
  const metrics = createServiceMetrics(
    () => store.countByPhase(),
    () => store.summaries(),
  );
  const running: RunningService = { store, queue, metrics, close: async () => undefined };

  let worker: MigrationWorker | undefined;
  if (o.role !== 'api') {
    let mesh = deps.mesh;
    let kc: ReturnType<typeof loadKubeConfig> | undefined;
    if (!mesh) {
      kc = loadKubeConfig({
        ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}),
        ...(o.context ? { context: o.context } : {}),
      });
      mesh = new IstioMeshAdapter(kc, {
        onCall: ({ verb, ms, ok, code }) => {
          metrics.kubeCalls.observe({ verb, outcome: ok ? 'ok' : 'error' }, ms / 1000);
          if (!ok) metrics.kubeErrors.inc({ verb, code: String(code ?? 0) });
        },
      });
    }
    let provider = deps.metricsProvider;
    let prom: PrometheusProvider | undefined;
    if (!provider) {
      if (!o.prometheus)
        throw new Error('workers need Prometheus: pass --prometheus URL or set MESHSHIFT_PROMETHEUS_URL');
      prom = new PrometheusProvider({
        url: o.prometheus,
        onQuery: ({ ms, ok }) => {
          metrics.prometheusQueries.observe({ outcome: ok ? 'ok' : 'error' }, ms / 1000);
          if (!ok) metrics.prometheusErrors.inc();
        },
      });
      provider =
        o.batchWindowMs > 0 ? new BatchingMetricsProvider(prom, o.batchWindowMs, o.tickAlignMs) : prom;
    }
    running.provider = provider;
    // "Policy second" (plan spec.mtls): the same PeerAuthentication adapter `meshshift run` uses.
    const promForMtls = prom;
    const mtls =
      deps.mtls ??
      (kc && promForMtls ? new PeerAuthenticationAdapter(kc, { query: (q) => promForMtls.query(q) }) : undefined);
    worker = new MigrationWorker({
      ...(mtls ? { mtls } : {}),
      store,
      queue,
      connection,
      mesh,
      metrics: provider,
      logger,
      ...(deps.clock ? { clock: deps.clock } : {}),
      serviceMetrics: metrics,
      concurrency: o.concurrency,
      lockTtlMs: o.lockTtlMs,
      limits: { perNamespace: o.maxPerNamespace, total: o.maxConcurrent },
      tickAlignMs: o.tickAlignMs,
      reconcileEveryMs: o.reconcileEveryMs,
    });
    await worker.start();
    running.worker = worker;
  }

  const tokens = deps.tokens ?? (o.tokensFile ? new FileTokenStore(o.tokensFile) : undefined);
  if (o.role !== 'worker' && !tokens)
    logger.warn(
      'no --tokens-file: every mutation (submit, promote, pause, resume, abort) will be refused with 401',
    );
  const service =
    o.role === 'worker'
      ? undefined
      : new MigrationService({
          store,
          queue,
          logger,
          ...(deps.clock ? { clock: deps.clock } : {}),
          timeScale: o.timeScale,
          ...(o.policies ? { policiesDir: o.policies } : {}),
        });
  const api = await buildApi({
    ...(service ? { service } : {}),
    ...(tokens ? { tokens } : {}),
    redis,
    metrics,
    logger,
    authReads: !!o.authReads,
  });
  // Slack (slash commands, buttons, threaded notifications) when its secrets are configured; Bolt is loaded
  // only then, so processes without Slack do not carry it.
  if (
    ['SLACK_SIGNING_SECRET', 'SLACK_SIGNING_SECRET_FILE', 'SLACK_BOT_TOKEN', 'SLACK_BOT_TOKEN_FILE'].some(
      (k) => process.env[k],
    )
  ) {
    const { mountSlackFromEnv } = await import('../slack/app.js');
    mountSlackFromEnv(api, { ...(service ? { service } : {}), store, logger });
  }
  const address = await api.listen({ host: o.host, port: o.port });
  running.api = api;
  running.url = address.replace('[::1]', '127.0.0.1');
  logger.info(
    { role: o.role, url: running.url, redis: o.redis.replace(/\/\/[^@]*@/, '//***@') },
    'meshshift serving',
  );

  let closing: Promise<void> | undefined;
  running.close = () =>
    (closing ??= (async () => {
      logger.info('shutting down: no new jobs; finishing in-flight ones');
      await api.close().catch(() => undefined);
      await worker?.stop().catch(() => undefined);
      await queue.close().catch(() => undefined);
      await redis.quit().catch(() => undefined);
      logger.info('stopped');
    })());
  return running;
}
