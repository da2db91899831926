/**
 * The migration machine's vocabulary of effects, guards and actions (xstate `setup()`): every guard and action is
 * named, and the states in `migration.ts` refer to them by name. Pure: effects are placeholders a driver provides.
 */
import { and, assign, fromPromise, not, setup, stateIn } from 'xstate';
import type { Decision } from '../gate/judge.js';
import { nextStep, resumed } from '../gate/judge.js';
import type { Verdict } from '../gate/types.js';
import { unavailableVerdict } from '../gate/checks/verdict.js';
import {
  MTLS_ATTEMPTS,
  PREFLIGHT_ATTEMPTS,
  WRITE_FAILURE_GRACE_MS,
  analysisDue,
  currentStepWeight,
  errorText,
  firstStepAbove,
  isLastStep,
  judgement,
  needsApproval,
  recordVerdict,
  retryDelay,
  rollbackOf,
  toNextStep,
  writeRefused,
} from './context.js';
import type { PreflightRetry } from '../mesh/types.js';
import type {
  AnalyzeInput,
  MigrationContext,
  MigrationEvent,
  MigrationInput,
  PreflightOutput,
  RollbackInput,
  RollbackOutput,
  SecureOutput,
  SetWeightInput,
  SetWeightOutput,
} from './types.js';

/**
 * The retry decision a failed preflight carries (made by `preflightRetry`, mesh/types.ts, and only there). Any
 * other error means the preflight could not run: waited out.
 */
function preflightRetryOf(event: unknown): PreflightRetry {
  const err = (event as { error?: { name?: string; retry?: PreflightRetry } }).error;
  return err?.name === 'PreflightError' ? (err.retry ?? 'stop') : 'wait';
}

/** Placeholders: a driver supplies real effects with `machine.provide({ actors })` (engine/effects.ts). */
const notProvided = <O, I>(name: string) =>
  fromPromise<O, I>(async () => {
    throw new Error(`actor "${name}" was not provided to the migration machine`);
  });

export type Judged = { verdict: Verdict; guarding: boolean };
/** A decision of the judge, optionally together with where the migration stands (last step, gate ahead). */
export type Wants = Judged & { kind: Decision['kind']; when?: 'lastStep' | 'approval' };

export const machineSetup = setup({
  types: {
    context: {} as MigrationContext,
    events: {} as MigrationEvent,
    input: {} as MigrationInput,
    tags: {} as 'busy' | 'guarding' | 'terminal',
  },
  actors: {
    preflight: notProvided<PreflightOutput, Record<string, never>>('preflight'),
    setWeight: notProvided<SetWeightOutput, SetWeightInput>('setWeight'),
    analyze: notProvided<Verdict, AnalyzeInput>('analyze'),
    rollback: notProvided<RollbackOutput, RollbackInput>('rollback'),
    secure: notProvided<SecureOutput, Record<string, never>>('secure'),
  },
  guards: {
    /** No forward write is in flight or held for a retry (PROMOTE waits; ABORT goes through a rollback). */
    notWriting: and([not(stateIn({ shifting: 'applying' })), not(stateIn({ shifting: 'writeHeld' }))]),
    notRollingBack: not(stateIn('rollingBack')),
    onLastStep: ({ context }) => isLastStep(context),
    /** Nothing meshshift wrote is in the cluster: an ABORT ends without a write. */
    nothingToUndo: ({ context }) => context.weight === 0,
    analysisDue: ({ context, event }) => event.type === 'TICK' && analysisDue(context, event.at),
    retryDue: ({ context, event }) =>
      event.type === 'TICK' &&
      event.at >=
        (context.rollback?.retryAt ?? context.securing?.retryAt ?? context.preflightRetry?.retryAt ?? 0),
    /** Preflight could not run (API or Prometheus unavailable), as opposed to finding something wrong. */
    preflightTransient: ({ event }) => preflightRetryOf(event) === 'wait',
    /** Only evidence is missing (no traffic seen yet): a few more tries. Something found wrong ends it at once. */
    preflightAttemptsLeft: ({ context, event }) =>
      preflightRetryOf(event) === 'confirm' &&
      (context.preflightRetry?.attempts ?? 0) + 1 < PREFLIGHT_ATTEMPTS,
    mtlsOff: ({ context }) => !context.config.tightenMtls,
    mtlsAttemptsLeft: ({ context }) => (context.securing?.attempts ?? 0) + 1 < MTLS_ATTEMPTS,
    decides: ({ context }, p: Wants) =>
      judgement(context, p.verdict, p.guarding).decision.kind === p.kind &&
      (p.when !== 'lastStep' || isLastStep(context)) &&
      (p.when !== 'approval' || needsApproval(context)),
    isAbort: ({ context }) => context.rollback?.cause === 'abort',
    isDrift: ({ event }) => (event as { error?: { name?: string } }).error?.name === 'DriftError',
    writeRefused: ({ event }) => writeRefused((event as { error?: unknown }).error),
    writeRetryDue: ({ context, event }) =>
      event.type === 'TICK' && event.at >= (context.writeHold?.retryAt ?? 0),
    writeGraceOver: ({ context, event }) =>
      event.type === 'TICK' &&
      context.writeHold !== undefined &&
      event.at - context.writeHold.since >= (context.config.writeFailureGraceMs ?? WRITE_FAILURE_GRACE_MS),
  },
  actions: {
    stampNow: assign(({ context, event }) =>
      'at' in event && typeof event.at === 'number' ? { now: Math.max(context.now, event.at) } : {},
    ),
    markStarted: assign(({ context }) => ({ startedAt: context.now })),
    recordAbort: assign(({ context, event }) => {
      if (event.type !== 'ABORT') return {};
      const at = Math.max(context.now, event.at);
      return { now: at, rollback: rollbackOf('abort', event.reason ?? 'aborted', at, event.by) };
    }),
    pauseByOperator: assign(({ context, event }) => {
      if (event.type !== 'PAUSE') return {};
      return {
        now: Math.max(context.now, event.at),
        pauseReason: `paused by ${event.by ?? 'operator'}${event.reason ? `: ${event.reason}` : ''}`,
      };
    }),
    resume: assign(({ context }) => ({
      pauseReason: undefined,
      writeHold: undefined,
      judge: resumed(context.judge),
    })),
    promote: assign(({ context }) => toNextStep(context, true)),
    advance: assign(({ context }) => toNextStep(context, false)),
    recordJudged: assign(({ context }, p: Judged) =>
      recordVerdict(context, p.verdict, judgement(context, p.verdict, p.guarding).memory),
    ),
    rollBackOnVerdict: assign(({ context }, p: Judged) => {
      const { memory, decision } = judgement(context, p.verdict, p.guarding);
      const cause = decision.kind === 'rollback' ? decision.cause : 'regression';
      const reason = decision.kind === 'rollback' ? decision.reason : p.verdict.summary;
      return {
        ...recordVerdict(context, p.verdict, memory),
        rollback: rollbackOf(cause, reason, p.verdict.at),
      };
    }),
    /** Back one step, with the judge's reason; the evidence at 100 % is set aside from now on. */
    stepBack: assign(({ context }, p: Judged) => {
      const { memory, decision } = judgement(context, p.verdict, p.guarding);
      const reason = decision.kind === 'stepBack' ? decision.reason : p.verdict.summary;
      const from = context.stepStartedAt ?? p.verdict.at;
      return {
        ...recordVerdict(context, p.verdict, nextStep(memory)),
        stepIndex: Math.max(0, context.stepIndex - 1),
        stepBack: { reason, at: p.verdict.at, setAside: { from, to: Math.max(from, p.verdict.at) } },
      };
    }),
    pauseOnVerdict: assign(({ context }, p: Judged) => {
      const { memory, decision } = judgement(context, p.verdict, p.guarding);
      return {
        ...recordVerdict(context, p.verdict, memory),
        pauseReason: decision.kind === 'pause' ? decision.reason : p.verdict.summary,
      };
    }),
    /** The analysis actor itself failed (it normally turns errors into inconclusive verdicts). */
    analysisFailed: assign(({ context, event }, p: { guarding: boolean }) => {
      const v = unavailableVerdict(
        context.now,
        context.weight,
        errorText((event as { error?: unknown }).error),
      );
      return { ...recordVerdict(context, v, judgement(context, v, p.guarding).memory) };
    }),
    stepWritten: assign(({ context }, p: SetWeightOutput) => ({
      // A step back's set-aside evidence runs until the lower weight is in place.
      ...(context.stepBack && p.weight < context.weight && context.stepBack.setAside.to < p.at
        ? { stepBack: { ...context.stepBack, setAside: { ...context.stepBack.setAside, to: p.at } } }
        : {}),
      weight: p.weight,
      now: Math.max(context.now, p.at),
      stepStartedAt: p.at,
      // The first analysis of a step waits one interval so the window sees the new weight.
      lastAnalysisAt: p.at,
      forceNextWrite: false,
      writeHold: undefined,
    })),
    /** A forward write failed for infrastructure reasons: hold the weight, retry with capped backoff. */
    writeFailed: assign(({ context, event }) => {
      const attempts = (context.writeHold?.attempts ?? 0) + 1;
      return {
        writeHold: {
          since: context.writeHold?.since ?? context.now,
          weight: currentStepWeight(context),
          attempts,
          // Dated from the failed attempt's start: the next one starts at most 30 s after it.
          retryAt: context.now + retryDelay(attempts),
          lastError: errorText((event as { error?: unknown }).error),
        },
      };
    }),
    pauseOnWriteFailure: assign(({ context }) => {
      const h = context.writeHold!;
      const ms = context.now - h.since;
      const took = ms < 120_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`;
      return {
        now: context.now,
        pauseReason: `weight write to ${h.weight} % failing for ${took} (${h.attempts} attempts; last: ${h.lastError ?? 'unknown error'}); holding at ${context.weight} % — RESUME to try again, ABORT to roll back`,
        writeHold: undefined,
      };
    }),
    refuseWrite: assign(({ context, event }) => ({
      pauseReason: `weight write to ${currentStepWeight(context)} % refused: ${errorText((event as { error?: unknown }).error)} — trying again will not help; fix it and RESUME, or ABORT to roll back`,
      writeHold: undefined,
    })),
    preflightDone: assign(({ context }, p: PreflightOutput) => ({
      now: Math.max(context.now, p.at),
      initialWeight: p.initialWeight,
      weight: p.initialWeight,
      selectors: p.selectors,
      stepIndex: firstStepAbove(context.config.steps, p.initialWeight),
    })),
    /** A weight found in the cluster is judged before anything grows: observe it as if just written. */
    inheritWeight: assign(({ context }) => ({
      inherited: true,
      stepIndex: firstStepAbove(context.config.steps, context.weight) - 1,
      stepStartedAt: context.now,
      lastAnalysisAt: context.now,
    })),
    rollbackWritten: assign(({ context }, p: RollbackOutput) => ({
      weight: 0,
      now: Math.max(context.now, p.at),
    })),
    rollbackFailed: assign(({ context, event }) => {
      const attempts = (context.rollback?.attempts ?? 0) + 1;
      return {
        rollback: {
          ...context.rollback!,
          attempts,
          retryAt: context.now + retryDelay(attempts),
          lastError: errorText((event as { error?: unknown }).error),
        },
      };
    }),
    preflightFailed: assign(({ context, event }) => {
      const attempts = (context.preflightRetry?.attempts ?? 0) + 1;
      const lastError = errorText((event as { error?: unknown }).error);
      return { preflightRetry: { attempts, retryAt: context.now + retryDelay(attempts), lastError } };
    }),
    mtlsFailed: assign(({ context, event }) => {
      const attempts = (context.securing?.attempts ?? 0) + 1;
      const lastError = errorText((event as { error?: unknown }).error);
      return { securing: { attempts, retryAt: context.now + retryDelay(attempts), lastError } };
    }),
    mtlsGaveUp: assign(({ context, event }) => ({
      mtls: `mTLS not tightened after ${MTLS_ATTEMPTS} attempts: ${errorText((event as { error?: unknown }).error)} — traffic stays on the target; tighten the PeerAuthentication by hand`,
      securing: { ...(context.securing ?? { retryAt: context.now }), attempts: MTLS_ATTEMPTS },
    })),
  },
});
