/**
 * The in-process runner: drives one migration's machine with real adapters, a clock and a snapshot store.
 * It owns time (TICKs), persistence and reporting; the machine owns every decision.
 */
import { createActor, type Actor } from 'xstate';
import type { MetricsProvider } from '../gate/provider.js';
import type { migrationMachine } from '../machine/migration.js';
import { nextWakeAt, phaseOf, TERMINAL_PHASES, type Phase } from '../machine/migration.js';
import type { CommandType, MachineConfig, MigrationContext } from '../machine/types.js';
import type { MeshAdapter } from '../mesh/types.js';
import { scalePolicy, type ResolvedPlan } from '../plan/load.js';
import type { PolicySpec } from '../plan/schema.js';
import { silentLogger, type Logger } from '../log/logger.js';
import { systemClock, type Clock } from './clock.js';
import type { RunnerEvent } from './events.js';
import { machineWithActors, type MtlsStep } from './actors.js';
import type { SnapshotStore } from './store.js';

export interface RunnerOptions {
  plan: ResolvedPlan;
  mesh: MeshAdapter;
  metrics: MetricsProvider;
  /** Compress the policy's time scale (demos, tests, benchmarks). 1 = real time. */
  timeScale?: number;
  clock?: Clock;
  store?: SnapshotStore;
  /** Migration id (key in the store); default: the plan name. */
  id?: string;
  logger?: Logger;
  onEvent?: (e: RunnerEvent) => void;
  /** Attempts for the rollback write before giving up and failing loudly. */
  rollbackAttempts?: number;
  /** PeerAuthentication adapter for plans with spec.mtls.tightenAfterCompletion. */
  mtls?: MtlsStep;
}

export interface RunResult {
  phase: Phase;
  weight: number;
  reason?: string;
  context: MigrationContext;
}

export function machineConfig(policy: PolicySpec, plan?: Pick<ResolvedPlan, 'mtls'>): MachineConfig {
  return {
    steps: policy.steps,
    stepDurationMs: policy.stepDuration,
    intervalMs: policy.analysis.interval,
    minPassesPerStep: policy.analysis.minPassesPerStep,
    inconclusiveLimit: policy.analysis.inconclusiveLimit,
    inconclusiveAction: policy.analysis.inconclusiveAction,
    approvals: policy.approvals.map((a) => a.atWeight),
    windowMs: policy.analysis.window,
    tightenMtls: plan?.mtls?.tightenAfterCompletion ?? false,
  };
}

export class MigrationRunner {
  readonly id: string;
  readonly policy: PolicySpec;
  private actor?: Actor<typeof migrationMachine>;
  private timer: unknown;
  private readonly clock: Clock;
  private readonly log: Logger;
  private lastPhase?: Phase;
  private startedAt = 0;
  private settle!: (r: RunResult) => void;
  private saving: Promise<void> = Promise.resolve();
  /** Resolves when the migration reaches a final state. */
  readonly done: Promise<RunResult>;

  constructor(private readonly opts: RunnerOptions) {
    this.id = opts.id ?? opts.plan.name;
    this.policy = scalePolicy(opts.plan.policy, opts.timeScale ?? 1);
    this.clock = opts.clock ?? systemClock;
    this.log = (opts.logger ?? silentLogger).child({ migration: this.id });
    this.done = new Promise((resolve) => (this.settle = resolve));
  }

  private emit(e: RunnerEvent) {
    this.opts.onEvent?.(e);
  }

  private machine() {
    return machineWithActors({
      plan: this.opts.plan,
      policy: this.policy,
      mesh: this.opts.mesh,
      metrics: this.opts.metrics,
      clock: this.clock,
      log: this.log,
      emit: (e) => this.emit(e),
      currentWeight: () => this.actor?.getSnapshot().context.weight ?? 0,
      ...(this.opts.rollbackAttempts !== undefined ? { rollbackAttempts: this.opts.rollbackAttempts } : {}),
      ...(this.opts.mtls ? { mtls: this.opts.mtls } : {}),
    });
  }

  /** Starts (or resumes from the store) and returns immediately; await `done` for the outcome. */
  async start(): Promise<void> {
    const saved = this.opts.store ? await this.opts.store.load(this.id) : undefined;
    this.startedAt = this.clock.now();
    const machine = this.machine();
    this.actor = saved
      ? createActor(machine, {
          snapshot: saved as never,
          input: { config: machineConfig(this.policy, this.opts.plan), now: this.clock.now() },
        })
      : createActor(machine, {
          input: { config: machineConfig(this.policy, this.opts.plan), now: this.clock.now() },
        });
    this.actor.subscribe({
      next: (snap) => this.onSnapshot(snap),
      error: (err) => {
        this.log.error({ err }, 'machine error');
      },
    });
    this.emit({
      type: 'started',
      at: this.clock.now(),
      migration: this.id,
      policy: this.opts.plan.policyName,
      steps: this.policy.steps,
      resumed: !!saved,
    });
    this.actor.start();
    if (!saved) this.actor.send({ type: 'START', at: this.clock.now() });
    else this.onSnapshot(this.actor.getSnapshot());
  }

  private onSnapshot(snap: ReturnType<Actor<typeof migrationMachine>['getSnapshot']>) {
    const phase = phaseOf(snap);
    const c = snap.context;
    if (phase !== this.lastPhase) {
      const reason =
        phase === 'paused'
          ? c.pauseReason
          : phase === 'rollingBack' || phase === 'rolledBack' || phase === 'aborted'
            ? c.rollback?.reason
            : phase === 'failed'
              ? c.error
              : undefined;
      this.emit({
        type: 'phase',
        at: this.clock.now(),
        phase,
        weight: c.weight,
        ...(reason ? { reason } : {}),
      });
      this.log.info({ phase, weight: c.weight, reason }, 'phase');
      this.lastPhase = phase;
    }
    if (this.opts.store) {
      const persisted = this.actor!.getPersistedSnapshot();
      this.saving = this.saving
        .then(() => this.opts.store!.save(this.id, persisted))
        .catch((err: unknown) => {
          this.log.error({ err: (err as Error).message }, 'could not persist migration state');
        });
    }
    this.schedule(snap);
    if (TERMINAL_PHASES.includes(phase)) {
      this.clearTimer();
      const reason = phase === 'failed' ? c.error : c.rollback?.reason;
      this.emit({
        type: 'finished',
        at: this.clock.now(),
        phase,
        weight: c.weight,
        ...(reason ? { reason } : {}),
        durationMs: this.clock.now() - this.startedAt,
      });
      void this.saving.then(() =>
        this.settle({ phase, weight: c.weight, ...(reason ? { reason } : {}), context: c }),
      );
    }
  }

  private clearTimer() {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(snap: { value: unknown; context: MigrationContext }) {
    this.clearTimer();
    const wake = nextWakeAt(snap);
    if (wake === undefined) return;
    this.timer = this.clock.setTimeout(
      () => {
        this.timer = undefined;
        this.actor?.send({ type: 'TICK', at: this.clock.now() });
        // A TICK that changed nothing (e.g. bake not over yet) produces no new snapshot: re-arm ourselves.
        if (this.timer === undefined && this.actor) this.schedule(this.actor.getSnapshot());
      },
      Math.max(0, wake - this.clock.now()),
    );
  }

  /** Sends PROMOTE / PAUSE / RESUME / ABORT. Returns whether the machine accepted it in its current state. */
  command(
    type: CommandType,
    by?: string,
    reason?: string,
  ): { accepted: boolean; phase: Phase; reason?: string } {
    if (!this.actor) throw new Error('migration not started');
    const event = {
      type,
      at: this.clock.now(),
      ...(by ? { by } : {}),
      ...(reason ? { reason } : {}),
    } as const;
    const before = this.actor.getSnapshot();
    const phase = phaseOf(before);
    const accepted = before.can(event);
    if (accepted) this.actor.send(event);
    const why = accepted ? undefined : `${type} is not possible while ${phase}${allowedHint(phase)}`;
    this.emit({
      type: 'command',
      at: this.clock.now(),
      command: type,
      ...(by ? { by } : {}),
      accepted,
      ...(why ? { reason: why } : {}),
    });
    this.log.info({ command: type, by, accepted }, 'command');
    return { accepted, phase: phaseOf(this.actor.getSnapshot()), ...(why ? { reason: why } : {}) };
  }

  snapshot() {
    if (!this.actor) throw new Error('migration not started');
    const s = this.actor.getSnapshot();
    return { phase: phaseOf(s), context: s.context };
  }

  /** Stops driving (the persisted state stays; a later runner resumes it). */
  stop(): void {
    this.clearTimer();
    this.actor?.stop();
  }
}

function allowedHint(phase: Phase): string {
  const allowed: Partial<Record<Phase, string>> = {
    pending: 'ABORT',
    preflight: 'ABORT',
    shifting: 'PROMOTE, PAUSE, ABORT',
    awaitingApproval: 'PROMOTE, PAUSE, ABORT',
    paused: 'RESUME, ABORT',
  };
  const a = allowed[phase];
  return a ? ` (possible now: ${a})` : ' (the migration has finished)';
}
