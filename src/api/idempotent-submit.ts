/**
 * Idempotency-Key for `POST /v1/migrations`: a retried submission (its first request timed out or got a 503)
 * returns the migration the first one created instead of creating a second one.
 *
 * The key is reserved (SET NX, a short "in progress" marker) before the plan is stored and replaced by the answer
 * once it is, so a retry racing the first request is told to wait (409) rather than creating a duplicate. A
 * submission that fails releases the key; a process that dies mid-submission leaves a marker that expires.
 */
import { createHash } from 'node:crypto';
import { StoreKeys } from '../store/keys.js';
import type { RedisClient } from '../store/redis-connection.js';
import { IDEMPOTENCY_TTL_MS, IdempotencyConflictError } from '../store/command-deadline.js';

const PENDING_TTL_MS = 10_000; // a handler outlives its 2 s answer budget by a few 1 s Redis timeouts at most
const PENDING = '';

export interface SubmitSlot {
  key: string;
  fingerprint: string;
}

export type Reservation = { state: 'new' } | { state: 'pending' } | { state: 'done'; answer: string };

/** The slot for a caller's key; the fingerprint is the plan text, so another plan under the same key is refused. */
export function submitSlot(prefix: string, caller: string, key: string, body: string): SubmitSlot {
  const h = (s: string) => createHash('sha256').update(s).digest('hex');
  return { key: new StoreKeys(prefix).submitIdempotency(caller, key), fingerprint: h(body) };
}

export async function reserve(redis: RedisClient, slot: SubmitSlot): Promise<Reservation> {
  const ok = await redis.set(slot.key, `${slot.fingerprint}\n${PENDING}`, 'PX', PENDING_TTL_MS, 'NX');
  if (ok === 'OK') return { state: 'new' };
  const prev = await redis.get(slot.key);
  if (prev === null) return reserve(redis, slot); // expired in between
  const sep = prev.indexOf('\n');
  if (prev.slice(0, sep) !== slot.fingerprint) throw new IdempotencyConflictError();
  const answer = prev.slice(sep + 1);
  return answer === PENDING ? { state: 'pending' } : { state: 'done', answer };
}

export async function complete(redis: RedisClient, slot: SubmitSlot, answer: string): Promise<void> {
  await redis.set(slot.key, `${slot.fingerprint}\n${answer}`, 'PX', IDEMPOTENCY_TTL_MS);
}

export async function release(redis: RedisClient, slot: SubmitSlot): Promise<void> {
  await redis.del(slot.key);
}
