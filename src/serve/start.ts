/**
 * `meshshift serve`: the HTTP API, the workers, or both in one process (its flags: src/cli/service-commands.ts;
 * the playground starts it too). Every flag has an environment variable (flags win). Redis is one node, a Sentinel
 * group or a Cluster (see src/store/redis-connection.ts); the API and the workers use separate connections (the
 * API's fail fast, the workers' wait).
 *
 * Shutdown (SIGTERM/SIGINT), each step bounded so the process exits well within Kubernetes' 30 s grace period:
 * 1. workers stop taking jobs and let the in-flight ones commit (at most `shutdownTimeoutMs` − 5 s; then they are
 *    abandoned: their locks expire and another worker resumes them, fenced);
 * 2. the API and Slack (notifier pass, open requests) close, at most 3 s;
 * 3. the queue and the Redis connections close, at most 2 s.
 */
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { buildApi } from '../api/server.js';
import { mountWeb, type WebOptions } from '../web/routes.js';
import { FileTokenStore, type TokenStore } from '../auth/tokens.js';
import { PrometheusProvider } from '../gate/prometheus.js';
import type { MetricsProvider } from '../gate/input/provider.js';
import { createLogger, type Logger } from '../log/logger.js';
import { PeerAuthenticationAdapter } from '../mesh/peer-authentication.js';
import type { MtlsStep } from '../engine/effects.js';
import { IstioMeshAdapter } from '../mesh/istio.js';
import { loadKubeConfig } from '../mesh/kube/config.js';
import type { MeshAdapter } from '../mesh/types.js';
import type { Clock } from '../engine/clock.js';
import { BatchingMetricsProvider } from '../worker/batching.js';
import { createServiceMetrics, type ServiceMetrics } from '../worker/metrics.js';
import { MigrationQueue } from '../worker/queue.js';
import {
  clusterPrefix,
  describeTopology,
  RedisConnections,
  redisTopology,
  type RedisClient,
  waitReady,
} from '../store/redis-connection.js';
import { MigrationService } from '../service/service.js';
import { RedisHealth } from '../store/redis-health.js';
import { RedisMigrationStore } from '../store/store.js';
import { MigrationWorker } from '../worker/worker.js';
import {
  MigrationPlanController,
  defaultControllerOptions,
  type ControllerOptions,
} from '../controller/controller.js';

export interface ServeOptions {
  /** `controller`: the MigrationPlan controller only; `all` runs it too when `controller` options are given. */
  role: 'api' | 'worker' | 'all' | 'controller';
  controller?: ControllerOptions;
  /** redis://… (one node; with Sentinel or Cluster only its credentials, db and TLS are used). */
  redis: string;
  /** host:port of each Sentinel: connect to the master `redisSentinelName` (default mymaster). */
  redisSentinels?: string[];
  redisSentinelName?: string;
  redisSentinelPassword?: string;
  /** host:port of cluster nodes: Redis Cluster (the prefix gets a hash tag). */
  redisCluster?: string[];
  /** The API's Redis command timeout (default 1000 ms). */
  redisTimeoutMs?: number;
  /** The API answers every request within this (503 when Redis does not answer). Default 2000 ms. */
  requestTimeoutMs?: number;
  /** SIGTERM to exit, at most (default 20 s, inside Kubernetes' 30 s grace period). */
  shutdownTimeoutMs?: number;
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
  controller?: MigrationPlanController;
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
  /** Dashboard options (e.g. one-time login codes: the playground's). */
  web?: Omit<WebOptions, 'service' | 'tokens'>;
}

export async function startService(o: ServeOptions, deps: ServeDeps = {}): Promise<RunningService> {
  const logger = deps.logger ?? createLogger({ ...(o.logLevel ? { level: o.logLevel } : {}) });
  const topology = redisTopology({
    url: o.redis,
    ...(o.redisSentinels ? { sentinels: o.redisSentinels } : {}),
    ...(o.redisSentinelName ? { sentinelName: o.redisSentinelName } : {}),
    ...(o.redisSentinelPassword ? { sentinelPassword: o.redisSentinelPassword } : {}),
    ...(o.redisCluster ? { cluster: o.redisCluster } : {}),
  });
  const prefix = clusterPrefix(o.prefix, topology);
  if (prefix !== o.prefix)
    logger.info({ prefix }, 'Redis Cluster: key prefix hash-tagged so all keys share a slot');
  const connections = new RedisConnections(topology, {
    ...(o.redisTimeoutMs ? { commandTimeoutMs: o.redisTimeoutMs } : {}),
  });
  // ioredis' Cluster speaks the same commands as Redis; the store is written against the Redis type.
  // One warning when Redis goes away and one when it is back, not a line per reconnect attempt or poll.
  const health = new RedisHealth(logger);
  const storeOn = (c: RedisClient, source: string) => {
    health.watch(source, c);
    return new RedisMigrationStore(c as Redis, prefix, {
      ...(o.retentionMs ? { retentionMs: o.retentionMs } : {}),
    });
  };
  const queueOn = (role: 'api' | 'worker') => {
    const q = new MigrationQueue(connections.bull(role, `meshshift-queue-${role}`), prefix, deps.clock);
    q.queue.on('error', (err) => health.noise(`queue (${role})`, err));
    return q;
  };
  const hasApi = o.role !== 'worker';
  const hasWorker = o.role === 'worker' || o.role === 'all';
  // The API's connection fails fast (503); a worker-only process serves /readyz and /metrics from its own.
  const apiClient = hasApi ? connections.client('api', 'meshshift-api') : undefined;
  const apiStore = apiClient ? storeOn(apiClient, 'api') : undefined;
  const workerClient = hasWorker ? connections.client('worker', 'meshshift-worker') : undefined;
  const workerStore = workerClient ? storeOn(workerClient, 'worker') : undefined;
  const store = (apiStore ?? workerStore)!;
  const apiQueue = hasApi ? queueOn('api') : undefined;
  const workerQueue = hasWorker ? queueOn('worker') : undefined;
  const queue = (apiQueue ?? workerQueue)!;
  const metrics = createServiceMetrics(
    () => store.countByPhase(),
    () => store.summaries(),
  );
  health.report({ up: metrics.redisUp, errors: metrics.redisErrors });
  const running: RunningService = { store, queue, metrics, close: async () => undefined };

  let worker: MigrationWorker | undefined;
  if (hasWorker) {
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
      (kc && promForMtls
        ? new PeerAuthenticationAdapter(kc, { query: (q) => promForMtls.query(q) })
        : undefined);
    worker = new MigrationWorker({
      ...(mtls ? { mtls } : {}),
      store: workerStore!,
      queue: workerQueue!,
      connection: connections.bull('worker', 'meshshift-bullmq-worker'),
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
      redisHealth: health,
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
          store: apiStore!,
          queue: apiQueue!,
          logger,
          ...(deps.clock ? { clock: deps.clock } : {}),
          timeScale: o.timeScale,
          ...(o.policies ? { policiesDir: o.policies } : {}),
        });
  let controller: MigrationPlanController | undefined;
  if (service && (o.role === 'controller' || (o.role === 'all' && o.controller))) {
    const kc = loadKubeConfig({
      ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}),
      ...(o.context ? { context: o.context } : {}),
    });
    controller = new MigrationPlanController(o.controller ?? defaultControllerOptions(), {
      kc,
      service,
      store: apiStore!,
      redis: apiClient as Redis,
      logger,
      prefix,
    });
    controller.start();
    running.controller = controller;
  }
  const apiService = o.role !== 'controller' ? service : undefined;
  const api = await buildApi({
    ...(apiService ? { service: apiService } : {}),
    ...(tokens ? { tokens } : {}),
    redis: (apiClient ?? workerClient)! as Redis,
    metrics,
    logger,
    authReads: !!o.authReads,
    ...(o.requestTimeoutMs ? { requestTimeoutMs: o.requestTimeoutMs } : {}),
    keyPrefix: prefix,
    ...(o.policies ? { policiesDir: o.policies } : {}),
  });
  // The dashboard at /ui/ on the API's server, where it serves migrations and people can sign in with a token.
  if (apiService && tokens) await mountWeb(api, { ...(deps.web ?? {}), service: apiService, tokens });
  // Slack (slash commands, buttons, threaded notifications) when its secrets are configured; Bolt is loaded
  // only then, so processes without Slack do not carry it.
  if (
    ['SLACK_SIGNING_SECRET', 'SLACK_SIGNING_SECRET_FILE', 'SLACK_BOT_TOKEN', 'SLACK_BOT_TOKEN_FILE'].some(
      (k) => process.env[k],
    )
  ) {
    const { mountSlackFromEnv } = await import('../slack/app.js');
    mountSlackFromEnv(api, {
      ...(service ? { service } : {}),
      store,
      logger,
      ...(tokens ? { principals: tokens } : {}),
    });
  }
  // The API's connection refuses commands until it is connected: give it a moment before taking requests (if Redis
  // is not there yet, the API starts anyway and answers 503 until it is).
  if (apiClient && !(await waitReady(apiClient, 5000)))
    logger.warn(
      { redis: describeTopology(topology) },
      'Redis not reachable yet: the API answers 503 until it is',
    );
  const address = await api.listen({ host: o.host, port: o.port });
  running.api = api;
  running.url = address.replace('[::1]', '127.0.0.1');
  logger.info(
    { role: o.role, url: running.url, redis: describeTopology(topology), prefix },
    'meshshift serving',
  );
  const dashboard = dashboardNote(o.role, !!tokens, running.url);
  logger.info({ dashboard: dashboard.url ?? 'off' }, dashboard.message);

  running.close = shutdown({
    logger,
    deadlineMs: o.shutdownTimeoutMs ?? 20_000,
    worker,
    controller,
    api,
    queues: [apiQueue, workerQueue].filter((q): q is MigrationQueue => !!q),
    connections,
  });
  return running;
}

/** Where the dashboard is, or why it is off: `serve` says it once at start. */
export function dashboardNote(
  role: string,
  hasTokens: boolean,
  url: string,
): { url?: string; message: string } {
  if (role === 'worker' || role === 'controller')
    return { message: `dashboard off: --role ${role} serves no dashboard (it is on --role api or all)` };
  if (!hasTokens)
    return {
      message:
        'dashboard off: no --tokens-file (people sign in to the dashboard with a token from that file)',
    };
  return { url: `${url}/ui/`, message: `dashboard at ${url}/ui/ (sign in with a token from --tokens-file)` };
}

/** The bounded shutdown sequence (see the file comment). Idempotent: every call returns the same promise. */
function shutdown(p: {
  logger: Logger;
  deadlineMs: number;
  worker: MigrationWorker | undefined;
  controller: MigrationPlanController | undefined;
  api: FastifyInstance;
  queues: MigrationQueue[];
  connections: RedisConnections;
}): () => Promise<void> {
  const { logger } = p;
  let closing: Promise<void> | undefined;
  const within = async (what: string, ms: number, work: () => Promise<unknown>): Promise<boolean> => {
    let timer: NodeJS.Timeout | undefined;
    const ok = await Promise.race([
      work().then(
        () => true,
        (err: unknown) => (logger.warn({ err: (err as Error).message }, `${what} failed`), true),
      ),
      new Promise<false>((r) => (timer = setTimeout(() => r(false), Math.max(0, ms)))),
    ]);
    clearTimeout(timer);
    if (!ok) logger.warn({ afterMs: ms }, `${what}: gave up waiting`);
    return ok;
  };
  return () =>
    (closing ??= (async () => {
      const t0 = Date.now();
      logger.info({ deadlineMs: p.deadlineMs }, 'shutting down: no new jobs; finishing in-flight ones');
      // The controller first: it releases its Lease so another replica leads at once.
      if (p.controller) await within('stopping the controller', 3000, () => p.controller!.stop());
      if (p.worker) {
        const drained = await within('stopping the worker', Math.max(1000, p.deadlineMs - 5000), () =>
          p.worker!.stop(),
        );
        if (!drained) await within('abandoning in-flight jobs', 1000, () => p.worker!.kill());
        logger.info({ ms: Date.now() - t0, drained }, 'worker stopped');
      }
      await within('closing the API and Slack', 3000, () => p.api.close());
      logger.info({ ms: Date.now() - t0 }, 'API closed');
      await within('closing the queue', 2000, () => Promise.all(p.queues.map((q) => q.close())));
      await p.connections.close(2000);
      logger.info({ ms: Date.now() - t0 }, 'stopped');
    })());
}
