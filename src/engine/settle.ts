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
 * Resolves with the first snapshot at rest; rejects when the machine errors or one effect runs longer than
 * `timeoutMs` (the caller stops the actor, which aborts the effect's signal so it cannot write later). The clock
 * restarts for each effect (a step may run two back to back: an analysis that passes, then the next write).
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
    let timer: NodeJS.Timeout | undefined;
    let running: string | undefined;
    const check = (s: MigrationSnapshot) => {
      if (!isBusy(s)) return finish(() => resolve(s));
      const effect = JSON.stringify(s.value);
      if (effect === running) return;
      running = effect;
      clearTimeout(timer);
      timer = setTimeout(() => finish(() => reject(new EffectTimeoutError(id, timeoutMs))), timeoutMs);
      timer.unref?.();
    };
    held.sub = actor.subscribe({
      next: (s) => check(s as MigrationSnapshot),
      error: (err) => finish(() => reject(err instanceof Error ? err : new Error(String(err)))),
    });
    check(actor.getSnapshot() as MigrationSnapshot);
  });
}
