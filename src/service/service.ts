/** What the HTTP API does with Redis and the queue: submit plans, read state and history, queue commands. */
import { randomBytes } from 'node:crypto';
import { createActor } from 'xstate';
import type { Logger } from '../log/logger.js';
import { migrationMachine, phaseOf, TERMINAL_PHASES, type Phase } from '../machine/migration.js';
import type { CommandType } from '../machine/types.js';
import { ValidationError } from '../plan/errors.js';
import { parsePlan, type ResolvedPlan } from '../plan/load.js';
import { systemClock, type Clock } from '../runner/clock.js';
import { machineConfig } from '../runner/runner.js';
import type { MigrationQueue } from './queue.js';
import { absoluteStart, nextCron } from './schedule.js';
import type { HistoryEntry, MigrationRecord, RedisMigrationStore } from './store.js';

export interface MigrationServiceOptions {
  store: RedisMigrationStore;
  queue: MigrationQueue;
  logger: Logger;
  clock?: Clock;
  /** Policy time scale given to new migrations (1 in production). */
  timeScale?: number;
  policiesDir?: string;
}

export interface MigrationView {
  id: string;
  name: string;
  namespace: string;
  phase: string;
  weight: number;
  steps: number[];
  policy: string;
  reason?: string;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
  nextWakeAt?: string;
  schedule?: ResolvedPlan['schedule'];
  heldByWindow: boolean;
  seq: number;
  lastVerdict?: unknown;
}

export class CommandRefusedError extends Error {
  constructor(
    message: string,
    readonly phase: string,
  ) {
    super(message);
    this.name = 'CommandRefusedError';
  }
}

export class NotFoundError extends Error {
  constructor(id: string) {
    super(`no migration with id "${id}" (GET /v1/migrations lists them)`);
    this.name = 'NotFoundError';
  }
}

const ALLOWED: Partial<Record<Phase, string>> = {
  pending: 'abort',
  preflight: 'abort',
  shifting: 'promote, pause, abort',
  awaitingApproval: 'promote, pause, abort',
  paused: 'resume, abort',
};

export class MigrationService {
  private readonly clock: Clock;
  constructor(private readonly o: MigrationServiceOptions) {
    this.clock = o.clock ?? systemClock;
  }

  /** Validates and stores a plan, then enqueues its first drive job (or its scheduled start). */
  async submit(text: string, by: string): Promise<MigrationView> {
    const plan = parsePlan(text, 'request body', this.o.policiesDir);
    const now = this.clock.now();
    const start = plan.schedule?.start;
    if (start?.cron) {
      try {
        nextCron(start.cron, start.timeZone, now);
      } catch (err) {
        throw new ValidationError('request body', [
          { path: 'spec.schedule.start.cron', message: (err as Error).message },
        ]);
      }
    }
    const startAt = absoluteStart(plan.schedule);
    const id = `${plan.name}-${randomBytes(3).toString('hex')}`;
    const rec: MigrationRecord = {
      id,
      name: plan.name,
      namespace: plan.namespace,
      plan,
      seq: 0,
      phase: 'pending',
      weight: 0,
      createdAt: now,
      createdBy: by,
      updatedAt: now,
      timeScale: this.o.timeScale ?? 1,
      ...(startAt !== undefined ? { startAt } : {}),
      awaitingCron: !!start?.cron,
      heldByWindow: false,
    };
    await this.o.store.create(rec, {
      type: 'submitted',
      at: now,
      by,
      plan: plan.name,
      namespace: plan.namespace,
      policy: plan.policyName,
      steps: plan.policy.steps,
      ...(plan.schedule ? { schedule: plan.schedule } : {}),
    });
    if (start?.cron) await this.o.queue.scheduleCronStart(id, start.cron, start.timeZone);
    else await this.o.queue.enqueueDrive(id, 0, startAt !== undefined ? Math.max(0, startAt - now) : 0);
    this.o.logger.info(
      { migration: id, by, namespace: plan.namespace, schedule: plan.schedule },
      'submitted',
    );
    return this.view(rec);
  }

  view(rec: MigrationRecord): MigrationView {
    return {
      id: rec.id,
      name: rec.name,
      namespace: rec.namespace,
      phase: rec.phase,
      weight: rec.weight,
      steps: rec.plan.policy.steps,
      policy: rec.plan.policyName,
      ...(rec.reason ? { reason: rec.reason } : {}),
      createdAt: new Date(rec.createdAt).toISOString(),
      createdBy: rec.createdBy,
      updatedAt: new Date(rec.updatedAt).toISOString(),
      ...(rec.nextWakeAt !== undefined ? { nextWakeAt: new Date(rec.nextWakeAt).toISOString() } : {}),
      ...(rec.plan.schedule ? { schedule: rec.plan.schedule } : {}),
      heldByWindow: rec.heldByWindow,
      seq: rec.seq,
      ...(rec.lastVerdict ? { lastVerdict: rec.lastVerdict } : {}),
    };
  }

  async list(limit = 100, offset = 0): Promise<MigrationView[]> {
    return (await this.o.store.list(limit, offset)).map((r) => this.view(r));
  }

  async get(
    id: string,
  ): Promise<{ migration: MigrationView; history: HistoryEntry[]; lastVerdicts: HistoryEntry[] }> {
    const rec = await this.o.store.get(id);
    if (!rec) throw new NotFoundError(id);
    const history = await this.o.store.history(id);
    return {
      migration: this.view(rec),
      history,
      lastVerdicts: history.filter((h) => h.type === 'verdict').slice(-5),
    };
  }

  async history(id: string, after?: string): Promise<HistoryEntry[]> {
    if (!(await this.o.store.redis.exists(this.o.store.key(id)))) throw new NotFoundError(id);
    return this.o.store.history(id, after ? { after } : {});
  }

  /**
   * Queues PROMOTE / PAUSE / RESUME / ABORT for the worker driving the migration. Refused at once (409) when the
   * migration's current state cannot accept it; the worker re-checks against the state it finds.
   */
  async command(
    id: string,
    type: CommandType,
    by: string,
    reason?: string,
  ): Promise<{ queued: true; phase: string }> {
    const rec = await this.o.store.get(id);
    if (!rec) throw new NotFoundError(id);
    const phase = rec.phase as Phase;
    if (TERMINAL_PHASES.includes(phase))
      throw new CommandRefusedError(`${type} is not possible: the migration has finished (${phase})`, phase);
    if (rec.snapshot !== undefined) {
      const snap = createActor(migrationMachine, {
        snapshot: rec.snapshot as never,
        input: { config: machineConfig(rec.plan.policy), now: 0 },
      }).getSnapshot();
      const event = { type, at: this.clock.now(), by };
      // An effect in flight (a weight write) refuses PROMOTE for a moment; queue it rather than refuse it.
      const inFlight = /applying|analyzing|guarding|preflight|rollingBack|securing/.test(
        JSON.stringify(snap.value),
      );
      if (!inFlight && !snap.can(event)) {
        const p = phaseOf(snap);
        throw new CommandRefusedError(
          `${type} is not possible while ${p}${ALLOWED[p] ? ` (possible now: ${ALLOWED[p]})` : ''}`,
          p,
        );
      }
    } else if (type !== 'ABORT') {
      throw new CommandRefusedError(
        `${type} is not possible before the migration starts (possible now: abort)`,
        phase,
      );
    }
    await this.o.store.pushCommand(id, { type, by, at: this.clock.now(), ...(reason ? { reason } : {}) });
    // Run the migration's pending job now; retry if the seq moved while we looked.
    for (let i = 0; i < 3; i++) {
      const seq = Number(await this.o.store.redis.hget(this.o.store.key(id), 'seq'));
      await this.o.queue.kick(id, seq);
      if (Number(await this.o.store.redis.hget(this.o.store.key(id), 'seq')) === seq) break;
    }
    this.o.logger.info({ migration: id, command: type, by }, 'command queued');
    return { queued: true, phase };
  }
}
