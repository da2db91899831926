/**
 * The in-process driver (`meshshift run`, the demo, unit tests): calls the engine when a TICK is due or a command
 * arrives, persists each result in a snapshot store, and streams the engine's events. It decides nothing.
 */
import type { MetricsProvider } from '../gate/input/provider.js';
import { advance, type Advanced, type EngineCommand } from '../engine/advance.js';
import { systemClock, type Clock } from '../engine/clock.js';
import { runConfig } from '../engine/config.js';
import type { MtlsStep } from '../engine/effects.js';
import {
  describePossible,
  initialSnapshot,
  inspect,
  phaseOf,
  possibleCommands,
  type CommandType,
  type Phase,
} from '../engine/vocabulary.js';
import { silentLogger, type Logger } from '../log/logger.js';
import type { MigrationContext } from '../machine/types.js';
import type { MeshAdapter } from '../mesh/types.js';
import type { ResolvedPlan } from '../plan/load.js';
import type { PolicySpec } from '../plan/policy-schema.js';
import type { EngineEvent } from '../engine/history.js';
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
  onEvent?: (e: EngineEvent) => void;
  /** PeerAuthentication adapter for plans with spec.mtls.tightenAfterCompletion. */
  mtls?: MtlsStep;
  /** Delay before the engine is called again after it threw (an effect timed out, the store failed). */
  retryDelayMs?: number;
}

export interface RunResult {
  phase: Phase;
  weight: number;
  reason?: string;
  context: MigrationContext;
}

export class MigrationRunner {
  readonly id: string;
  readonly policy: PolicySpec;
  private readonly clock: Clock;
  private readonly log: Logger;
  private persisted: unknown;
  private started = false;
  private last?: Advanced;
  private queue: EngineCommand[] = [];
  private pumping?: Promise<void>;
  private again = false;
  private timer: unknown;
  private stopped = false;
  private settle!: (r: RunResult) => void;
  /** Resolves when the migration reaches a final state. */
  readonly done: Promise<RunResult>;

  constructor(private readonly opts: RunnerOptions) {
    this.id = opts.id ?? opts.plan.name;
    this.policy = runConfig(opts.plan, opts.timeScale ?? 1).policy;
    this.clock = opts.clock ?? systemClock;
    this.log = (opts.logger ?? silentLogger).child({ migration: this.id });
    this.done = new Promise((resolve) => (this.settle = resolve));
  }

  private emit(e: EngineEvent) {
    this.opts.onEvent?.(e);
  }

  /** Starts (or resumes from the store) and returns once the first piece of progress is under way. */
  async start(): Promise<void> {
    this.persisted = this.opts.store ? await this.opts.store.load(this.id) : undefined;
    this.started = true;
    this.emit({
      type: 'started',
      at: this.clock.now(),
      migration: this.id,
      policy: this.opts.plan.policyName,
      steps: this.policy.steps,
      resumed: this.persisted !== undefined,
    });
    this.kick();
  }

  private kick() {
    if (this.stopped) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.clearTimer();
    this.pumping = this.pump().finally(() => {
      this.pumping = undefined;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  private async pump(): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      const commands = this.queue.splice(0);
      let r: Advanced;
      try {
        r = await advance(
          {
            mesh: this.opts.mesh,
            metrics: this.opts.metrics,
            clock: this.clock,
            log: this.log,
            onEvent: (e) => this.emit(e),
            ...(this.opts.mtls ? { mtls: this.opts.mtls } : {}),
          },
          {
            id: this.id,
            plan: this.opts.plan,
            timeScale: this.opts.timeScale ?? 1,
            snapshot: this.persisted,
            commands,
            start: true,
          },
        );
        this.persisted = r.snapshot;
        this.last = r;
        await this.opts.store?.save(this.id, r.snapshot);
      } catch (err) {
        this.log.error({ err: (err as Error).message }, 'engine step failed; trying again');
        this.queue.unshift(...commands.filter((c) => c.type === 'ABORT'));
        this.arm(this.clock.now() + (this.opts.retryDelayMs ?? 5_000));
        return;
      }
      if (r.terminal) {
        this.settle({
          phase: r.phase,
          weight: r.weight,
          ...(r.reason ? { reason: r.reason } : {}),
          context: r.context,
        });
        return;
      }
      if (this.queue.length) continue;
      if (r.nextWakeAt !== undefined && r.nextWakeAt <= this.clock.now()) continue;
      if (r.nextWakeAt !== undefined) this.arm(r.nextWakeAt);
      return;
    }
  }

  private arm(at: number) {
    this.clearTimer();
    this.timer = this.clock.setTimeout(
      () => {
        this.timer = undefined;
        this.kick();
      },
      Math.max(0, at - this.clock.now()),
    );
  }

  private clearTimer() {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * Queues PROMOTE / PAUSE / RESUME / ABORT. Refused at once when the migration's current state cannot accept it;
   * the engine checks again against the state it finds, and reports the outcome as a `command` event.
   */
  command(
    type: CommandType,
    by?: string,
    reason?: string,
  ): { accepted: boolean; phase: Phase; reason?: string } {
    const s = this.view();
    const possible = s.possible;
    const accepted = possible.includes(type);
    if (!accepted) {
      const why = `${type} is not possible while ${s.phase} (${describePossible(possible)})`;
      this.emit({
        type: 'command',
        at: this.clock.now(),
        command: type,
        ...(by ? { by } : {}),
        accepted: false,
        reason: why,
        refused: why,
      });
      return { accepted: false, phase: s.phase, reason: why };
    }
    this.queue.push({ type, ...(by ? { by } : {}), ...(reason ? { reason } : {}) });
    this.kick();
    return { accepted: true, phase: s.phase };
  }

  private view(): { phase: Phase; possible: CommandType[]; context: MigrationContext } {
    if (this.last)
      return { phase: this.last.phase, possible: this.last.possible, context: this.last.context };
    if (!this.started) throw new Error('migration not started');
    const config = runConfig(this.opts.plan, this.opts.timeScale ?? 1).config;
    const s = inspect(this.persisted ?? initialSnapshot(config, this.clock.now()), config);
    return { phase: phaseOf(s), possible: possibleCommands(s), context: s.context };
  }

  /** The last committed phase and context. */
  snapshot(): { phase: Phase; context: MigrationContext } {
    const v = this.view();
    return { phase: v.phase, context: v.context };
  }

  /** Stops driving (the persisted state stays; a later runner resumes it). */
  stop(): void {
    this.stopped = true;
    this.clearTimer();
  }
}
