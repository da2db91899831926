/**
 * Commands carry a deadline, so a command whose HTTP request failed is never applied later.
 *
 * The API gives every command a deadline a little shorter than its own answer budget. The push is one Lua script
 * (`lua/command-push.lua`) that reads Redis' own clock (`TIME`): a push that reaches Redis after its deadline (it
 * sat in a socket while Redis was paused, or in a client queue while Redis was down) stores nothing, and a stored
 * command is stamped with `storedAt`. The worker drops any command stored after its deadline (`commandExpired`),
 * as a second guard.
 *
 * An `Idempotency-Key` makes retries safe: the first push records its answer under the key (same script, same
 * slot), a retry with the same key gets that answer back without pushing again, and a retry of a different
 * request with the same key is refused.
 */
import { createHash } from 'node:crypto';
import type { RedisClient } from './redis-connection.js';
import { scripts } from './scripts.js';

export interface DeadlineFields {
  /** When the request asked for it (the API's clock). */
  at: number;
  /** Epoch ms by which Redis must have stored it; absent on commands from before deadlines existed. */
  deadline?: number;
  /** Epoch ms (Redis' clock) when it was stored. */
  storedAt?: number;
}

/** True when the worker must drop the command: it reached Redis after its deadline, when its request had failed. */
export function commandExpired(cmd: DeadlineFields, now: number): boolean {
  void now; // an accepted command is never dropped for its age: the API answered 202 for it
  return cmd.deadline !== undefined && cmd.storedAt !== undefined && cmd.storedAt > cmd.deadline;
}

export interface PushOptions {
  deadline: number;
  /** Redis key holding the idempotent answer (same hash tag as the inbox), with its fingerprint. */
  idempotency?: { key: string; fingerprint: string; answer: string; ttlMs: number };
}

export type PushResult =
  | { outcome: 'queued'; length: number; storedAt: number }
  | { outcome: 'expired'; now: number }
  | { outcome: 'duplicate'; answer: string }
  | { outcome: 'conflict' };

/** Pushes a command (a JSON object) to an inbox unless its deadline has passed on Redis' clock. */
export async function pushWithDeadline(
  redis: RedisClient,
  inboxKey: string,
  command: Record<string, unknown>,
  o: PushOptions,
): Promise<PushResult> {
  const deadline = storeDeadline(redis, o.deadline);
  const json = JSON.stringify({ ...command, deadline });
  const keys = o.idempotency ? [inboxKey, o.idempotency.key] : [inboxKey];
  const args = o.idempotency
    ? [
        json,
        String(deadline),
        digest(o.idempotency.fingerprint),
        o.idempotency.answer,
        String(o.idempotency.ttlMs),
      ]
    : [json, String(deadline)];
  const r = (await scripts.commandPush.run(redis, keys, args)) as string[];
  if (r[0] === 'queued') return { outcome: 'queued', length: Number(r[1]), storedAt: Number(r[2]) };
  if (r[0] === 'expired') return { outcome: 'expired', now: Number(r[1]) };
  if (r[0] === 'duplicate') return { outcome: 'duplicate', answer: r[1] ?? '' };
  return { outcome: 'conflict' };
}

/**
 * A deadline no later than the moment this client gives up on a command sent now (its command timeout, less a
 * margin): a command that times out here — the API then answers 503 — can only reach Redis after its deadline.
 */
export function storeDeadline(redis: unknown, deadline: number, now = Date.now()): number {
  const o = (redis as { options?: { commandTimeout?: number; redisOptions?: { commandTimeout?: number } } })
    .options;
  const timeout = o?.commandTimeout ?? o?.redisOptions?.commandTimeout;
  return timeout ? Math.min(deadline, now + Math.max(50, timeout - 100)) : deadline;
}

/** A submission reached Redis after its deadline: nothing was stored; the client may retry. */
export class SubmissionExpiredError extends Error {
  constructor() {
    super(
      'the submission reached Redis after its deadline and was not stored (no migration was created): retry',
    );
    this.name = 'SubmissionExpiredError';
  }
}

/** Fingerprints are stored hashed: fixed length, no separator inside. */
const digest = (s: string) => createHash('sha256').update(s).digest('hex');

/** Idempotency-Key header: 1–255 visible ASCII characters. Returns an error message or undefined. */
export function checkIdempotencyKey(value: string): string | undefined {
  if (!/^[\x21-\x7e]{1,255}$/.test(value))
    return 'Idempotency-Key must be 1 to 255 visible ASCII characters (e.g. a UUID)';
  return undefined;
}

/** How long an API command may take to reach Redis (the API answers within its 2 s budget, leaving a margin). */
export const COMMAND_STORE_BUDGET_MS = 1500;
/** How long an Idempotency-Key's answer is kept. */
export const IDEMPOTENCY_TTL_MS = 24 * 3600_000;

/** What the API knows about a command request beyond the command itself. */
export interface CommandRequest {
  /** Epoch ms (real time) by which Redis must store the command; default now + COMMAND_STORE_BUDGET_MS. */
  deadline?: number;
  idempotencyKey?: string;
}

/** The command reached Redis too late: nothing was stored; the client may retry (safely with an Idempotency-Key). */
export class CommandExpiredError extends Error {
  constructor() {
    super('the command reached Redis after its deadline and was not queued: retry (with an Idempotency-Key)');
    this.name = 'CommandExpiredError';
  }
}

/** The Idempotency-Key was used before for a different request. */
export class IdempotencyConflictError extends Error {
  constructor() {
    super('this Idempotency-Key was already used for a different command: use a new key for a new request');
    this.name = 'IdempotencyConflictError';
  }
}

export interface IdempotencySlot {
  key: string;
  fingerprint: string;
}

/** The stored answer of an earlier request with this key (a retry), or undefined; throws on a different request. */
export async function replayed<T>(
  read: (key: string) => Promise<string | null>,
  slot: IdempotencySlot,
): Promise<T | undefined> {
  const prev = await read(slot.key);
  if (prev === null) return undefined;
  const sep = prev.indexOf('\n');
  if (prev.slice(0, sep) !== digest(slot.fingerprint)) throw new IdempotencyConflictError();
  return JSON.parse(prev.slice(sep + 1)) as T;
}

/** Turns a push result into the answer to send, or the error to throw. */
export function pushAnswer<T>(r: PushResult, answer: T): T {
  if (r.outcome === 'expired') throw new CommandExpiredError();
  if (r.outcome === 'conflict') throw new IdempotencyConflictError();
  if (r.outcome === 'duplicate') return JSON.parse(r.answer) as T;
  return answer;
}
