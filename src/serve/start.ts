/**
 * `meshshift serve`: the HTTP API, the workers, or both in one process (its flags: src/cli/service-commands.ts;
 * the playground starts it too). Every flag has an environment variable (flags win). Redis is one node, a Sentinel
 * group or a Cluster (see src/store/redis-connection.ts); the API and the workers use separate connections (the
 * API's fail fast, the workers' wait).
 *
 * This file is the composition: what the service is made of, in the order it starts. Each part is built in its own
 * file beside this one: redis.ts (connections, stores, queues), workers.ts (mesh, Prometheus, the BullMQ worker),
 * facade.ts (tokens, the service facade, the controller), http.ts (the API, dashboard and Slack; listening), and
 * shutdown.ts (the bounded shutdown: controller, workers, API and Slack, then the queue and Redis, within
 * `shutdownTimeoutMs`).
 */
import type { FastifyInstance } from 'fastify';
import type { MetricsProvider } from '../gate/input/provider.js';
import { createLogger } from '../log/logger.js';
import { createServiceMetrics, type ServiceMetrics } from '../worker/metrics.js';
import type { MigrationQueue } from '../worker/queue.js';
import type { RedisMigrationStore } from '../store/store.js';
import type { MigrationWorker } from '../worker/worker.js';
import type { MigrationPlanController } from '../controller/controller.js';
import { rolesOf, type ServeDeps, type ServeOptions } from './options.js';
import { connectRedis, openBackends } from './redis.js';
import { startWorkers } from './workers.js';
import { serviceFor, startController, tokensFor } from './facade.js';
import { buildHttp, listen } from './http.js';
import { shutdown } from './shutdown.js';

export type { ServeDeps, ServeOptions } from './options.js';
export { dashboardNote } from './http.js';

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

export async function startService(o: ServeOptions, deps: ServeDeps = {}): Promise<RunningService> {
  const logger = deps.logger ?? createLogger({ ...(o.logLevel ? { level: o.logLevel } : {}) });
  const roles = rolesOf(o);
  const redis = connectRedis(o, logger);
  const backends = openBackends(o, roles, redis, deps.clock);
  const { store, queue } = backends;
  const metrics = createServiceMetrics(
    () => store.countByPhase(),
    () => store.summaries(),
  );
  redis.health.report({ up: metrics.redisUp, errors: metrics.redisErrors });

  const workers = roles.worker
    ? await startWorkers(o, deps, { logger, metrics, redis, backends })
    : undefined;
  const tokens = tokensFor(o, deps, roles, logger);
  const service = roles.api ? serviceFor(o, deps, backends, logger) : undefined;
  const controller =
    service && roles.controller
      ? startController(o, { service, backends, prefix: redis.prefix, logger })
      : undefined;
  const api = await buildHttp(o, deps, {
    roles,
    service,
    tokens,
    metrics,
    backends,
    prefix: redis.prefix,
    logger,
  });
  const url = await listen(api, o, { redis, backends, hasTokens: !!tokens, logger });

  const close = shutdown({
    logger,
    deadlineMs: o.shutdownTimeoutMs ?? 20_000,
    worker: workers?.worker,
    controller,
    api,
    queues: [backends.apiQueue, backends.workerQueue].filter((q): q is MigrationQueue => !!q),
    connections: redis.connections,
  });
  return {
    store,
    queue,
    metrics,
    close,
    ...(workers ? { provider: workers.provider, worker: workers.worker } : {}),
    ...(controller ? { controller } : {}),
    api,
    url,
  };
}
