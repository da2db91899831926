/** What `meshshift serve` is given: its options (flags and environment, src/cli/service-commands.ts) and the deps. */
import type { WebOptions } from '../web/routes.js';
import type { TokenStore } from '../auth/tokens.js';
import type { MetricsProvider } from '../gate/input/provider.js';
import type { Logger } from '../log/logger.js';
import type { MtlsStep } from '../engine/effects.js';
import type { MeshAdapter } from '../mesh/types.js';
import type { Clock } from '../engine/clock.js';
import type { ControllerOptions } from '../controller/controller.js';

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

/** What a role runs. */
export interface Roles {
  /** The API process's side: its Redis connection, the service facade, the HTTP API (`api`, `all`, `controller`). */
  api: boolean;
  /** The BullMQ workers (`worker`, `all`). */
  worker: boolean;
  /** The MigrationPlan controller (`controller`; `all` with controller options). */
  controller: boolean;
  /** The API routes, the dashboard (`api`, `all`: not `controller`). */
  routes: boolean;
}

export function rolesOf(o: Pick<ServeOptions, 'role' | 'controller'>): Roles {
  return {
    api: o.role !== 'worker',
    worker: o.role === 'worker' || o.role === 'all',
    controller: o.role === 'controller' || (o.role === 'all' && !!o.controller),
    routes: o.role !== 'worker' && o.role !== 'controller',
  };
}

/** `--kubeconfig` and `--context`, when given. */
export function kubeConfigOptions(o: ServeOptions): { kubeconfig?: string; context?: string } {
  return {
    ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}),
    ...(o.context ? { context: o.context } : {}),
  };
}
