/** When a guarded write tries again, and how long it waits first. Pure. */
import { isConflict, isRetryable } from './errors.js';

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** Delay scale: the n-th retry waits about baseDelayMs · 2ⁿ. */
  baseDelayMs: number;
  /** Cap on one delay. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 6, baseDelayMs: 25, maxDelayMs: 1000 };

export function retryPolicy(overrides: Partial<RetryPolicy> = {}): RetryPolicy {
  const p = { ...DEFAULT_RETRY, ...overrides };
  if (!Number.isInteger(p.maxAttempts) || p.maxAttempts < 1)
    throw new RangeError(`maxAttempts must be an integer ≥ 1, got ${p.maxAttempts}`);
  if (!(p.baseDelayMs >= 0) || !(p.maxDelayMs >= p.baseDelayMs))
    throw new RangeError(
      `retry delays must satisfy 0 ≤ baseDelayMs ≤ maxDelayMs, got ${p.baseDelayMs} and ${p.maxDelayMs}`,
    );
  return p;
}

/**
 * The wait after failed attempt `attempt` (1-based): exponential, capped at maxDelayMs, with "equal jitter"
 * (uniform in [d/2, d]) so that writers who collided do not collide again in lockstep.
 */
export function backoffDelay(
  attempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const d = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return d / 2 + (d / 2) * random();
}

/**
 * Whether a failed attempt is worth another one after re-reading: the object changed under us (409, or 422 from
 * a failed `test` op), no answer (network error or deadline), throttling (429) or a server error (5xx).
 * Everything else (403, 404, a validation 422, drift, an abort) is final.
 */
export const shouldRetry = (err: unknown): boolean => isConflict(err) || isRetryable(err);

export type AttemptOutcome = 'retry' | 'give-up' | 'fail';

/** What to do after attempt `attempt` failed with `err`. */
export function afterFailure(err: unknown, attempt: number, policy: RetryPolicy): AttemptOutcome {
  if (!shouldRetry(err)) return 'fail';
  return attempt < policy.maxAttempts ? 'retry' : 'give-up';
}
