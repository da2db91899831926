/** A migration's step as people read it (pure, no imports: the dashboard bundle, the controller's status and tests use it). */

interface StepSource {
  phase: string;
  weight: number;
  steps: readonly number[];
  stepsReached?: number;
}

const ENDED_BACK: Record<string, string> = {
  rolledBack: 'rolled back',
  rollingBack: 'rolling back',
  aborted: 'aborted',
  failed: 'failed',
};

/**
 * `3/6` for the step being applied or held; after a rollback the step it was rolled back from, said so:
 * `2/6 (rolled back)`. Views without `stepsReached` count the steps at or below the weight.
 */
export function stepLabel(m: StepSource): string {
  const reached = m.stepsReached ?? m.steps.filter((s) => s <= m.weight).length;
  const why = ENDED_BACK[m.phase];
  return `${reached}/${m.steps.length}${why ? ` (${why})` : ''}`;
}
