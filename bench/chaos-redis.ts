/**
 * The chaos soak's Redis, in one of two shapes: one persistent node (AOF, so a restart keeps the data) or a
 * Sentinel group (a primary, a replica, three Sentinels; test/harness/redis-ha.ts) that `meshshift serve` reaches
 * through `--redis-sentinels`. The faults act on whichever node is the primary right now: a restart (on Sentinel,
 * the primary goes away and the replica is promoted; it rejoins as a replica), a Sentinel-coordinated failover,
 * and a write pause (CLIENT PAUSE WRITE).
 */
import { Redis } from 'ioredis';
import { startSentinelGroup, type RedisNode, type SentinelGroup } from '../test/harness/redis-ha.js';
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
  // failoverDetector: follow +switch-master at once. Without it the probe stays on the old primary, which Sentinel
  // leaves answering as a primary for ~9 s after a SENTINEL FAILOVER (its lock reads would be stale).
  const probe = new Redis({
    sentinels,
    name: group.name,
    ...FAIL_FAST,
    failoverDetector: true,
    reconnectOnError: (err) => /READONLY/.test(err.message),
  });
  probe.on('error', () => undefined);
  return {
    mode: 'sentinel',
    serveFlags: ['--redis-sentinels', group.addresses, '--redis-sentinel-name', group.name],
    probe,
    async restart(downMs) {
      await replicaInSync(group);
      const port = await group.masterPort();
      const node = nodes.find((n) => n.port === port)!;
      const t0 = Date.now();
      await node.stop(); // SIGTERM: Redis 7 lets the replica catch up before it exits
      await sleep(downMs);
      const next = await promotedAway(group, port);
      const promotedMs = Date.now() - t0;
      await node.start(['--replicaof', '127.0.0.1', String(next)]);
      return `primary ${port} stopped ${Math.round(downMs)} ms; ${next} primary ${promotedMs} ms after the stop; ${port} rejoined as its replica`;
    },
    async failover() {
      await replicaInSync(group);
      const port = await group.masterPort();
      const t0 = Date.now();
      const s = new Redis(sentinels[0]!.port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null });
      try {
        await s.connect();
        await s.call('SENTINEL', 'FAILOVER', group.name);
      } finally {
        s.disconnect();
      }
      await promotedAway(group, port);
      return Date.now() - t0;
    },
    async pauseWrites(ms) {
      // On the node Sentinel names as the primary now (the one `serve`'s clients follow), not wherever the probe is.
      const c = new Redis(await group.masterPort(), '127.0.0.1', {
        lazyConnect: true,
        retryStrategy: () => null,
      });
      try {
        await c.connect();
        await c.call('CLIENT', 'PAUSE', String(Math.round(ms)), 'WRITE');
      } finally {
        c.disconnect();
      }
    },
    async close() {
      probe.disconnect();
      await group.close();
    },
  };
}

/** Waits (up to 30 s) until Sentinel names a primary other than `port`; returns its port. */
async function promotedAway(group: SentinelGroup, port: number): Promise<number> {
  const until = Date.now() + 30_000;
  for (;;) {
    const now = await group.masterPort().catch(() => port);
    if (now !== port) return now;
    if (Date.now() > until) throw new Error(`Sentinel did not promote away from ${port} within 30 s`);
    await sleep(100);
  }
}

/**
 * Waits (up to 30 s) until the primary has its replica online and caught up, as an operator would before a
 * planned failover: a replica promoted mid-resync would lose everything since its last sync, which is not the
 * fault under test.
 */
async function replicaInSync(group: SentinelGroup): Promise<void> {
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    const c = new Redis(await group.masterPort(), '127.0.0.1', {
      lazyConnect: true,
      retryStrategy: () => null,
    });
    try {
      await c.connect();
      const info = await c.info('replication');
      const master = Number(/master_repl_offset:(\d+)/.exec(info)?.[1]);
      const replica = /slave0:.*state=online,offset=(\d+)/.exec(info);
      if (replica && master - Number(replica[1]) < 200_000) return;
    } catch {
      // not reachable yet: ask again
    } finally {
      c.disconnect();
    }
    await sleep(200);
  }
}
