/**
 * What one decisions-bench run records from the engine's events: the weights it wrote and when, its phase, why it
 * paused, its last verdict and the largest evidence each check reached.
 */
import type { EngineEvent } from '../../src/engine/history.js';
import { recordEvidence, type MaxEvidence } from './ville.js';

type Finished = Extract<EngineEvent, { type: 'finished' }>;

export interface RunStateHooks {
  /** A weight was written (a rollback's too; `writes` counts them): the traffic model injects from its weight on. */
  onWeight(weight: number, at: number, writes: number): void;
  /** After every verdict, with its virtual instant. */
  onVerdict?(at: number): void;
}

export class RunState {
  weight = 0;
  phase = 'pending';
  finished: Finished | undefined;
  readonly weights: number[] = [];
  rollbackAt: number | undefined;
  promotedAt: number | undefined;
  lastVerdict = '';
  /** Why the migration paused (the judge's words: maxBake, missing evidence), for a run that ends paused. */
  pauseReason: string | undefined;
  readonly maxEvidence: MaxEvidence = {};

  constructor(private readonly hooks: RunStateHooks) {}

  /** The runner's `onEvent`. */
  readonly onEvent = (e: EngineEvent): void => {
    if (e.type === 'weight') {
      this.weight = e.weight;
      this.weights.push(e.weight);
      if (e.rollback) this.rollbackAt = e.at;
      else if (e.weight >= 100) this.promotedAt ??= e.at;
      this.hooks.onWeight(e.weight, e.at, this.weights.length);
    } else if (e.type === 'phase') {
      this.phase = e.phase;
      if (e.phase === 'paused' && e.reason) this.pauseReason = e.reason;
    } else if (e.type === 'verdict') {
      this.lastVerdict = `${e.verdict.outcome}: ${e.verdict.summary}`;
      recordEvidence(this.maxEvidence, e.verdict.checks);
      this.hooks.onVerdict?.(e.verdict.at);
    } else if (e.type === 'finished') this.finished = e;
  };

  /** The run's reason: the engine's final words, else why it paused, else its last verdict. */
  reason(outcome: string): string {
    return (
      this.finished?.reason ??
      (outcome === 'paused' ? this.pauseReason : undefined) ??
      this.lastVerdict
    ).slice(0, 800);
  }
}
