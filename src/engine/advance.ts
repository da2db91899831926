/**
 * The engine: one bounded piece of a migration's progress. Both drivers — `meshshift run`'s timer and the BullMQ
 * worker's drive step — call `advance` and only decide *when* to call it again and where to keep the result (the
 * controller does not: it submits and commands through the service, and a worker advances the migration).
 *
 *   restore the persisted snapshot (an effect that was in flight runs again; mesh writes are idempotent)
 *   → apply operator commands (ABORT first and alone) → START when the driver says it may
 *   → TICK when an analysis or a retry is due (not after an accepted command: that state is persisted first)
 *   → wait until no effect is in flight → the new snapshot, the events, the view and the next wake-up.
 */
import { createActor } from 'xstate';
import type { MetricsProvider } from '../gate/input/provider.js';
import type { Logger } from '../log/logger.js';
import type { MigrationContext } from '../machine/types.js';
import type { MeshAdapter } from '../mesh/types.js';
import type { ResolvedPlan } from '../plan/load.js';
import { attemptDeadline } from './attempt.js';
import type { Clock } from './clock.js';
import { runConfig } from './config.js';
import { bindEffects, machineWithEffects, type MtlsStep } from './effects.js';
import type { EngineEvent } from './history.js';
import { settle } from './settle.js';
import {
  isTerminal,
  nextWakeAt,
  phaseOf,
  possibleCommands,
  reasonOf,
  type CommandType,
  type MigrationSnapshot,
  type Phase,
} from './vocabulary.js';

export interface EngineDeps {
  mesh: MeshAdapter;
  metrics: MetricsProvider;
  mtls?: MtlsStep;
  clock: Clock;
  log: Logger;
  /** Fencing: called before every write attempt; throwing refuses the write. */
  beforeWrite?: () => Promise<void>;
  /** Live stream of the events (they are also returned). */
  onEvent?: (e: EngineEvent) => void;
  /** Upper bound for the effects of one advance; past it the effect is cancelled and advance throws. */
  effectTimeoutMs?: number;
  /**
   * Deadline of one attempt of a cluster effect (preflight, weight write, rollback, mTLS); clamped to half the
   * effect timeout so that a cut attempt is a failed attempt the machine counts, never a cancelled effect.
   */
  attemptMs?: number;
}

export interface EngineCommand {
  type: CommandType;
  by?: string;
  reason?: string;
}

export interface AdvanceInput {
  /** For logs only. */
  id: string;
  plan: ResolvedPlan;
  /** Policy time scale (1 in production). */
  timeScale?: number;
  /** The persisted snapshot; undefined for a new migration. */
  snapshot?: unknown;
  commands?: readonly EngineCommand[];
  /** START a pending migration (the driver checked schedules, windows and concurrency limits). */
  start?: boolean;
  /** Date TICKs by this time slot (aligned schedulers), never earlier than they are due. */
  tickAt?: number;
}

export interface CommandOutcome {
  command: CommandType;
  by?: string;
  accepted: boolean;
}

export interface Advanced {
  /** Persist this (JSON). */
  snapshot: unknown;
  phase: Phase;
  weight: number;
  reason?: string;
  possible: CommandType[];
  /** Epoch ms of the next useful TICK; undefined when only a command or an effect can move it on. */
  nextWakeAt?: number;
  terminal: boolean;
  context: MigrationContext;
  events: EngineEvent[];
  commands: CommandOutcome[];
}

export async function advance(deps: EngineDeps, input: AdvanceInput): Promise<Advanced> {
  const { clock } = deps;
  const log = deps.log.child({ migration: input.id });
  const events: EngineEvent[] = [];
  const emit = (e: EngineEvent) => {
    events.push(e);
    deps.onEvent?.(e);
  };
  const { policy, config } = runConfig(input.plan, input.timeScale);
  const timeoutMs = deps.effectTimeoutMs ?? 60_000;
  const actorInput = { config, now: clock.now() };
  const actor =
    input.snapshot !== undefined
      ? createActor(machineWithEffects, { snapshot: input.snapshot as never, input: actorInput })
      : createActor(machineWithEffects, { input: actorInput });
  bindEffects(actor.system, {
    plan: input.plan,
    policy,
    mesh: deps.mesh,
    metrics: deps.metrics,
    clock,
    log,
    emit,
    ...(deps.beforeWrite ? { beforeWrite: deps.beforeWrite } : {}),
    ...(deps.mtls ? { mtls: deps.mtls } : {}),
    attemptMs: attemptDeadline(timeoutMs, deps.attemptMs),
  });
  const watch = watchTransitions(actor.getSnapshot(), clock, emit, log);
  const sub = actor.subscribe({ next: watch, error: () => undefined });
  try {
    actor.start();
    let snap = await settle(actor, timeoutMs, input.id);

    const applied = await applyCommands(actor, snap, input.commands ?? [], {
      clock,
      log,
      emit,
      timeoutMs,
      id: input.id,
    });
    snap = applied.snap;
    const outcomes = applied.outcomes;

    if (input.start && phaseOf(snap) === 'pending') {
      actor.send({ type: 'START', at: clock.now() });
      snap = await settle(actor, timeoutMs, input.id);
    }

    // After an accepted command the new state is persisted before anything else happens (a decided rollback is
    // visible before its first write).
    const wake = nextWakeAt(snap);
    if (!outcomes.some((o) => o.accepted) && wake !== undefined && wake <= clock.now() + 5) {
      actor.send({ type: 'TICK', at: Math.max(wake, input.tickAt ?? clock.now()) });
      snap = await settle(actor, timeoutMs, input.id);
    }
    return result(actor.getPersistedSnapshot(), snap, events, outcomes);
  } finally {
    sub.unsubscribe();
    actor.stop();
  }
}

type EngineActor = ReturnType<typeof createActor<typeof machineWithEffects>>;

interface CommandEnv {
  clock: Clock;
  log: Logger;
  emit: (e: EngineEvent) => void;
  timeoutMs: number;
  id: string;
}

/**
 * Applies the operator's commands in order, each one the machine can take now, settling after each; an ABORT
 * supersedes every other command of the batch (refused, with the reason). Every command gets an event.
 */
async function applyCommands(
  actor: EngineActor,
  first: MigrationSnapshot,
  commands: readonly EngineCommand[],
  env: CommandEnv,
): Promise<{ snap: MigrationSnapshot; outcomes: CommandOutcome[] }> {
  const { clock, log, emit } = env;
  let snap = first;
  const outcomes: CommandOutcome[] = [];
  const abort = commands.find((c) => c.type === 'ABORT');
  for (const c of commands) {
    if (!abort || c === abort) continue;
    const reason = `superseded by ABORT from ${abort.by ?? 'operator'}`;
    emit({
      type: 'command',
      at: clock.now(),
      command: c.type,
      ...(c.by ? { by: c.by } : {}),
      accepted: false,
      reason,
      refused: reason,
    });
    outcomes.push({ command: c.type, ...(c.by ? { by: c.by } : {}), accepted: false });
  }
  for (const c of abort ? [abort] : commands) {
    const event = {
      type: c.type,
      at: clock.now(),
      ...(c.by ? { by: c.by } : {}),
      ...(c.reason ? { reason: c.reason } : {}),
    };
    const accepted = snap.can(event);
    const refused = accepted ? undefined : `${c.type} is not possible while ${phaseOf(snap)}`;
    emit({
      type: 'command',
      at: event.at,
      command: c.type,
      ...(c.by ? { by: c.by } : {}),
      accepted,
      ...(c.reason ? { reason: c.reason } : {}),
      ...(refused ? { refused } : {}),
    });
    log.info({ command: c.type, by: c.by, accepted }, 'command');
    outcomes.push({ command: c.type, ...(c.by ? { by: c.by } : {}), accepted });
    if (accepted) {
      actor.send(event);
      snap = await settle(actor, env.timeoutMs, env.id);
    }
  }
  return { snap, outcomes };
}

function result(
  persisted: unknown,
  s: MigrationSnapshot,
  events: EngineEvent[],
  commands: CommandOutcome[],
): Advanced {
  const reason = reasonOf(s);
  const wake = nextWakeAt(s);
  return {
    snapshot: persisted,
    phase: phaseOf(s),
    weight: s.context.weight,
    ...(reason ? { reason } : {}),
    possible: possibleCommands(s),
    ...(wake !== undefined ? { nextWakeAt: wake } : {}),
    terminal: isTerminal(s),
    context: s.context,
    events,
    commands,
  };
}

/** Emits `phase`, `rollbackRetry`, `writeRetry` and `finished` events as the machine moves. */
function watchTransitions(
  first: MigrationSnapshot,
  clock: Clock,
  emit: (e: EngineEvent) => void,
  log: Logger,
): (s: MigrationSnapshot) => void {
  let lastPhase = phaseOf(first);
  let lastAttempts = first.context.rollback?.attempts ?? 0;
  let lastWriteAttempts = first.context.writeHold?.attempts ?? 0;
  return (s) => {
    const phase = phaseOf(s);
    const c = s.context;
    if (phase !== lastPhase) {
      const reason = reasonOf(s);
      emit({
        type: 'phase',
        at: clock.now(),
        phase,
        from: lastPhase,
        weight: c.weight,
        ...(reason ? { reason } : {}),
      });
      log.info({ phase, from: lastPhase, weight: c.weight, reason }, 'phase');
      lastPhase = phase;
      if (isTerminal(s)) {
        emit({
          type: 'finished',
          at: clock.now(),
          phase,
          weight: c.weight,
          ...(reason ? { reason } : {}),
          durationMs: clock.now() - (c.startedAt ?? c.now),
        });
      }
    }
    const attempts = c.rollback?.attempts ?? 0;
    if (phase === 'rollingBack' && attempts > lastAttempts && c.rollback?.retryAt !== undefined) {
      emit({
        type: 'rollbackRetry',
        at: clock.now(),
        attempt: attempts,
        retryAt: c.rollback.retryAt,
        error: c.rollback.lastError ?? 'unknown error',
      });
    }
    lastAttempts = attempts;
    const held = c.writeHold;
    if (held && held.attempts > lastWriteAttempts) {
      emit({
        type: 'writeRetry',
        at: clock.now(),
        weight: held.weight,
        held: c.weight,
        attempt: held.attempts,
        retryAt: held.retryAt,
        error: held.lastError ?? 'unknown error',
      });
      log.warn(
        { weight: held.weight, held: c.weight, attempt: held.attempts, err: held.lastError },
        'weight write failed; holding the current weight and retrying',
      );
    }
    lastWriteAttempts = held?.attempts ?? 0;
  };
}
