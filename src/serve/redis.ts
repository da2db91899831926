/**
 * Redis for `meshshift serve`: the topology (one node, Sentinel or Cluster), the key prefix, the connections, and
 * the stores and queues on them. The API and the workers use separate connections: the API's fail fast (503), the
 * workers' wait; a worker-only process serves /readyz and /metrics from its own.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../log/logger.js';
import type { Clock } from '../engine/clock.js';
import { MigrationQueue } from '../worker/queue.js';
import {
  clusterPrefix,
  RedisConnections,
  redisTopology,
  type RedisClient,
  type RedisTopology,
} from '../store/redis-connection.js';
import { RedisHealth } from '../store/redis-health.js';
import { RedisMigrationStore } from '../store/store.js';
import type { Roles, ServeOptions } from './options.js';

export interface RedisSide {
  topology: RedisTopology;
  /** The key prefix (hash-tagged on a Cluster). */
  prefix: string;
  connections: RedisConnections;
  /** One warning when Redis goes away and one when it is back, not a line per reconnect attempt or poll. */
  health: RedisHealth;
}

/** The stores and queues of the API side and of the workers (each only when the role runs it). */
export interface Backends {
  apiClient?: RedisClient;
  apiStore?: RedisMigrationStore;
  apiQueue?: MigrationQueue;
  workerClient?: RedisClient;
  workerStore?: RedisMigrationStore;
  workerQueue?: MigrationQueue;
  /** The API's store (or the workers' in a worker-only process): migration counts for /metrics, Slack. */
  store: RedisMigrationStore;
  queue: MigrationQueue;
}

export function connectRedis(o: ServeOptions, logger: Logger): RedisSide {
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
  return { topology, prefix, connections, health: new RedisHealth(logger) };
}

export function openBackends(
  o: ServeOptions,
  roles: Roles,
  redis: RedisSide,
  clock: Clock | undefined,
): Backends {
  const { prefix, connections, health } = redis;
  // ioredis' Cluster speaks the same commands as Redis; the store is written against the Redis type.
  const storeOn = (c: RedisClient, source: string) => {
    health.watch(source, c);
    return new RedisMigrationStore(c as Redis, prefix, {
      ...(o.retentionMs ? { retentionMs: o.retentionMs } : {}),
    });
  };
  const queueOn = (role: 'api' | 'worker') => {
    const q = new MigrationQueue(connections.bull(role, `meshshift-queue-${role}`), prefix, clock);
    q.queue.on('error', (err) => health.noise(`queue (${role})`, err));
    return q;
  };
  const apiClient = roles.api ? connections.client('api', 'meshshift-api') : undefined;
  const apiStore = apiClient ? storeOn(apiClient, 'api') : undefined;
  const workerClient = roles.worker ? connections.client('worker', 'meshshift-worker') : undefined;
  const workerStore = workerClient ? storeOn(workerClient, 'worker') : undefined;
  const apiQueue = roles.api ? queueOn('api') : undefined;
  const workerQueue = roles.worker ? queueOn('worker') : undefined;
  return {
    apiClient,
    apiStore,
    apiQueue,
    workerClient,
    workerStore,
    workerQueue,
    store: (apiStore ?? workerStore)!,
    queue: (apiQueue ?? workerQueue)!,
  };
}
