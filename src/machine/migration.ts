/**
 * The migration state machine (xstate v5). Pure: every effect is an injected actor, time arrives in events,
 * every judgement of evidence is the gate's (`gate/judge.ts`); the machine acts on advance / hold / pause / roll back.
 *
 *   pending ─START→ preflight ─ok→ shifting ──last step baked→ securing ─→ completed
 *                       │ fail          │ applying → observing ⇄ analyzing
 *                       ▼               │      ↘ awaitingApproval ─PROMOTE→ applying (next step)
 *                     failed            │ PAUSE / drift / inconclusive
 *                                       ▼
 *                                    paused (still guarding: analyses go on, a failure still rolls back)
 *   ABORT (anywhere, declared once) / regression / write error → rollingBack → rolledBack | aborted
 *   rollingBack: due ─TICK→ writing ─fail→ due (capped backoff, forever: a decided rollback is never dropped)
 *
 * Deadlines are *not* xstate `after` timers (they are not persisted, xstate#5331): the context stores
 * timestamps and the driver sends TICK events; `engine/vocabulary.ts` tells it when the next one is useful.
 * Tags: `busy` (an effect is running), `guarding` (a held weight is still analysed), `terminal`.
 */
import { and, assign, fromPromise, not, setup, stateIn } from 'xstate';
import type { Decision } from '../gate/judge.js';
import { resumed } from '../gate/judge.js';
import type { Verdict } from '../gate/types.js';
import { unavailableVerdict } from '../gate/verdict.js';
import {
  MTLS_ATTEMPTS,
  analysisDue,
  currentStepWeight,
  errorText,
  firstStepAbove,
  initialContext,
  isLastStep,
  judgement,
  needsApproval,
  recordVerdict,
  retryDelay,
  rollbackOf,
  toNextStep,
} from './context.js';
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

/** Placeholders: a driver supplies real effects with `machine.provide({ actors })` (engine/effects.ts). */
const notProvided = <O, I>(name: string) =>
  fromPromise<O, I>(async () => {
    throw new Error(`actor "${name}" was not provided to the migration machine`);
  });

type Ctx = MigrationContext;
type Judged = { verdict: Verdict; guarding: boolean };
/** A decision of the judge, optionally together with where the migration stands (last step, gate ahead). */
type Wants = Judged & { kind: Decision['kind']; when?: 'lastStep' | 'approval' };

const analyzeInput = ({ context }: { context: Ctx }): AnalyzeInput => ({
  weight: context.weight,
  selectors: context.selectors!,
  ...(context.stepStartedAt !== undefined ? { stepStartedAt: context.stepStartedAt } : {}),
});

/** A held weight (paused, awaiting approval) is still analysed; only a rollback can come out of it. */
const guardingStates = {
  initial: 'holding' as const,
  states: {
    holding: {
      on: {
        TICK: { guard: 'analysisDue' as const, target: 'guarding' as const, actions: 'stampNow' as const },
      },
    },
    guarding: {
      tags: ['busy' as const],
      invoke: {
        src: 'analyze' as const,
        input: analyzeInput,
        onDone: [
          {
            guard: {
              type: 'decides' as const,
              params: ({ event }: { event: { output: Verdict } }) =>
                ({ verdict: event.output, guarding: true, kind: 'rollback' }) as Wants,
            },
            target: '#migration.rollingBack',
            actions: {
              type: 'rollBackOnVerdict' as const,
              params: ({ event }: { event: { output: Verdict } }) => ({
                verdict: event.output,
                guarding: true,
              }),
            },
          },
          {
            target: 'holding' as const,
            actions: {
              type: 'recordJudged' as const,
              params: ({ event }: { event: { output: Verdict } }) => ({
                verdict: event.output,
                guarding: true,
              }),
            },
          },
        ],
        onError: {
          target: 'holding' as const,
          actions: { type: 'analysisFailed' as const, params: { guarding: true } },
        },
      },
    },
  },
};

export const migrationMachine = setup({
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
    notWriting: not(stateIn({ shifting: 'applying' })),
    notRollingBack: not(stateIn('rollingBack')),
    onLastStep: ({ context }) => isLastStep(context),
    /** Nothing meshshift wrote is in the cluster: an ABORT ends without a write. */
    nothingToUndo: ({ context }) => context.weight === 0,
    analysisDue: ({ context, event }) => event.type === 'TICK' && analysisDue(context, event.at),
    retryDue: ({ context, event }) =>
      event.type === 'TICK' && event.at >= (context.rollback?.retryAt ?? context.securing?.retryAt ?? 0),
    mtlsOff: ({ context }) => !context.config.tightenMtls,
    mtlsAttemptsLeft: ({ context }) => (context.securing?.attempts ?? 0) + 1 < MTLS_ATTEMPTS,
    decides: ({ context }, p: Wants) =>
      judgement(context, p.verdict, p.guarding).decision.kind === p.kind &&
      (p.when !== 'lastStep' || isLastStep(context)) &&
      (p.when !== 'approval' || needsApproval(context)),
    isAbort: ({ context }) => context.rollback?.cause === 'abort',
    isDrift: ({ event }) => (event as { error?: { name?: string } }).error?.name === 'DriftError',
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
    resume: assign(({ context }) => ({ pauseReason: undefined, judge: resumed(context.judge) })),
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
      weight: p.weight,
      now: Math.max(context.now, p.at),
      stepStartedAt: p.at,
      // The first analysis of a step waits one interval so the window sees the new weight.
      lastAnalysisAt: p.at,
      forceNextWrite: false,
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
}).createMachine({
  id: 'migration',
  context: ({ input }) => initialContext(input),
  initial: 'pending',
  on: {
    ABORT: [
      {
        guard: and(['notRollingBack', 'notWriting', 'nothingToUndo']),
        target: '.aborted',
        actions: 'recordAbort',
      },
      { guard: 'notRollingBack', target: '.rollingBack', actions: 'recordAbort' },
    ],
  },
  states: {
    pending: { on: { START: { target: 'preflight', actions: ['stampNow', 'markStarted'] } } },
    preflight: {
      tags: ['busy'],
      invoke: {
        src: 'preflight',
        input: () => ({}),
        onDone: [
          {
            guard: ({ event }) => event.output.initialWeight > 0,
            target: 'shifting.observing',
            actions: [{ type: 'preflightDone', params: ({ event }) => event.output }, 'inheritWeight'],
          },
          { target: 'shifting', actions: { type: 'preflightDone', params: ({ event }) => event.output } },
        ],
        onError: {
          target: 'failed',
          actions: assign(({ event }) => ({ error: `preflight failed: ${errorText(event.error)}` })),
        },
      },
    },
    shifting: {
      initial: 'applying',
      on: {
        PAUSE: { target: 'paused', actions: 'pauseByOperator' },
        // PROMOTE while observing or analyzing: a human skips the rest of this step's bake.
        // (Not while a weight write is in flight; awaitingApproval has its own handler.)
        PROMOTE: [
          { guard: and(['notWriting', 'onLastStep']), target: 'securing', actions: 'stampNow' },
          { guard: 'notWriting', target: '.applying', actions: ['stampNow', 'promote'] },
        ],
      },
      states: {
        applying: {
          tags: ['busy'],
          invoke: {
            src: 'setWeight',
            input: ({ context }) => ({
              weight: currentStepWeight(context),
              expected: context.weight,
              force: context.forceNextWrite,
            }),
            onDone: {
              target: 'observing',
              actions: { type: 'stepWritten', params: ({ event }) => event.output },
            },
            onError: [
              {
                guard: 'isDrift',
                target: '#migration.paused',
                actions: assign(({ event }) => ({
                  pauseReason: `drift: ${errorText(event.error)} — RESUME to overwrite with meshshift's weight, or ABORT to roll back`,
                  forceNextWrite: true,
                })),
              },
              {
                target: '#migration.rollingBack',
                actions: assign(({ context, event }) => ({
                  rollback: rollbackOf(
                    'error',
                    `could not set weight: ${errorText(event.error)}`,
                    context.now,
                  ),
                })),
              },
            ],
          },
        },
        observing: { on: { TICK: { guard: 'analysisDue', target: 'analyzing', actions: 'stampNow' } } },
        analyzing: {
          tags: ['busy'],
          invoke: {
            src: 'analyze',
            input: analyzeInput,
            onDone: [
              {
                guard: {
                  type: 'decides',
                  params: ({ event }) => ({ verdict: event.output, guarding: false, kind: 'rollback' }),
                },
                target: '#migration.rollingBack',
                actions: {
                  type: 'rollBackOnVerdict',
                  params: ({ event }) => ({ verdict: event.output, guarding: false }),
                },
              },
              {
                guard: {
                  type: 'decides',
                  params: ({ event }) => ({ verdict: event.output, guarding: false, kind: 'pause' }),
                },
                target: '#migration.paused',
                actions: {
                  type: 'pauseOnVerdict',
                  params: ({ event }) => ({ verdict: event.output, guarding: false }),
                },
              },
              {
                // A step advances only on the back of a fresh passing analysis, never on stale data.
                guard: {
                  type: 'decides',
                  params: ({ event }) => ({
                    verdict: event.output,
                    guarding: false,
                    kind: 'advance',
                    when: 'lastStep',
                  }),
                },
                target: '#migration.securing',
                actions: {
                  type: 'recordJudged',
                  params: ({ event }) => ({ verdict: event.output, guarding: false }),
                },
              },
              {
                guard: {
                  type: 'decides',
                  params: ({ event }) => ({
                    verdict: event.output,
                    guarding: false,
                    kind: 'advance',
                    when: 'approval',
                  }),
                },
                target: 'awaitingApproval',
                actions: {
                  type: 'recordJudged',
                  params: ({ event }) => ({ verdict: event.output, guarding: false }),
                },
              },
              {
                guard: {
                  type: 'decides',
                  params: ({ event }) => ({ verdict: event.output, guarding: false, kind: 'advance' }),
                },
                target: 'applying',
                actions: [
                  {
                    type: 'recordJudged',
                    params: ({ event }) => ({ verdict: event.output, guarding: false }),
                  },
                  'advance',
                ],
              },
              {
                target: 'observing',
                actions: {
                  type: 'recordJudged',
                  params: ({ event }) => ({ verdict: event.output, guarding: false }),
                },
              },
            ],
            onError: {
              target: 'observing',
              actions: { type: 'analysisFailed', params: { guarding: false } },
            },
          },
        },
        awaitingApproval: {
          tags: ['guarding'],
          on: { PROMOTE: { target: 'applying', actions: ['stampNow', 'promote'] } },
          ...guardingStates,
        },
      },
    },
    paused: {
      tags: ['guarding'],
      on: { RESUME: { target: 'shifting.applying', actions: ['stampNow', 'resume'] } },
      ...guardingStates,
    },
    rollingBack: {
      initial: 'due',
      states: {
        // Persisted before the first write: everyone can see that a rollback is pending.
        due: { on: { TICK: { guard: 'retryDue', target: 'writing', actions: 'stampNow' } } },
        writing: {
          tags: ['busy'],
          invoke: {
            src: 'rollback',
            input: ({ context }) => ({
              reason: context.rollback?.reason ?? 'rollback',
              from: context.weight,
              attempt: (context.rollback?.attempts ?? 0) + 1,
            }),
            onDone: [
              {
                guard: 'isAbort',
                target: '#migration.aborted',
                actions: { type: 'rollbackWritten', params: ({ event }) => event.output },
              },
              {
                target: '#migration.rolledBack',
                actions: { type: 'rollbackWritten', params: ({ event }) => event.output },
              },
            ],
            onError: { target: 'due', actions: 'rollbackFailed' },
          },
        },
      },
    },
    // "Policy second": with all traffic on the target, optionally tighten mTLS (PeerAuthentication → STRICT).
    // The traffic migration is complete either way; a failure is retried, then reported, never rolled back.
    securing: {
      always: { guard: 'mtlsOff', target: 'completed' },
      initial: 'tightening',
      states: {
        due: { on: { TICK: { guard: 'retryDue', target: 'tightening', actions: 'stampNow' } } },
        tightening: {
          tags: ['busy'],
          invoke: {
            src: 'secure',
            input: () => ({}),
            onDone: {
              target: '#migration.completed',
              actions: assign(({ context, event }) => ({
                now: Math.max(context.now, event.output.at),
                mtls: event.output.message,
              })),
            },
            onError: [
              { guard: 'mtlsAttemptsLeft', target: 'due', actions: 'mtlsFailed' },
              { target: '#migration.completed', actions: 'mtlsGaveUp' },
            ],
          },
        },
      },
    },
    completed: {
      type: 'final',
      tags: ['terminal'],
      entry: assign(({ context }) => ({ completedAt: context.now })),
    },
    rolledBack: { type: 'final', tags: ['terminal'] },
    aborted: { type: 'final', tags: ['terminal'] },
    failed: { type: 'final', tags: ['terminal'] },
  },
});

export type MigrationMachine = typeof migrationMachine;
