/**
 * The one place that builds Redis connections (ioredis clients and BullMQ connection settings) for `meshshift
 * serve`, for the three topologies: one node (`--redis`), Sentinel (`--redis-sentinels`, `--redis-sentinel-name`)
 * and Cluster (`--redis-cluster`).
 *
 * Two kinds of connections, on purpose:
 * - `api`: fails fast. No offline queue (a command while Redis is unreachable is refused at once instead of
 *   being queued and sent minutes later) and a bounded command timeout, so the HTTP API can answer 503.
 * - `worker`: patient. BullMQ workers require `maxRetriesPerRequest: null`; a job waits for Redis to come back
 *   and its commit is fenced by the migration lock, so a late commit cannot double a step.
 *
 * On a Cluster every key of meshshift must hash to one slot (the store's multi-key scripts, BullMQ's queue keys):
 * `clusterPrefix()` wraps the key prefix in a hash tag (`{meshshift}`).
 */
import type { ConnectionOptions } from 'bullmq';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { StreamBoundSentinelConnector } from './sentinel-connector.js';

export interface HostPort {
  host: string;
  port: number;
}

/** Credentials and transport shared by every node of a topology (from the `--redis` URL). */
export interface RedisAuth {
  username?: string;
  password?: string;
  db?: number;
  tls?: Record<string, never>;
}

export type RedisTopology =
  | { kind: 'standalone'; node: HostPort; auth: RedisAuth }
  | {
      kind: 'sentinel';
      sentinels: HostPort[];
      name: string;
      auth: RedisAuth;
      sentinelPassword?: string;
    }
  | { kind: 'cluster'; nodes: HostPort[]; auth: RedisAuth };

export interface TopologyInput {
  /** redis://[user:password@]host:port[/db] (rediss:// for TLS). With Sentinel or Cluster only its credentials, db and TLS are used. */
  url: string;
  /** host:port of each Sentinel. */
  sentinels?: string[];
  /** The Sentinel master group name. */
  sentinelName?: string;
  sentinelPassword?: string;
  /** host:port of one or more cluster nodes (the rest are discovered). */
  cluster?: string[];
}

/** Connection settings accepted by both ioredis and BullMQ for one node. */
export interface RedisSettings extends RedisAuth, HostPort {
  /** BullMQ workers require null (wait for Redis instead of failing commands). */
  maxRetriesPerRequest: null;
}

function parseUrl(url: string): { node: HostPort; auth: RedisAuth } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(
      `invalid --redis URL ${JSON.stringify(url)} [MESHSHIFT_REDIS_URL]: expected redis://host:port[/db]`,
    );
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    throw new Error(
      `invalid --redis URL ${JSON.stringify(u.protocol + '//' + u.host)} [MESHSHIFT_REDIS_URL]: the scheme must be redis:// or rediss://`,
    );
  const db = u.pathname.replace(/^\//, '');
  if (db && !/^\d+$/.test(db))
    throw new Error(`invalid --redis URL: the path must be a database number such as /0, not "/${db}"`);
  return {
    node: { host: u.hostname || '127.0.0.1', port: Number(u.port || 6379) },
    auth: {
      ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
      ...(db ? { db: Number(db) } : {}),
      ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    },
  };
}

/** Settings for one node from a redis:// URL (BullMQ worker style: `maxRetriesPerRequest: null`). */
export function redisOptions(url: string): RedisSettings {
  const { node, auth } = parseUrl(url);
  return { ...node, ...auth, maxRetriesPerRequest: null };
}

/** Parses "host:port,host:port" (or a list of them) naming the flag in errors. */
export function parseHostList(items: string[], flag: string): HostPort[] {
  const out: HostPort[] = [];
  for (const raw of items.flatMap((s) => s.split(','))) {
    const item = raw.trim();
    if (!item) continue;
    const m = /^\[?([^\]\s]+?)\]?:(\d{1,5})$/.exec(item);
    const port = m ? Number(m[2]) : NaN;
    if (!m || port < 1 || port > 65535)
      throw new Error(`${flag}: ${JSON.stringify(item)} is not host:port (e.g. redis-sentinel-0:26379)`);
    out.push({ host: m[1]!, port });
  }
  if (!out.length) throw new Error(`${flag}: give at least one host:port`);
  return out;
}

/** Decides the topology from flags/env. Sentinel and Cluster exclude each other. */
export function redisTopology(i: TopologyInput): RedisTopology {
  const { node, auth } = parseUrl(i.url);
  const hasSentinels = !!i.sentinels?.some((s) => s.trim());
  const hasCluster = !!i.cluster?.some((s) => s.trim());
  if (hasSentinels && hasCluster)
    throw new Error(
      'give either --redis-sentinels [MESHSHIFT_REDIS_SENTINELS] or --redis-cluster [MESHSHIFT_REDIS_CLUSTER], not both',
    );
  if (hasSentinels) {
    return {
      kind: 'sentinel',
      sentinels: parseHostList(i.sentinels!, '--redis-sentinels'),
      name: i.sentinelName?.trim() || 'mymaster',
      auth,
      ...(i.sentinelPassword ? { sentinelPassword: i.sentinelPassword } : {}),
    };
  }
  if (hasCluster) {
    if (auth.db)
      throw new Error('--redis URL: a Redis Cluster has only database 0; remove the /db part of the URL');
    return { kind: 'cluster', nodes: parseHostList(i.cluster!, '--redis-cluster'), auth };
  }
  return { kind: 'standalone', node, auth };
}

/** A key prefix every key of which lands in one cluster slot: `meshshift` → `{meshshift}` on a Cluster. */
export function clusterPrefix(prefix: string, t: RedisTopology): string {
  if (t.kind !== 'cluster' || /\{[^{}]+\}/.test(prefix)) return prefix;
  return `{${prefix}}`;
}

/** For logs: where we connect, never the password. */
export function describeTopology(t: RedisTopology): string {
  const hp = (h: HostPort) => `${h.host}:${h.port}`;
  if (t.kind === 'standalone') return `redis ${hp(t.node)}${t.auth.db ? `/${t.auth.db}` : ''}`;
  if (t.kind === 'sentinel') return `sentinel ${t.name} via ${t.sentinels.map(hp).join(',')}`;
  return `cluster via ${t.nodes.map(hp).join(',')}`;
}

export type ConnectionRole = 'api' | 'worker';
export type RedisClient = Redis | Cluster;

export interface ConnectionTuning {
  /** api connections: a command not answered within this fails (the API answers 503). Default 1000 ms. */
  commandTimeoutMs?: number;
}

/** ioredis options for one node (standalone or Sentinel) in the given role. */
export function nodeOptions(
  t: RedisTopology,
  role: ConnectionRole,
  name: string,
  tuning: ConnectionTuning = {},
): RedisOptions {
  const roleOpts: RedisOptions =
    role === 'api'
      ? {
          enableOfflineQueue: false,
          maxRetriesPerRequest: 1,
          commandTimeout: tuning.commandTimeoutMs ?? 1000,
          connectTimeout: 2000,
          // Reconnect quickly so the API is back as soon as Redis is.
          retryStrategy: (times) => Math.min(50 * times, 500),
        }
      : { maxRetriesPerRequest: null, retryStrategy: (times) => Math.min(100 * times, 2000) };
  const base: RedisOptions = { ...t.auth, connectionName: name, ...roleOpts };
  if (t.kind === 'standalone') return { ...base, ...t.node };
  if (t.kind === 'sentinel')
    return {
      ...base,
      sentinels: t.sentinels,
      name: t.name,
      role: 'master',
      // Move off a primary that hangs as well as one that dies (see sentinel-connector.ts for the fixed defect).
      failoverDetector: true,
      Connector: StreamBoundSentinelConnector,
      ...(t.sentinelPassword ? { sentinelPassword: t.sentinelPassword } : {}),
      // A promoted replica's old master answers READONLY until Sentinel reconfigures it: reconnect.
      reconnectOnError: (err) => /READONLY/.test(err.message),
    };
  return base; // cluster: used as redisOptions, see clusterOptions()
}

function clusterOptions(
  t: Extract<RedisTopology, { kind: 'cluster' }>,
  role: ConnectionRole,
  name: string,
  tuning: ConnectionTuning,
): ClusterOptions {
  const node = nodeOptions(t, role, name, tuning);
  const { enableOfflineQueue, maxRetriesPerRequest, retryStrategy, ...redisOpts } = node;
  void retryStrategy; // cluster nodes do not reconnect on their own; the cluster refreshes its slots
  return {
    redisOptions: { ...redisOpts, ...(t.auth.tls ? { tls: {} } : {}) },
    ...(enableOfflineQueue === false ? { enableOfflineQueue: false } : {}),
    ...(maxRetriesPerRequest !== undefined ? { maxRetriesPerRequest } : {}),
    clusterRetryStrategy: (times) => Math.min(100 * times, role === 'api' ? 500 : 2000),
    slotsRefreshTimeout: 2000,
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 300,
  };
}

/**
 * Owns every connection it hands out and closes them all, bounded in time. BullMQ gets plain options for one node
 * and Sentinel (it builds and closes its own clients) and a Cluster instance on a Cluster (it cannot build one).
 */
export class RedisConnections {
  private readonly clients: RedisClient[] = [];

  constructor(
    readonly topology: RedisTopology,
    private readonly tuning: ConnectionTuning = {},
  ) {}

  client(role: ConnectionRole, name: string): RedisClient {
    const t = this.topology;
    const c =
      t.kind === 'cluster'
        ? new Cluster(t.nodes, clusterOptions(t, role, name, this.tuning))
        : new Redis(nodeOptions(t, role, name, this.tuning));
    this.clients.push(c);
    return c;
  }

  bull(role: ConnectionRole, name: string): ConnectionOptions {
    if (this.topology.kind === 'cluster') return this.client(role, name);
    const { retryStrategy, ...rest } = nodeOptions(this.topology, role, name, this.tuning);
    return { ...rest, ...(retryStrategy ? { retryStrategy } : {}) };
  }

  /** QUIT every client, then drop whatever has not answered within `timeoutMs`. */
  async close(timeoutMs = 2000): Promise<void> {
    const all = this.clients.splice(0);
    await Promise.all(
      all.map((c) =>
        Promise.race([
          c.quit().catch(() => undefined),
          new Promise<void>((r) => setTimeout(r, timeoutMs).unref()),
        ]).finally(() => c.disconnect()),
      ),
    );
  }
}

const UNAVAILABLE =
  /Stream isn't writeable|Connection is closed|Command timed out|Reached the max retries|connect ECONNREFUSED|ETIMEDOUT|ECONNRESET|EPIPE|None of the sentinels are available|All sentinels are unreachable|Failed to refresh slots cache|None of startup nodes is available|Cluster isn't ready|^CLUSTERDOWN|^LOADING|^READONLY|^MASTERDOWN|^TRYAGAIN|^NOREPLICAS/;

/** True when an error means "Redis is unreachable or failing over right now" (the API answers 503, not 500). */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'MaxRetriesPerRequestError' || err.name === 'ClusterAllFailedError') return true;
  return UNAVAILABLE.test(err.message);
}

/** Resolves true once the client is ready, false after `timeoutMs` (it keeps connecting in the background). */
export async function waitReady(c: RedisClient, timeoutMs: number): Promise<boolean> {
  if (c.status === 'ready') return true;
  return new Promise<boolean>((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      c.removeListener('ready', onReady);
      resolve(ok);
    };
    const onReady = () => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    c.once('ready', onReady);
  });
}
