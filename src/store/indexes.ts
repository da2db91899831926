/**
 * Builds the live and finished indexes and the phase counts for migrations stored before they existed (an
 * upgrade): once per prefix, marked by `{p}:indexes` = version. Optimistic (WATCH): a migration created while
 * the indexes are built makes the build start again, so none is left out.
 */
import type { Redis } from 'ioredis';
import { isTerminalPhase } from '../engine/vocabulary.js';
import { isMigrationId, type StoreKeys } from './keys.js';

export const INDEX_VERSION = '2';

export async function ensureIndexes(redis: Redis, keys: StoreKeys): Promise<void> {
  for (let attempt = 0; attempt < 10; attempt++) {
    await redis.watch(keys.indexVersion, keys.index);
    if ((await redis.get(keys.indexVersion)) === INDEX_VERSION) {
      await redis.unwatch();
      return;
    }
    if (await rebuild(redis, keys)) return; // null from EXEC: a migration was created meanwhile; again
  }
  throw new Error(`could not build the Redis indexes of ${keys.prefix}: the migrations index kept changing`);
}

async function rebuild(redis: Redis, keys: StoreKeys): Promise<boolean> {
  const ids = (await redis.zrange(keys.index, 0, -1, 'WITHSCORES')).reduce<Array<[string, string]>>(
    (acc, v, i, all) => (i % 2 === 0 ? [...acc, [v, all[i + 1]!]] : acc),
    [],
  );
  const tx = redis.multi().del(keys.live, keys.finished, keys.phases);
  for (const [id, createdAt] of ids) {
    if (!isMigrationId(id)) continue;
    const [phase, updatedAt] = await redis.hmget(keys.migration(id), 'phase', 'updatedAt');
    if (!phase) continue;
    tx.hincrby(keys.phases, phase, 1);
    if (isTerminalPhase(phase)) tx.zadd(keys.finished, Number(updatedAt ?? createdAt), id);
    else tx.zadd(keys.live, createdAt, id);
  }
  return (await tx.set(keys.indexVersion, INDEX_VERSION).exec()) !== null;
}
