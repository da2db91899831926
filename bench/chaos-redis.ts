/**
 * The chaos soak's Redis, in one of two shapes: one persistent node (AOF, so a restart keeps the data) or a
 * Sentinel group (a primary, a replica, three Sentinels; src/sim/redis-ha.ts) that `meshshift serve` reaches
 * through `--redis-sentinels`. The faults act on whichever node is the primary right now: a restart (on Sentinel,
 * the primary goes away and the replica is promoted; it rejoins as a replica), a Sentinel-coordinated failover,
 * and a write pause (CLIENT PAUSE WRITE).
 */
import { Redis } from 'ioredis';
import { startSentinelGroup, type RedisNode } from '../src/sim/redis-ha.js';
import { startRedis } from '../src/sim/redis.js';

export type RedisMode = 'single' | 'sentinel';

export interface ChaosRedis {
  readonly mode: RedisMode;
  /** The `serve` flags that reach it. */
  readonly serveFlags: string[];
  /** A fail-fast client of the soak itself that follows the primary (lock checks, memory figures, pauses). */
  readonly probe: Redis;
  /** The primary goes away for `downMs` and comes back (as a replica once Sentinel has promoted the other). */
  restart(downMs: number): Promise<string>;
  /** Sentinel only: `SENTINEL FAILOVER`; resolves with the ms until Sentinel names the new primary. */
  failover?(): Promise<number>;
  /** CLIENT PAUSE WRITE on the primary for `ms`. */
  pauseWrites(ms: number): Promise<void>;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const FAIL_FAST = { maxRetriesPerRequest: 0, enableOfflineQueue: false, connectTimeout: 500 } as const;

export async function startChaosRedis(mode: RedisMode): Promise<ChaosRedis> {
  return mode === 'single' ? single() : sentinel();
}

async function single(): Promise<ChaosRedis> {
  const redis = await startRedis({ persistent: true });
  const probe = new Redis(redis.url, FAIL_FAST);
  probe.on('error', () => undefined);
  return {
    mode: 'single',
    serveFlags: ['--redis', redis.url],
    probe,
    async restart(downMs) {
      await redis.stop();
      await sleep(downMs);
      await redis.start();
      return `restarted after ${Math.round(downMs)} ms`;
    },
    pauseWrites: async (ms) => void (await probe.call('CLIENT', 'PAUSE', String(Math.round(ms)), 'WRITE')),
    async close() {
      probe.disconnect();
      await redis.close();
    },
  };
}

async function sentinel(): Promise<ChaosRedis> {
  const group = await startSentinelGroup('meshshift');
  const nodes: RedisNode[] = [group.primary, group.replica];
  const sentinels = group.sentinels.map((s) => ({ host: '127.0.0.1', port: s.port }));
  const probe = new Redis({
    sentinels,
    name: group.name,
    ...FAIL_FAST,
    reconnectOnError: (err) => /READONLY/.test(err.message),
  });
  probe.on('error', () => undefined);
  /** Waits (up to 30 s) until Sentinel names a primary other than `port`; returns its port. */
  const promotedAway = async (port: number): Promise<number> => {
    const until = Date.now() + 30_000;
    for (;;) {
      const now = await group.masterPort().catch(() => port);
      if (now !== port) return now;
      if (Date.now() > until) throw new Error(`Sentinel did not promote away from ${port} within 30 s`);
      await sleep(100);
    }
  };
  return {
    mode: 'sentinel',
    serveFlags: ['--redis-sentinels', group.addresses, '--redis-sentinel-name', group.name],
    probe,
    async restart(downMs) {
      const port = await group.masterPort();
      const node = nodes.find((n) => n.port === port)!;
      const t0 = Date.now();
      await node.stop(); // SIGTERM: Redis 7 lets the replica catch up before it exits
      await sleep(downMs);
      const next = await promotedAway(port);
      const promotedMs = Date.now() - t0;
      await node.start(['--replicaof', '127.0.0.1', String(next)]);
      return `primary ${port} stopped ${Math.round(downMs)} ms; ${next} primary ${promotedMs} ms after the stop; ${port} rejoined as its replica`;
    },
    async failover() {
      const port = await group.masterPort();
      const t0 = Date.now();
      const s = new Redis(sentinels[0]!.port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null });
      try {
        await s.connect();
        await s.call('SENTINEL', 'FAILOVER', group.name);
      } finally {
        s.disconnect();
      }
      await promotedAway(port);
      return Date.now() - t0;
    },
    pauseWrites: async (ms) => void (await probe.call('CLIENT', 'PAUSE', String(Math.round(ms)), 'WRITE')),
    async close() {
      probe.disconnect();
      await group.close();
    },
  };
}
