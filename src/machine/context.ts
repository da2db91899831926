/** Pure helpers over the machine's context: steps, deadlines, judgements and the context updates they cause. */
import { freshMemory, judge, nextStep, type Decision, type JudgeMemory } from '../gate/judge.js';
import type { Verdict } from '../gate/types.js';
import type { MigrationContext, MigrationInput, RollbackCause } from './types.js';

type Ctx = MigrationContext;

/** Backoff for writes that must land (rollback, mTLS): 1 s, 2 s, 4 s … capped at 30 s. */
export const RETRY_BASE_MS = 1_000;
export const RETRY_CAP_MS = 30_000;
export const retryDelay = (attempts: number) =>
  Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** Math.max(0, attempts - 1));

/** Default of policy writeFailureGrace: how long a failing forward write holds before the migration pauses. */
export const WRITE_FAILURE_GRACE_MS = 10 * 60_000;

/**
 * A forward write refused for a reason that will not pass by trying again: the API said no (403, 404, any 4xx
 * but a conflict, a request timeout (408) or throttling (429)) or the route cannot be shifted (RouteError). Drift is its own
 * case. Everything else — no answer, 429, 5xx, conflicts that did not settle, the attempt deadline — is an
 * infrastructure failure: the weight is held and the write retried.
 */
export function writeRefused(err: unknown): boolean {
  const e = err as { name?: string; code?: number; message?: string } | undefined;
  if (e?.name === 'RouteError') return true;
  if (e?.name !== 'KubeApiError' || typeof e.code !== 'number') return false;
  const conflict =
    e.code === 409 || (e.code === 422 && /test|precondition|resourceVersion/i.test(e.message ?? ''));
  return e.code >= 400 && e.code < 500 && e.code !== 408 && e.code !== 429 && !conflict;
}

/** Preflight attempts (1 s, 2 s, 4 s apart) while only evidence is missing (no traffic seen yet) before it ends the migration. */
export const PREFLIGHT_ATTEMPTS = 4;

/** mTLS tightening attempts before the failure is reported and the migration completes without it. */
export const MTLS_ATTEMPTS = 5;

export function initialContext(input: MigrationInput): Ctx {
  return {
    config: input.config,
    stepIndex: -1,
    weight: 0,
    initialWeight: 0,
    now: input.now,
    judge: freshMemory(),
    inherited: false,
    analyses: 0,
    approvedWeights: [],
    forceNextWrite: false,
  };
}

export const currentStepWeight = (c: Ctx) => c.config.steps[c.stepIndex] ?? c.weight;
export const isLastStep = (c: Ctx) => c.stepIndex >= c.config.steps.length - 1;
export const analysisDue = (c: Ctx, now: number) =>
  c.weight > 0 && (c.lastAnalysisAt === undefined || now - c.lastAnalysisAt >= c.config.intervalMs);
export const needsApproval = (c: Ctx) =>
  !c.inherited &&
  c.config.approvals.includes(currentStepWeight(c)) &&
  !c.approvedWeights.includes(currentStepWeight(c));

/** Index of the first step above a weight (a half-done migration continues upward). */
export function firstStepAbove(steps: number[], weight: number): number {
  const i = steps.findIndex((w) => w > weight);
  return i === -1 ? steps.length - 1 : i;
}

type Judgement = { memory: JudgeMemory; decision: Decision };

/**
 * The last judgement of each verdict, with the context and `guarding` it was made in. An analysis' result is
 * judged by every guard of its transition (rollback? pause? advance?) and again by the action that records it,
 * all with the same verdict object (the actor's output) and the same context object (xstate v5 never mutates a
 * context: an assign makes a new one), so the judge runs once per analysis. A cache of a pure function: the
 * machine stays pure, and a verdict that is gone takes its entry with it.
 */
const judgements = new WeakMap<Verdict, { context: Ctx; guarding: boolean; judgement: Judgement }>();

/** The judge's view of a verdict at the current step. `guarding`: a held weight, only a rollback can follow. */
export function judgement(c: Ctx, v: Verdict, guarding: boolean): Judgement {
  const last = judgements.get(v);
  if (last && last.context === c && last.guarding === guarding) return last.judgement;
  const made = judgeNow(c, v, guarding);
  judgements.set(v, { context: c, guarding, judgement: made });
  return made;
}

function judgeNow(c: Ctx, v: Verdict, guarding: boolean): Judgement {
  return judge(c.config, c.judge, v, {
    startedAt: c.stepStartedAt ?? c.now,
    weight: c.weight,
    guarding,
    ...(c.stepIndex > 0 && !c.inherited ? { previousWeight: c.config.steps[c.stepIndex - 1] } : {}),
    // An inherited weight has been serving for a while: one fresh pass decides, and no window is free.
    ...(c.inherited ? { bakeMs: 0, settledAt: c.stepStartedAt ?? c.now } : {}),
  });
}

/** Context update that records a verdict and the judge's memory after it. */
export function recordVerdict(c: Ctx, v: Verdict, memory: JudgeMemory): Partial<Ctx> {
  const { sample: _sample, ...light } = v; // keep the persisted snapshot small: numbers live in the checks
  return {
    lastVerdict: light,
    // The analysis is dated by the TICK that started it, not by when Prometheus answered: otherwise every
    // analysis drifts later by the query time and an aligned scheduler skips a whole interval.
    lastAnalysisAt: c.now,
    now: Math.max(c.now, v.at),
    analyses: c.analyses + 1,
    judge: memory,
    error: undefined,
  };
}

/** Context update for the start of the next step (after a pass, a PROMOTE or an approval). */
export function toNextStep(c: Ctx, approved: boolean): Partial<Ctx> {
  return {
    stepIndex: c.inherited ? firstStepAbove(c.config.steps, c.weight) : c.stepIndex + 1,
    inherited: false,
    judge: nextStep(c.judge),
    ...(approved ? { approvedWeights: [...c.approvedWeights, currentStepWeight(c)] } : {}),
  };
}

export function rollbackOf(
  cause: RollbackCause,
  reason: string,
  at: number,
  by?: string,
): NonNullable<Ctx['rollback']> {
  return { cause, reason, at, ...(by ? { by } : {}), attempts: 0, retryAt: at };
}

export const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));
