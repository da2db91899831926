/**
 * The engine's attempt deadline. Every effect that talks to the cluster (preflight, a weight write, a rollback
 * write, the mTLS step) is one *attempt*: the adapter may retry conflicts and blips inside it, but the whole
 * attempt is cut at this deadline, which always fits inside the effect timeout. A cut attempt is an ordinary
 * failed attempt for the machine (counted, recorded, retried with its capped backoff), never a cancelled effect
 * that fails the job and leaves its retry to the job queue.
 */

/** Default attempt deadline: two and a half Kubernetes call deadlines (10 s), so a hung call still gets a retry. */
export const DEFAULT_ATTEMPT_MS = 25_000;

/** Thrown by an effect whose attempt did not finish within the attempt deadline (it was cancelled). */
export class AttemptTimeoutError extends Error {
  constructor(
    what: string,
    readonly ms: number,
  ) {
    super(
      `${what}: no result within ${+(ms / 1000).toFixed(3)} s (the engine's attempt deadline); cancelled`,
    );
    this.name = 'AttemptTimeoutError';
  }
}

/**
 * The attempt deadline for an effect timeout: at most DEFAULT_ATTEMPT_MS, and at most half the effect timeout
 * (one engine step may run two effects back to back: START runs the preflight and the first write).
 */
export function attemptDeadline(effectTimeoutMs: number, wanted = DEFAULT_ATTEMPT_MS): number {
  return Math.max(1, Math.min(wanted, Math.floor(effectTimeoutMs / 2)));
}

/**
 * Runs `fn` with a signal that aborts when `signal` does or `ms` pass. Past the deadline it rejects with
 * AttemptTimeoutError at once (whatever `fn` does with the abort); the caller's own abort is rethrown as is.
 */
export async function withAttemptDeadline<T>(
  what: string,
  ms: number,
  signal: AbortSignal,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  signal.throwIfAborted();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new AttemptTimeoutError(what, ms)), ms);
  const forward = () => controller.abort(signal.reason);
  signal.addEventListener('abort', forward, { once: true });
  // Settles with the abort's reason at once, whether or not `fn` honours its signal.
  const aborted = new Promise<never>((_, reject) => {
    controller.signal.addEventListener('abort', () => reject(controller.signal.reason as Error), {
      once: true,
    });
  });
  const run = fn(controller.signal);
  try {
    return await Promise.race([run, aborted]);
  } catch (err) {
    throw controller.signal.aborted ? (controller.signal.reason as Error) : err;
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', forward);
    run.catch(() => undefined);
    aborted.catch(() => undefined);
  }
}
