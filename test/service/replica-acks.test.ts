/**
 * Acknowledged writes survive a Sentinel failover: the store WAITs for a replica after a create, a commit and a
 * queued command (src/service/replica-acks.ts). Real redis-server and redis-sentinel: a burst of creates, kill -9
 * of the primary right after the last answer, and every acknowledged migration is on the promoted replica; with the
 * replica down, writes still stand and the shortfall is reported, never thrown.
 *
 * On loopback a replica is rarely behind, so the first half passes without the WAIT as well (it guards the
 * failover path: the WAIT neither blocks nor breaks it); the second half fails without it. What the WAIT closes is
 * the window a real network opens (a replica milliseconds behind when the primary dies); the chaos soak on
 * Sentinel measures it (docs/service.md).
 */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { replicaAcksFor, shortAckReporter, type AckedWrite } from '../../src/service/replica-acks.js';
import { RedisConnections, redisTopology } from '../../src/service/redis-connection.js';
import { RedisMigrationStore } from '../../src/service/store.js';
import { startSentinelGroup } from '../../src/sim/redis-ha.js';
import { cleanupsAfterEach } from './serve-process.js';
import { record } from './store-fixtures.js';

const cleanups = cleanupsAfterEach();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('replica acks: what is chosen and reported', () => {
  it('one replica within half the command timeout (≤ 500 ms) on Sentinel; nothing on one node or a Cluster', () => {
    expect(replicaAcksFor('sentinel', undefined, undefined)).toEqual({
      replicaAcks: { replicas: 1, timeoutMs: 500 },
    });
    expect(replicaAcksFor('sentinel', 300, undefined).replicaAcks!.timeoutMs).toBe(150);
    expect(replicaAcksFor('sentinel', 60, undefined).replicaAcks!.timeoutMs).toBe(50);
    expect(replicaAcksFor('standalone', 1000, undefined)).toEqual({});
    expect(replicaAcksFor('cluster', 1000, undefined)).toEqual({});
  });

  it('counts every short write and logs at most once a minute, with how many since the last line', () => {
    let t = 0;
    const lines: Array<Record<string, unknown>> = [];
    const counted: AckedWrite[] = [];
    const r = shortAckReporter({ warn: (o) => lines.push(o) }, 60_000, () => t);
    r.attach({ inc: ({ write }) => counted.push(write) });
    r.onShort('create', 0);
    t = 10_000;
    r.onShort('commit', 0);
    r.onShort('command', 0, new Error('Connection is closed.'));
    t = 61_000;
    r.onShort('commit', 0);
    expect(counted).toEqual(['create', 'commit', 'command', 'commit']);
    expect(lines).toEqual([
      { write: 'create', acked: 0, unconfirmed: 1 },
      { write: 'commit', acked: 0, unconfirmed: 3 },
    ]);
  });
});

describe('replica acks on a real Sentinel group', () => {
  it('every create answered before kill -9 of the primary is on the promoted replica; with the replica down writes stand, reported', async () => {
    const group = await startSentinelGroup('acks');
    cleanups.push(() => group.close());
    const conns = new RedisConnections(
      redisTopology({ url: 'redis://127.0.0.1:6379', sentinels: [group.addresses], sentinelName: 'acks' }),
    );
    cleanups.push(() => conns.close());
    const short: Array<{ write: AckedWrite; acked: number }> = [];
    const store = new RedisMigrationStore(conns.client('worker', 'acks') as Redis, 'acks', {
      ...replicaAcksFor('sentinel', 1000, (write, acked) => short.push({ write, acked })),
    });

    // A burst of creates, the primary killed the moment the last one is answered.
    const ids: string[] = [];
    await Promise.all(
      Array.from({ length: 200 }, async () => {
        const rec = record();
        await store.create(rec, { type: 'submitted', at: rec.createdAt, by: 'test' });
        ids.push(rec.id);
      }),
    );
    await group.primary.kill();
    for (let t0 = Date.now(); (await group.masterPort()) !== group.replica.port; await sleep(100))
      if (Date.now() - t0 > 30_000) throw new Error('Sentinel did not promote the replica');
    const promoted = new Redis(group.replica.port, '127.0.0.1');
    cleanups.push(async () => promoted.disconnect());
    const kept = await Promise.all(ids.map((id) => promoted.exists(store.keys.migration(id))));
    expect({ acknowledged: ids.length, kept: kept.filter((k) => k === 1).length, short }).toEqual({
      acknowledged: 200,
      kept: 200,
      short: [],
    });

    // The replica is gone too (a single node now): the write is stored, answered, and the shortfall reported.
    await group.primary.start(['--replicaof', '127.0.0.1', String(group.replica.port)]);
    await group.primary.kill();
    const rec = record();
    const t0 = Date.now();
    await store.create(rec, { type: 'submitted', at: rec.createdAt, by: 'test' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
    expect(await promoted.exists(store.keys.migration(rec.id))).toBe(1);
    expect(short).toEqual([{ write: 'create', acked: 0 }]);
  }, 120_000);
});
