/**
 * A guarded write: read the object, decide the JSON patch (with `test` ops that pin what the decision was based
 * on), check the caller's fence, send it; on a conflict or a transient failure re-read and decide again, with
 * capped jittered backoff, a bounded number of times. Cancellation stops it between and during attempts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterFailure, backoffDelay, type RetryPolicy } from './retry.js';

export type JsonPatchOp =
  { op: 'test'; path: string; value: unknown } | { op: 'replace' | 'add'; path: string; value: unknown };

export interface GuardedPatch<O> {
  /** What is being done, for the give-up message ("set weight 25 % on VirtualService shop/pcs"). */
  what: string;
  read(signal?: AbortSignal): Promise<O>;
  /** The patch that takes `current` where it should be, or null when it is there already. May throw to stop. */
  decide(current: O): JsonPatchOp[] | null;
  write(ops: JsonPatchOp[], signal?: AbortSignal): Promise<O>;
  policy: RetryPolicy;
  signal?: AbortSignal;
  /** Runs right before every write attempt (a fencing check); throwing stops the write. */
  beforeWrite?: () => Promise<void>;
  /** For tests: the jitter source and the wait. */
  random?: () => number;
  wait?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface GuardedPatchResult<O> {
  /** The object as written, or as read when nothing had to change. */
  object: O;
  wrote: boolean;
  attempts: number;
}

/** Every attempt failed with a retryable error. */
export class RetriesExhaustedError extends Error {
  constructor(
    message: string,
    readonly attempts: number,
    readonly last: unknown,
  ) {
    super(message);
    this.name = 'RetriesExhaustedError';
  }
}

const defaultWait = (ms: number, signal?: AbortSignal) =>
  sleep(ms, undefined, signal ? { signal } : {}).then(() => undefined);

export async function guardedPatch<O>(g: GuardedPatch<O>): Promise<GuardedPatchResult<O>> {
  const wait = g.wait ?? defaultWait;
  for (let attempt = 1; ; attempt++) {
    g.signal?.throwIfAborted();
    try {
      const current = await g.read(g.signal);
      const ops = g.decide(current);
      if (ops === null) return { object: current, wrote: false, attempts: attempt };
      await g.beforeWrite?.();
      g.signal?.throwIfAborted();
      return { object: await g.write(ops, g.signal), wrote: true, attempts: attempt };
    } catch (err) {
      const next = afterFailure(err, attempt, g.policy);
      if (next === 'fail') throw err;
      if (next === 'give-up')
        throw new RetriesExhaustedError(
          `gave up: ${g.what} after ${attempt} attempts: ${(err as Error).message}`,
          attempt,
          err,
        );
      await wait(backoffDelay(attempt, g.policy, g.random), g.signal);
    }
  }
}
