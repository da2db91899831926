/** Waiting for a migration actor to come to rest: no invoked effect in flight (the `busy` tag is gone). */
import type { Actor, AnyStateMachine } from 'xstate';
import { isBusy, type MigrationSnapshot } from './vocabulary.js';

export class EffectTimeoutError extends Error {
  constructor(id: string, ms: number) {
    super(`migration ${id}: an effect did not finish within ${ms} ms; it was cancelled`);
    this.name = 'EffectTimeoutError';
  }
}

/**
 * Resolves with the first snapshot at rest; rejects when the machine errors or an effect runs longer than
 * `timeoutMs` (the caller stops the actor, which aborts the effect's signal so it cannot write later).
 */
export function settle<M extends AnyStateMachine>(
  actor: Actor<M>,
  timeoutMs: number,
  id: string,
): Promise<MigrationSnapshot> {
  return new Promise((resolve, reject) => {
    let done = false;
    const held: { sub?: { unsubscribe(): void } } = {};
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      held.sub?.unsubscribe();
      fn();
    };
    const timer = setTimeout(() => finish(() => reject(new EffectTimeoutError(id, timeoutMs))), timeoutMs);
    timer.unref?.();
    const check = (s: MigrationSnapshot) => {
      if (!isBusy(s)) finish(() => resolve(s));
    };
    held.sub = actor.subscribe({
      next: (s) => check(s as MigrationSnapshot),
      error: (err) => finish(() => reject(err instanceof Error ? err : new Error(String(err)))),
    });
    check(actor.getSnapshot() as MigrationSnapshot);
  });
}
