/**
 * Redis memory of one migration with 10,000 passing analyses (real Redis, MEMORY USAGE with SAMPLES 0, i.e.
 * exact). Before compaction every verdict stayed in the stream (≈ 5.6 MB for 10,000, measured on the previous
 * store); now the migration's keys stay within a few kilobytes however long it runs.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RedisMigrationStore } from '../../src/store/store.js';
import { startRedis, type RedisServer } from '../../src/sim/redis.js';
import { record, submitted, verdict } from './store-fixtures.js';

let server: RedisServer;
let redis: Redis;
beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
});
afterAll(async () => {
  await redis?.quit();
  await server?.close();
});

async function bytes(keys: string[]): Promise<number> {
  let total = 0;
  for (const k of keys) total += Number((await redis.call('MEMORY', 'USAGE', k, 'SAMPLES', '0')) ?? 0);
  return total;
}

it('a migration with 10,000 passing analyses stays within 32 KB of Redis memory', async () => {
  const store = new RedisMigrationStore(redis, '{mem}');
  const rec = record();
  await store.create(rec, submitted(1));
  const keys = [store.keys.migration(rec.id), store.keys.history(rec.id), store.keys.inbox(rec.id)];
  const perVerdict: number[] = [];
  let seq = 0;
  for (let i = 0; i < 10_000; i += 10) {
    const token = `t${seq}`;
    expect((await store.acquire(rec.id, seq, token, 5000, 'w', Date.now())).ok).toBe(true);
    const history = Array.from({ length: 10 }, (_, k) => verdict(10_000 * (i + k + 1), 25));
    seq = (
      await store.commit(rec.id, rec.namespace, {
        token,
        seq,
        fields: { phase: 'shifting', weight: '25' },
        inboxConsumed: 0,
        releaseSlot: false,
        history,
      })
    ).seq;
    await store.release(rec.id, token);
    if (i === 0) perVerdict.push(await bytes(keys));
  }
  const total = await bytes(keys);
  const entries = await store.history(rec.id);
  console.log(
    `10,000 passing analyses: ${entries.length} history entries, ${total} bytes ` +
      `(hash ${await bytes(keys.slice(0, 1))}, stream ${await bytes(keys.slice(1, 2))}); after the first 10: ${perVerdict[0]} bytes`,
  );
  expect(entries.map((e) => e.type)).toEqual(['submitted', 'verdict', 'verdict']);
  expect(entries[2]!.run).toEqual({ length: 10_000, since: 10_000 });
  expect(total).toBeLessThan(32 * 1024);
}, 120_000);
