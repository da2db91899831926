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
 *   a failure at 100 % (the VMs serve nothing): back to the step before, once (applying), to compare like for like
 *   ABORT (anywhere, declared once) / regression → rollingBack → rolledBack | aborted
 *   applying ─API failure→ writeHeld (weight held, guarded; retried; paused after writeFailureGrace)
 *            ─refused (403, 404, route)→ paused       ─drift→ paused
 *   rollingBack: due ─TICK→ writing ─fail→ due (capped backoff, forever: a decided rollback is never dropped)
 *
 * Deadlines are *not* xstate `after` timers (they are not persisted, xstate#5331): the context stores
 * timestamps and the driver sends TICK events; `engine/vocabulary.ts` tells it when the next one is useful.
 * Tags: `busy` (an effect is running), `guarding` (a held weight is still analysed), `terminal`.
 */
import { and, assign } from 'xstate';
import type { Decision } from '../gate/judge.js';
import type { Verdict } from '../gate/types.js';
import { currentStepWeight, errorText, initialContext } from './context.js';
import { machineSetup, type Judged, type Wants } from './setup.js';
import type { AnalyzeInput, MigrationContext } from './types.js';

type Ctx = MigrationContext;

/** Dynamic params for the `decides` guard and the verdict actions: the analysis output, judged. */
const judged =
  (guarding: boolean) =>
  ({ event }: { event: { output: Verdict } }): Judged => ({ verdict: event.output, guarding });
const wants =
  (kind: Decision['kind'], guarding = false, when?: Wants['when']) =>
  ({ event }: { event: { output: Verdict } }): Wants => ({
    verdict: event.output,
    guarding,
    kind,
    ...(when ? { when } : {}),
  });

const analyzeInput = ({ context }: { context: Ctx }): AnalyzeInput => ({
  weight: context.weight,
  selectors: context.selectors!,
  ...(context.stepStartedAt !== undefined ? { stepStartedAt: context.stepStartedAt } : {}),
  ...(context.startedAt !== undefined ? { evidenceSince: context.startedAt } : {}),
  ...(context.stepBack ? { setAside: context.stepBack.setAside } : {}),
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
            guard: { type: 'decides' as const, params: wants('rollback', true) },
            target: '#migration.rollingBack',
            actions: { type: 'rollBackOnVerdict' as const, params: judged(true) },
          },
          { target: 'holding' as const, actions: { type: 'recordJudged' as const, params: judged(true) } },
        ],
        onError: {
          target: 'holding' as const,
          actions: { type: 'analysisFailed' as const, params: { guarding: true } },
        },
      },
    },
  },
};

export const migrationMachine = machineSetup.createMachine({
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
    // A failed preflight changed nothing: while the API or Prometheus is unavailable it waits (an outage at start
    // must not end a migration); missing evidence (no traffic seen yet) gets a few tries; a check that found
    // something wrong ends it as `failed` at once. The decision is `preflightRetry` (mesh/types.ts).
    preflight: {
      initial: 'checking',
      states: {
        due: { on: { TICK: { guard: 'retryDue', target: 'checking', actions: 'stampNow' } } },
        checking: {
          tags: ['busy'],
          invoke: {
            src: 'preflight',
            input: () => ({}),
            onDone: [
              {
                guard: ({ event }) => event.output.initialWeight > 0,
                target: '#migration.shifting.observing',
                actions: [{ type: 'preflightDone', params: ({ event }) => event.output }, 'inheritWeight'],
              },
              {
                target: '#migration.shifting',
                actions: { type: 'preflightDone', params: ({ event }) => event.output },
              },
            ],
            onError: [
              // Unavailable dependencies are waited out (capped backoff, visible as the phase's reason) ...
              { guard: 'preflightTransient', target: 'due', actions: 'preflightFailed' },
              // ... missing evidence is tried a few times; anything found wrong ends the migration now.
              { guard: 'preflightAttemptsLeft', target: 'due', actions: 'preflightFailed' },
              {
                target: '#migration.failed',
                actions: assign(({ event }) => ({ error: `preflight failed: ${errorText(event.error)}` })),
              },
            ],
          },
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
              ...(context.stepBack && currentStepWeight(context) < context.weight
                ? { reason: context.stepBack.reason }
                : {}),
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
              // Refused for a reason that will not pass (403, 404, a bad route): reported at once, by pausing.
              { guard: 'writeRefused', target: '#migration.paused', actions: 'refuseWrite' },
              // The API failed (no answer, 429, 5xx, the attempt deadline): hold the weight, still guarded,
              // and retry; never roll back for the API alone.
              { target: 'writeHeld', actions: 'writeFailed' },
            ],
          },
        },
        // A forward write failed for infrastructure reasons: the last confirmed weight is held and still analysed
        // (a regression rolls back); the write is retried with capped backoff, and after writeFailureGrace the
        // migration pauses with the reason.
        writeHeld: {
          tags: ['guarding'],
          initial: 'holding',
          states: {
            holding: {
              on: {
                TICK: [
                  {
                    guard: 'writeGraceOver',
                    target: '#migration.paused',
                    actions: ['stampNow', 'pauseOnWriteFailure'],
                  },
                  { guard: 'writeRetryDue', target: '#migration.shifting.applying', actions: 'stampNow' },
                  { guard: 'analysisDue', target: 'guarding', actions: 'stampNow' },
                ],
              },
            },
            guarding: guardingStates.states.guarding,
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
                guard: { type: 'decides', params: wants('rollback') },
                target: '#migration.rollingBack',
                actions: { type: 'rollBackOnVerdict', params: judged(false) },
              },
              // A failure at 100 %, where the VMs serve nothing: back to the step before, to compare there.
              {
                guard: { type: 'decides', params: wants('stepBack') },
                target: 'applying',
                actions: { type: 'stepBack', params: judged(false) },
              },
              {
                guard: { type: 'decides', params: wants('pause') },
                target: '#migration.paused',
                actions: { type: 'pauseOnVerdict', params: judged(false) },
              },
              // A step advances only on the back of a fresh passing analysis, never on stale data.
              {
                guard: { type: 'decides', params: wants('advance', false, 'lastStep') },
                target: '#migration.securing',
                actions: { type: 'recordJudged', params: judged(false) },
              },
              {
                guard: { type: 'decides', params: wants('advance', false, 'approval') },
                target: 'awaitingApproval',
                actions: { type: 'recordJudged', params: judged(false) },
              },
              {
                guard: { type: 'decides', params: wants('advance') },
                target: 'applying',
                actions: [{ type: 'recordJudged', params: judged(false) }, 'advance'],
              },
              { target: 'observing', actions: { type: 'recordJudged', params: judged(false) } },
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
