/**
 * The migration state machine (xstate v5). Pure: every effect is an injected actor, time arrives in events.
 *
 *   pending ─START→ preflight ─ok→ shifting ──last step baked→ completed
 *                       │ fail          │ applying → observing ⇄ analyzing
 *                       ▼               │      ↘ awaitingApproval ─PROMOTE→ applying (next step)
 *                     failed            │ PAUSE / drift / inconclusive
 *                                       ▼
 *                                    paused (still guarding: analyses go on, a failure still rolls back)
 *   any active state ─ABORT / regression / write error→ rollingBack → rolledBack | aborted
 *
 * Deadlines are *not* xstate `after` timers (they are not persisted, xstate#5331): the context stores
 * timestamps and the runner sends TICK events; `nextWakeAt()` tells it when the next one is useful.
 */
import { and, assign, fromPromise, not, setup, stateIn, type SnapshotFrom } from 'xstate';
import type { Verdict } from '../gate/types.js';
import type {
  AnalyzeInput,
  FailureStreak,
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

const notProvided = (name: string) =>
  // Placeholders: the runner supplies real actors with machine.provide({ actors }).
  fromPromise<never, unknown>(async () => {
    throw new Error(`actor "${name}" was not provided to the migration machine`);
  });

type Ctx = MigrationContext;

const currentStepWeight = (c: Ctx) => c.config.steps[c.stepIndex] ?? c.weight;
const isLastStep = (c: Ctx) => c.stepIndex >= c.config.steps.length - 1;
const analysisDue = (c: Ctx, now: number) =>
  c.weight > 0 && (c.lastAnalysisAt === undefined || now - c.lastAnalysisAt >= c.config.intervalMs);
/** Whether the step is done once this verdict is counted: bake time over, enough passes, this one a pass. */
const bakedAfter = (c: Ctx, v: Verdict) =>
  v.outcome === 'pass' &&
  c.stepStartedAt !== undefined &&
  v.at - c.stepStartedAt >= c.config.stepDurationMs &&
  c.passesThisStep + 1 >= c.config.minPassesPerStep;
const needsApproval = (c: Ctx) =>
  c.config.approvals.includes(currentStepWeight(c)) && !c.approvedWeights.includes(currentStepWeight(c));

/** Index of the first step above the weight found at preflight (a half-done migration continues upward). */
function firstStepAbove(steps: number[], weight: number): number {
  const i = steps.findIndex((w) => w > weight);
  return i === -1 ? steps.length - 1 : i;
}

/**
 * Updates per-check failure streaks and returns the check that reached its threshold, if any.
 * A failure counts toward the streak only if it comes at least one window after the last counted one: analyses
 * every 10 s over a 1 m window mostly see the same requests, so they are one piece of evidence, not six.
 * A pass clears the streak; inconclusive or skipped results keep it (missing data neither condemns nor clears).
 */
export function countFailures(
  prev: Record<string, FailureStreak>,
  verdict: Verdict,
  windowMs: number,
): { failures: Record<string, FailureStreak>; tripped?: string } {
  const failures = { ...prev };
  let tripped: string | undefined;
  for (const check of verdict.checks) {
    const streak = failures[check.name];
    if (check.outcome === 'fail') {
      const independent = !streak || streak.count === 0 || verdict.at - streak.at >= windowMs;
      const next = independent ? { count: (streak?.count ?? 0) + 1, at: verdict.at } : streak;
      failures[check.name] = next;
      if (next.count >= check.failureThreshold && !tripped) tripped = check.name;
    } else if (check.outcome === 'pass' && streak) {
      failures[check.name] = { count: 0, at: verdict.at };
    }
  }
  return { failures, tripped };
}

function trippedCheck(c: Ctx, v: Verdict) {
  const { tripped } = countFailures(c.failures, v, c.config.windowMs);
  return tripped ? v.checks.find((k) => k.name === tripped) : undefined;
}

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

export const migrationMachine = setup({
  types: {
    context: {} as MigrationContext,
    events: {} as MigrationEvent,
    input: {} as MigrationInput,
  },
  actors: {
    preflight: notProvided('preflight') as unknown as ReturnType<
      typeof fromPromise<PreflightOutput, Record<string, never>>
    >,
    setWeight: notProvided('setWeight') as unknown as ReturnType<
      typeof fromPromise<SetWeightOutput, SetWeightInput>
    >,
    analyze: notProvided('analyze') as unknown as ReturnType<typeof fromPromise<Verdict, AnalyzeInput>>,
    rollback: notProvided('rollback') as unknown as ReturnType<
      typeof fromPromise<RollbackOutput, RollbackInput>
    >,
    secure: notProvided('secure') as unknown as ReturnType<
      typeof fromPromise<SecureOutput, Record<string, never>>
    >,
  },
  guards: {
    notWriting: not(stateIn({ shifting: 'applying' })),
    onLastStep: ({ context }) => isLastStep(context),
  },
  actions: {
    stampNow: assign(({ context, event }) =>
      'at' in event && typeof event.at === 'number' ? { now: Math.max(context.now, event.at) } : {},
    ),
  },
}).createMachine({
  id: 'migration',
  context: ({ input }) => ({
    config: input.config,
    stepIndex: -1,
    weight: 0,
    initialWeight: 0,
    now: input.now,
    passesThisStep: 0,
    failures: {},
    consecutiveInconclusive: 0,
    analyses: 0,
    approvedWeights: [],
    forceNextWrite: false,
  }),
  initial: 'pending',
  states: {
    pending: {
      on: {
        START: { target: 'preflight', actions: 'stampNow' },
        ABORT: {
          target: 'aborted',
          actions: assign(({ event }) => ({
            rollback: {
              cause: 'abort' as const,
              reason: event.reason ?? 'aborted before start',
              by: event.by,
              at: event.at,
            },
          })),
        },
      },
    },
    preflight: {
      invoke: {
        src: 'preflight',
        input: () => ({}),
        onDone: {
          target: 'shifting',
          actions: assign(({ context, event }) => ({
            now: Math.max(context.now, event.output.at),
            initialWeight: event.output.initialWeight,
            weight: event.output.initialWeight,
            selectors: event.output.selectors,
            stepIndex: firstStepAbove(context.config.steps, event.output.initialWeight),
          })),
        },
        onError: {
          target: 'failed',
          actions: assign(({ event }) => ({ error: `preflight failed: ${errorText(event.error)}` })),
        },
      },
      on: {
        ABORT: {
          target: 'aborted',
          actions: assign(({ event }) => ({
            rollback: {
              cause: 'abort' as const,
              reason: event.reason ?? 'aborted during preflight',
              by: event.by,
              at: event.at,
            },
          })),
        },
      },
    },
    shifting: {
      initial: 'applying',
      on: {
        PAUSE: {
          target: 'paused',
          actions: [
            'stampNow',
            assign(({ event }) => ({
              pauseReason: `paused by ${event.by ?? 'operator'}${event.reason ? `: ${event.reason}` : ''}`,
            })),
          ],
        },
        ABORT: {
          target: 'rollingBack',
          actions: [
            'stampNow',
            assign(({ event }) => ({
              rollback: {
                cause: 'abort' as const,
                reason: event.reason ?? 'aborted',
                by: event.by,
                at: event.at,
              },
            })),
          ],
        },
        // PROMOTE while observing or analyzing: a human skips the rest of this step's bake.
        // (Not while a weight write is in flight; awaitingApproval has its own handler.)
        PROMOTE: [
          {
            guard: and(['notWriting', 'onLastStep']),
            target: 'securing',
          },
          {
            guard: 'notWriting',
            target: '.applying',
            actions: assign(({ context }) => ({
              stepIndex: context.stepIndex + 1,
              approvedWeights: [...context.approvedWeights, currentStepWeight(context)],
            })),
          },
        ],
      },
      states: {
        applying: {
          invoke: {
            src: 'setWeight',
            input: ({ context }) => ({
              weight: currentStepWeight(context),
              expected: context.weight,
              force: context.forceNextWrite,
            }),
            onDone: {
              target: 'observing',
              actions: assign(({ context, event }) => ({
                weight: event.output.weight,
                now: Math.max(context.now, event.output.at),
                stepStartedAt: event.output.at,
                passesThisStep: 0,
                consecutiveInconclusive: 0,
                // The first analysis of a step waits one interval so the window sees the new weight.
                lastAnalysisAt: event.output.at,
                forceNextWrite: false,
              })),
            },
            onError: [
              {
                guard: ({ event }) => (event.error as { name?: string } | undefined)?.name === 'DriftError',
                target: '#migration.paused',
                actions: assign(({ event }) => ({
                  pauseReason: `drift: ${errorText(event.error)} — RESUME to overwrite with meshshift's weight, or ABORT to roll back`,
                  forceNextWrite: true,
                })),
              },
              {
                target: '#migration.rollingBack',
                actions: assign(({ context, event }) => ({
                  rollback: {
                    cause: 'error' as const,
                    reason: `could not set weight: ${errorText(event.error)}`,
                    at: context.now,
                  },
                })),
              },
            ],
          },
        },
        observing: {
          on: {
            TICK: {
              guard: ({ context, event }) => analysisDue(context, event.at),
              target: 'analyzing',
              actions: 'stampNow',
            },
          },
        },
        analyzing: {
          invoke: {
            src: 'analyze',
            input: ({ context }) => ({ weight: context.weight, selectors: context.selectors! }),
            onDone: [
              {
                guard: ({ context, event }) => trippedCheck(context, event.output) !== undefined,
                target: '#migration.rollingBack',
                actions: assign(({ context, event }) =>
                  regressionRollback(context, event.output, 'in a row'),
                ),
              },
              {
                guard: ({ context, event }) =>
                  inconclusiveLimitReached(context, event.output) &&
                  context.config.inconclusiveAction === 'rollback',
                target: '#migration.rollingBack',
                actions: assign(({ context, event }) => ({
                  ...recordVerdict(context, event.output),
                  rollback: {
                    cause: 'inconclusive' as const,
                    reason: `${context.config.inconclusiveLimit} inconclusive analyses in a row: ${event.output.summary}`,
                    at: event.output.at,
                  },
                })),
              },
              {
                guard: ({ context, event }) => inconclusiveLimitReached(context, event.output),
                target: '#migration.paused',
                actions: assign(({ context, event }) => ({
                  ...recordVerdict(context, event.output),
                  pauseReason: `${context.config.inconclusiveLimit} inconclusive analyses in a row at ${context.weight} % (${event.output.summary}) — holding; RESUME to retry or ABORT`,
                })),
              },
              // A step advances only on the back of a fresh passing analysis, never on stale data.
              {
                guard: ({ context, event }) => bakedAfter(context, event.output) && isLastStep(context),
                target: '#migration.securing',
                actions: assign(({ context, event }) => recordVerdict(context, event.output)),
              },
              {
                guard: ({ context, event }) => bakedAfter(context, event.output) && needsApproval(context),
                target: 'awaitingApproval',
                actions: assign(({ context, event }) => recordVerdict(context, event.output)),
              },
              {
                guard: ({ context, event }) => bakedAfter(context, event.output),
                target: 'applying',
                actions: assign(({ context, event }) => ({
                  ...recordVerdict(context, event.output),
                  stepIndex: context.stepIndex + 1,
                })),
              },
              {
                target: 'observing',
                actions: assign(({ context, event }) => recordVerdict(context, event.output)),
              },
            ],
            onError: {
              target: 'observing',
              actions: assign(({ context, event }) => ({
                consecutiveInconclusive: context.consecutiveInconclusive + 1,
                lastAnalysisAt: context.now,
                error: `analysis error: ${errorText(event.error)}`,
              })),
            },
          },
        },
        awaitingApproval: {
          initial: 'waiting',
          on: {
            PROMOTE: {
              target: 'applying',
              actions: assign(({ context }) => ({
                approvedWeights: [...context.approvedWeights, currentStepWeight(context)],
                stepIndex: context.stepIndex + 1,
              })),
            },
          },
          states: {
            waiting: {
              on: {
                TICK: {
                  guard: ({ context, event }) => analysisDue(context, event.at),
                  target: 'guarding',
                  actions: 'stampNow',
                },
              },
            },
            // Keep guarding while a human decides: a regression during the wait still rolls back.
            guarding: {
              invoke: {
                src: 'analyze',
                input: ({ context }) => ({ weight: context.weight, selectors: context.selectors! }),
                onDone: [
                  {
                    guard: ({ context, event }) => trippedCheck(context, event.output) !== undefined,
                    target: '#migration.rollingBack',
                    actions: assign(({ context, event }) =>
                      regressionRollback(context, event.output, 'in a row'),
                    ),
                  },
                  {
                    target: 'waiting',
                    actions: assign(({ context, event }) => recordVerdict(context, event.output)),
                  },
                ],
                onError: {
                  target: 'waiting',
                  actions: assign(({ context }) => ({ lastAnalysisAt: context.now })),
                },
              },
            },
          },
        },
      },
    },
    paused: {
      initial: 'holding',
      on: {
        RESUME: {
          target: 'shifting.applying',
          actions: ['stampNow', assign({ pauseReason: undefined, consecutiveInconclusive: 0 })],
        },
        ABORT: {
          target: 'rollingBack',
          actions: [
            'stampNow',
            assign(({ event }) => ({
              rollback: {
                cause: 'abort' as const,
                reason: event.reason ?? 'aborted',
                by: event.by,
                at: event.at,
              },
            })),
          ],
        },
      },
      states: {
        holding: {
          on: {
            TICK: {
              guard: ({ context, event }) => analysisDue(context, event.at),
              target: 'guarding',
              actions: 'stampNow',
            },
          },
        },
        // Paused is not unguarded: the held weight is still analysed and a failure still rolls back.
        guarding: {
          invoke: {
            src: 'analyze',
            input: ({ context }) => ({ weight: context.weight, selectors: context.selectors! }),
            onDone: [
              {
                guard: ({ context, event }) => trippedCheck(context, event.output) !== undefined,
                target: '#migration.rollingBack',
                actions: assign(({ context, event }) =>
                  regressionRollback(context, event.output, 'while paused'),
                ),
              },
              {
                target: 'holding',
                actions: assign(({ context, event }) => recordVerdict(context, event.output)),
              },
            ],
            onError: {
              target: 'holding',
              actions: assign(({ context }) => ({ lastAnalysisAt: context.now })),
            },
          },
        },
      },
    },
    rollingBack: {
      invoke: {
        src: 'rollback',
        input: ({ context }) => ({ reason: context.rollback?.reason ?? 'rollback' }),
        onDone: [
          {
            guard: ({ context }) => context.rollback?.cause === 'abort',
            target: 'aborted',
            actions: assign(({ event }) => ({ weight: 0, now: event.output.at })),
          },
          { target: 'rolledBack', actions: assign(({ event }) => ({ weight: 0, now: event.output.at })) },
        ],
        onError: {
          target: 'failed',
          actions: assign(({ event }) => ({
            error: `ROLLBACK FAILED: ${errorText(event.error)} — set the VirtualService weights to 100 % source by hand`,
          })),
        },
      },
    },
    // "Policy second": with all traffic on the target, optionally tighten mTLS (PeerAuthentication → STRICT).
    // The traffic migration is complete either way; a failure here is reported, never rolled back.
    securing: {
      always: { guard: ({ context }) => !context.config.tightenMtls, target: 'completed' },
      invoke: {
        src: 'secure',
        input: () => ({}),
        onDone: {
          target: 'completed',
          actions: assign(({ context, event }) => ({
            now: Math.max(context.now, event.output.at),
            mtls: event.output.message,
          })),
        },
        onError: {
          target: 'completed',
          actions: assign(({ event }) => ({ mtls: `mTLS not tightened: ${errorText(event.error)}` })),
        },
      },
      on: {
        ABORT: {
          target: 'rollingBack',
          actions: assign(({ event }) => ({
            rollback: {
              cause: 'abort' as const,
              reason: event.reason ?? 'aborted',
              by: event.by,
              at: event.at,
            },
          })),
        },
      },
    },
    completed: { type: 'final', entry: assign(({ context }) => ({ completedAt: context.now })) },
    rolledBack: { type: 'final' },
    aborted: { type: 'final' },
    failed: { type: 'final' },
  },
});

/**
 * Whether an inconclusive verdict counts toward the pause limit. Right after a weight change the analysis
 * window still holds traffic from before it, so the first window (windowMs) may be inconclusive for free.
 */
function countsAsInconclusive(c: Ctx, v: Verdict): boolean {
  return (
    v.outcome === 'inconclusive' &&
    (c.stepStartedAt === undefined || v.at - c.stepStartedAt >= c.config.windowMs)
  );
}

function inconclusiveLimitReached(c: Ctx, v: Verdict): boolean {
  return countsAsInconclusive(c, v) && c.consecutiveInconclusive + 1 >= c.config.inconclusiveLimit;
}

/** Context update for a rollback caused by a check that reached its failure threshold. */
function regressionRollback(c: Ctx, v: Verdict, when: 'in a row' | 'while paused'): Partial<Ctx> {
  const check = trippedCheck(c, v)!;
  const times = when === 'in a row' ? `${check.failureThreshold}× in a row` : 'while paused';
  return {
    ...recordVerdict(c, v),
    rollback: {
      cause: 'regression',
      reason: `${check.name} failed ${times} at ${c.weight} %: ${check.message}`,
      at: v.at,
    },
  };
}

function recordVerdict(c: Ctx, v: Verdict): Partial<Ctx> {
  const { failures } = countFailures(c.failures, v, c.config.windowMs);
  const { sample: _sample, ...light } = v; // keep the persisted snapshot small: numbers live in the checks
  return {
    lastVerdict: light,
    // The analysis is dated by the TICK that started it, not by when Prometheus answered: otherwise every
    // analysis drifts later by the query time and an aligned scheduler skips a whole interval.
    lastAnalysisAt: c.now,
    now: Math.max(c.now, v.at),
    analyses: c.analyses + 1,
    failures,
    passesThisStep: v.outcome === 'pass' ? c.passesThisStep + 1 : c.passesThisStep,
    consecutiveInconclusive: countsAsInconclusive(c, v)
      ? c.consecutiveInconclusive + 1
      : v.outcome === 'inconclusive'
        ? c.consecutiveInconclusive
        : 0,
    error: undefined,
  };
}

export type MigrationMachine = typeof migrationMachine;
export type MigrationSnapshot = SnapshotFrom<MigrationMachine>;

export type Phase =
  | 'securing'
  | 'pending'
  | 'preflight'
  | 'shifting'
  | 'awaitingApproval'
  | 'paused'
  | 'rollingBack'
  | 'completed'
  | 'rolledBack'
  | 'aborted'
  | 'failed';

/** A flat name for the machine's state, for humans and APIs. */
export function phaseOf(snapshot: { value: unknown }): Phase {
  const v = snapshot.value;
  if (typeof v === 'string') return v as Phase;
  const [top, sub] = Object.entries(v as Record<string, unknown>)[0] ?? ['pending', undefined];
  if (top === 'shifting' && sub && typeof sub === 'object' && 'awaitingApproval' in sub)
    return 'awaitingApproval';
  return top as Phase;
}

export const TERMINAL_PHASES: readonly Phase[] = ['completed', 'rolledBack', 'aborted', 'failed'];

/** When the runner should next send TICK (epoch ms), or undefined when no time-based progress is pending. */
export function nextWakeAt(snapshot: { value: unknown; context: MigrationContext }): number | undefined {
  const c = snapshot.context;
  const phase = phaseOf(snapshot);
  if (phase !== 'shifting' && phase !== 'awaitingApproval' && phase !== 'paused') return undefined;
  const sub = JSON.stringify(snapshot.value);
  if (/applying|analyzing|guarding/.test(sub)) return undefined; // an actor is running; its result moves us on
  if (c.weight <= 0) return undefined; // nothing routed to the target yet: nothing to analyse
  return (c.lastAnalysisAt ?? c.now) + c.config.intervalMs;
}
