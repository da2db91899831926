/** What the HTTP API does with Redis and the queue: submit plans, read state and history, queue commands. */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log/logger.js';
import { describePossible, isTerminalPhase, type CommandType } from '../engine/vocabulary.js';
import type { HistoryRecord } from '../engine/history.js';
import { possibleOf, viewOf, type MigrationView } from '../engine/view.js';
import { ValidationError } from '../plan/errors.js';
import { parsePlan } from '../plan/load.js';
import { systemClock, type Clock } from '../engine/clock.js';
import type { MigrationQueue } from '../worker/queue.js';
import { absoluteStart, nextCron } from '../worker/schedule.js';
import {
  COMMAND_STORE_BUDGET_MS,
  IDEMPOTENCY_TTL_MS,
  pushAnswer,
  replayed,
  type CommandRequest,
  type IdempotencySlot,
} from '../store/command-deadline.js';
import { describeRoute } from '../store/record.js';
import type { HistoryEntry, MigrationRecord, RedisMigrationStore } from '../store/store.js';

export interface MigrationServiceOptions {
  store: RedisMigrationStore;
  queue: MigrationQueue;
  logger: Logger;
  clock?: Clock;
  /** Policy time scale given to new migrations (1 in production). */
  timeScale?: number;
  policiesDir?: string;
}

export type { MigrationView } from '../engine/view.js';

export class CommandRefusedError extends Error {
  constructor(
    message: string,
    readonly phase: string,
    /** What the migration accepts instead. */
    readonly possible: CommandType[],
  ) {
    super(message);
    this.name = 'CommandRefusedError';
  }
}

/** Another migration is shifting the same VirtualService route (409, naming it). */
export class RouteBusyError extends Error {
  constructor(
    readonly running: string,
    route: string,
  ) {
    super(
      `${route} is being shifted by migration ${running}: one migration per route at a time (wait for it to finish, or abort it)`,
    );
    this.name = 'RouteBusyError';
  }
}

/** The caller may not command migrations in this namespace (HTTP 403; the message says why). */
export class ForbiddenError extends Error {
  constructor(
    message: string,
    readonly namespace: string,
  ) {
    super(message);
    this.name = 'ForbiddenError';
  }
}

/**
 * Who sends a command: the name the history records (`by`), and the interface's own access rule, asked once with
 * the migration's namespace. `authorize` answers undefined to allow, a message to refuse (ForbiddenError), or
 * throws (e.g. NotFoundError, so that a namespace the caller may not read is not revealed).
 */
export interface CommandPrincipal {
  by: string;
  authorize(namespace: string, type: CommandType): string | undefined | Promise<string | undefined>;
}

/** A caller whose authority was checked before meshshift sees the command (the controller: Kubernetes RBAC). */
export const trustedPrincipal = (by: string): CommandPrincipal => ({ by, authorize: () => undefined });

/** What a queued command answers (the HTTP API's 202 body). */
export interface CommandAnswer {
  queued: true;
  phase: string;
}

export class NotFoundError extends Error {
  constructor(id: string) {
    super(`no migration with id "${id}" (GET /v1/migrations lists them)`);
    this.name = 'NotFoundError';
  }
}

export class MigrationService {
  private readonly clock: Clock;
  constructor(private readonly o: MigrationServiceOptions) {
    this.clock = o.clock ?? systemClock;
  }

  /**
   * Validates and stores a plan, then enqueues its first drive job (or its scheduled start). `opts.id` makes
   * the submission idempotent (a second submit with the same id fails without enqueuing anything).
   * `opts.deadline`: Redis must store it by then (its clock), else nothing is stored (SubmissionExpiredError) —
   * so a request answered 503 never creates a migration later. Once stored, nothing fails the submission: a
   * drive job that cannot be enqueued now is re-created by the workers' reconciler.
   */
  async submit(
    text: string,
    by: string,
    opts: { id?: string; source?: string; deadline?: number } = {},
  ): Promise<MigrationView> {
    const plan = parsePlan(text, opts.source ?? 'request body', this.o.policiesDir);
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
    const id = opts.id ?? `${plan.name}-${randomBytes(3).toString('hex')}`;
    const running = await this.o.store.routeHolder(id, plan, false);
    if (running) throw new RouteBusyError(running, describeRoute(plan));
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
    const first: HistoryRecord = {
      type: 'submitted',
      at: now,
      by,
      plan: plan.name,
      namespace: plan.namespace,
      policy: plan.policyName,
      steps: plan.policy.steps,
      ...(plan.schedule ? { schedule: plan.schedule } : {}),
    };
    await this.o.store.create(rec, first, opts.deadline !== undefined ? { deadline: opts.deadline } : {});
    const queued = start?.cron
      ? this.o.queue.scheduleCronStart(id, start.cron, start.timeZone)
      : this.o.queue.enqueueDrive(id, 0, startAt !== undefined ? Math.max(0, startAt - now) : 0);
    void queued.catch((err: Error) =>
      this.o.logger.warn(
        { migration: id, err: err.message },
        start?.cron
          ? 'stored, but its cron start could not be scheduled: resubmit after aborting it'
          : 'stored; its first drive job could not be enqueued now (the reconciler re-creates it)',
      ),
    );
    this.o.logger.info(
      { migration: id, by, namespace: plan.namespace, schedule: plan.schedule },
      'submitted',
    );
    return this.view(rec);
  }

  view(rec: MigrationRecord): MigrationView {
    return viewOf(rec);
  }

  /** Newest first; `live`: only migrations that have not finished (read from the live index). */
  async list(limit = 100, offset = 0, o: { live?: boolean } = {}): Promise<MigrationView[]> {
    return (await this.o.store.list(limit, offset, o)).map((r) => this.view(r));
  }

  /** The migration, one page of its history (`historyNext`: the cursor of the next page) and its last verdicts. */
  async get(
    id: string,
    page: { after?: string; limit?: number } = {},
  ): Promise<{
    migration: MigrationView;
    history: HistoryEntry[];
    historyNext?: string;
    lastVerdicts: HistoryEntry[];
  }> {
    const rec = await this.o.store.get(id);
    if (!rec) throw new NotFoundError(id);
    const history = await this.o.store.historyPage(id, { ...page, limit: page.limit ?? 1000 });
    return {
      migration: this.view(rec),
      history: history.items,
      ...(history.next ? { historyNext: history.next } : {}),
      lastVerdicts: await this.o.store.recentVerdicts(id, 5),
    };
  }

  async history(id: string, after?: string, limit?: number): Promise<HistoryEntry[]> {
    if (!(await this.o.store.exists(id))) throw new NotFoundError(id);
    return this.o.store.history(id, { ...(after ? { after } : {}), ...(limit ? { count: limit } : {}) });
  }

  /**
   * The one authorise-then-command path of every interface (HTTP API, Slack, dashboard, controller): reads the
   * migration once, asks `principal.authorize` with its namespace, then queues PROMOTE / PAUSE / RESUME / ABORT
   * for the worker driving it. Refused at once (CommandRefusedError, 409) when the migration's current state
   * cannot accept it; the worker re-checks against the state it finds. Also returns the migration's namespace and
   * weight as read before the command.
   */
  async commandAs(
    principal: CommandPrincipal,
    id: string,
    command: { type: CommandType; reason?: string },
    req: CommandRequest = {},
  ): Promise<{ answer: CommandAnswer; namespace: string; weight: number }> {
    const rec = await this.o.store.get(id);
    if (!rec) throw new NotFoundError(id);
    const refused = await principal.authorize(rec.namespace, command.type);
    if (refused !== undefined) throw new ForbiddenError(refused, rec.namespace);
    const answer = await this.queueCommand(rec, command.type, principal.by, command.reason, req);
    return { answer, namespace: rec.namespace, weight: rec.weight };
  }

  private async queueCommand(
    rec: MigrationRecord,
    type: CommandType,
    by: string,
    reason: string | undefined,
    req: CommandRequest,
  ): Promise<CommandAnswer> {
    const id = rec.id;
    const idem: IdempotencySlot | undefined = req.idempotencyKey
      ? {
          key: this.o.store.keys.commandIdempotency(by, id, req.idempotencyKey),
          fingerprint: `${type}\n${reason ?? ''}`,
        }
      : undefined;
    const again = idem && (await replayed<CommandAnswer>((k) => this.o.store.idempotencyRecord(k), idem));
    if (again) return again; // a retry of a request that was queued: same answer, nothing queued twice
    if (isTerminalPhase(rec.phase))
      throw new CommandRefusedError(
        `${type} is not possible: the migration has finished (${rec.phase})`,
        rec.phase,
        [],
      );
    // The stored snapshot is always at rest (drivers commit after effects settle): ask the machine itself.
    const { phase, possible } = possibleOf(rec);
    if (!possible.includes(type))
      throw new CommandRefusedError(
        `${type} is not possible while ${phase} (${describePossible(possible)})`,
        phase,
        possible,
      );
    const answer: CommandAnswer = { queued: true, phase };
    const pushed = await this.o.store.pushCommand(
      id,
      { type, by, at: this.clock.now(), ...(reason ? { reason } : {}) },
      {
        deadline: req.deadline ?? Date.now() + COMMAND_STORE_BUDGET_MS,
        ...(idem
          ? { idempotency: { ...idem, answer: JSON.stringify(answer), ttlMs: IDEMPOTENCY_TTL_MS } }
          : {}),
      },
    );
    const result = pushAnswer(pushed, answer);
    if (pushed.outcome !== 'queued') return result;
    // Run the migration's pending job now; retry if the seq moved while we looked. Best effort: the command is
    // queued (the answer is 202), and the worker reads the inbox on the migration's next job anyway.
    try {
      for (let i = 0; i < 3; i++) {
        const seq = Number(await this.o.store.seq(id));
        await this.o.queue.kick(id, seq);
        if ((await this.o.store.seq(id)) === seq) break;
      }
    } catch (err) {
      this.o.logger.warn({ migration: id, err: (err as Error).message }, 'command queued; kick failed');
    }
    this.o.logger.info({ migration: id, command: type, by }, 'command queued');
    return result;
  }
}
