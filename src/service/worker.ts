/**
 * The service worker: processes drive jobs. One job = one bounded piece of progress for one migration:
 *
 *   take the migration's lock at the job's seq (fencing) → restore the persisted snapshot (an actor that was
 *   mid-effect runs again; the mesh writes are idempotent) → apply queued commands (ABORT first and alone) →
 *   start / hold for schedule, windows and concurrency limits → TICK if an analysis is due → wait until no
 *   effect is in flight → commit snapshot + history + seq+1 atomically, only if the lock is still ours →
 *   enqueue the job for seq+1 at the next wake-up → release the lock.
 *
 * A duplicated or retried job finds a different seq and does nothing; a worker that lost its lock cannot write
 * to the mesh (checked before every write) nor commit.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { DelayedError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { createActor, type SnapshotFrom } from 'xstate';
import type { MetricsProvider } from '../gate/provider.js';
import type { Logger } from '../log/logger.js';
import { nextWakeAt, phaseOf, TERMINAL_PHASES, type Phase } from '../machine/migration.js';
import type { CommandType } from '../machine/types.js';
import type { MeshAdapter } from '../mesh/types.js';
import { scalePolicy } from '../plan/load.js';
import { machineWithActors } from '../runner/actors.js';
import { systemClock, type Clock } from '../runner/clock.js';
import type { RunnerEvent } from '../runner/events.js';
import { machineConfig } from '../runner/runner.js';
import type { ServiceMetrics } from './metrics.js';
import { QUEUE_NAME, type DriveJob, type MigrationQueue, type StartJob } from './queue.js';
import { clockRepeatStrategy, mayAdvance, nextWindowOpen } from './schedule.js';
import {
  FencedError,
  type CommandMessage,
  type MigrationRecord,
  type NewHistoryEntry,
  type RedisMigrationStore,
} from './store.js';

export interface WorkerOptions {
  store: RedisMigrationStore;
  queue: MigrationQueue;
  connection: ConnectionOptions;
  mesh: MeshAdapter;
  metrics: MetricsProvider;
  logger: Logger;
  clock?: Clock;
  serviceMetrics?: ServiceMetrics;
  /** Drive jobs processed in parallel by this process (they mostly wait on Kubernetes and Prometheus). */
  concurrency?: number;
  /** Migration lock expiry and BullMQ job lock duration: how soon another worker takes over after a crash. */
  lockTtlMs?: number;
  limits?: { perNamespace: number; total: number };
  /** Wake-ups are rounded up to a multiple of this, so that many migrations tick together (batched queries). */
  tickAlignMs?: number;
  /** Retry delay while waiting for a concurrency slot. */
  slotRetryMs?: number;
  /** Every this often, re-create drive jobs that went missing. 0 = no reconciler from this worker. */
  reconcileEveryMs?: number;
  /** Upper bound for one job (preflight + write + analysis); a stuck job is failed and retried. */
  jobTimeoutMs?: number;
  workerId?: string;
}

type Snap = SnapshotFrom<ReturnType<typeof machineWithActors>>;

/** An invoked effect (preflight, weight write, analysis, rollback, mTLS tightening…) is still running. */
function busy(s: { status: string; children: Record<string, unknown> }): boolean {
  if (s.status !== 'active') return false;
  return Object.values(s.children).some((c) => c !== undefined);
}

function reasonOf(s: Snap): string | undefined {
  const phase = phaseOf(s);
  const c = s.context;
  if (phase === 'paused') return c.pauseReason;
  if (phase === 'rollingBack' || phase === 'rolledBack' || phase === 'aborted') return c.rollback?.reason;
  if (phase === 'failed') return c.error;
  return undefined;
}

/** Compact, JSON-friendly history entry for an actor event (verdicts keep their numbers). */
function historyOf(e: RunnerEvent): NewHistoryEntry {
  if (e.type === 'verdict') {
    const v = e.verdict;
    return {
      type: 'verdict',
      at: e.at,
      outcome: v.outcome,
      weight: v.weight,
      summary: v.summary,
      checks: v.checks.map((c) => ({
        name: c.name,
        outcome: c.outcome,
        ...(c.observed !== undefined ? { observed: c.observed } : {}),
        ...(c.threshold !== undefined ? { threshold: c.threshold } : {}),
      })),
      ...(v.sample
        ? {
            sample: {
              source: v.sample.source,
              target: v.sample.target,
              windowMs: v.sample.windowMs,
              queries: v.sample.queries,
            },
          }
        : {}),
    };
  }
  return { ...e } as NewHistoryEntry;
}

export class MigrationWorker {
  readonly id: string;
  private worker?: Worker;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly lockTtlMs: number;
  private inFlight = 0;

  constructor(private readonly o: WorkerOptions) {
    this.id = o.workerId ?? `${hostname()}:${process.pid}:${randomBytes(2).toString('hex')}`;
    this.clock = o.clock ?? systemClock;
    this.log = o.logger.child({ worker: this.id });
    this.lockTtlMs = o.lockTtlMs ?? 30_000;
  }

  async start(): Promise<void> {
    this.worker = new Worker(QUEUE_NAME, (job, token) => this.process(job, token), {
      connection: this.o.connection,
      prefix: `${this.o.queue.prefix}:bull`,
      concurrency: this.o.concurrency ?? 50,
      lockDuration: this.lockTtlMs,
      stalledInterval: Math.max(500, Math.min(30_000, Math.floor(this.lockTtlMs / 2))),
      maxStalledCount: 100,
      settings: { repeatStrategy: clockRepeatStrategy(this.clock) },
    });
    this.worker.on('error', (err) => this.log.error({ err: err.message }, 'worker error'));
    this.worker.on('failed', (job, err) =>
      this.log.warn({ job: job?.id, err: err.message, attempts: job?.attemptsMade }, 'job failed'),
    );
    await this.worker.waitUntilReady();
    if ((this.o.reconcileEveryMs ?? 0) > 0) await this.o.queue.ensureReconciler(this.o.reconcileEveryMs!);
    this.log.info({ concurrency: this.o.concurrency ?? 50, lockTtlMs: this.lockTtlMs }, 'worker started');
  }

  /** Graceful stop: take no new jobs, let in-flight ones finish (they commit and release their locks). */
  async stop(): Promise<void> {
    await this.worker?.close();
  }

  /** For tests of a crash: close without waiting for in-flight jobs. */
  async kill(): Promise<void> {
    await this.worker?.close(true);
  }

  get busyJobs(): number {
    return this.inFlight;
  }

  private async process(job: Job, token?: string): Promise<unknown> {
    if (job.name === 'drive') return this.drive(job as Job<DriveJob>, token);
    if (job.name === 'start') return this.cronFired(job as Job<StartJob>);
    if (job.name === 'reconcile') return this.reconcile();
    throw new Error(`unknown job ${job.name}`);
  }

  /** A cron start fired: release the migration and run its drive job now. */
  private async cronFired(job: Job<StartJob>) {
    const { store, queue } = this.o;
    const id = job.data.id;
    const released = await store.redis.hset(store.key(id), 'awaitingCron', '0');
    void released;
    await store.redis.xadd(
      store.key(id, 'history'),
      '*',
      'seq',
      '0',
      'e',
      JSON.stringify({ type: 'schedule', at: this.clock.now(), text: 'cron start fired' }),
    );
    await queue.removeCronStart(id);
    const rec = await store.get(id);
    if (rec) await queue.kick(id, rec.seq);
    return { released: id };
  }

  /** Re-creates the drive job of every live migration whose job went missing or failed. */
  async reconcile(): Promise<{ checked: number; fixed: number }> {
    const { store, queue } = this.o;
    let checked = 0;
    let fixed = 0;
    for (const id of await store.ids()) {
      const rec = await store.get(id);
      if (!rec || TERMINAL_PHASES.includes(rec.phase as Phase) || rec.awaitingCron) continue;
      checked++;
      const state = await queue.state(id, rec.seq);
      if (state === undefined || state === 'failed' || state === 'completed') {
        if (state === 'completed') continue; // committed: the next job exists or the commit raced us
        const delay = rec.nextWakeAt !== undefined ? Math.max(0, rec.nextWakeAt - this.clock.now()) : 0;
        if (state === 'failed') await queue.kick(id, rec.seq);
        else await queue.enqueueDrive(id, rec.seq, delay);
        fixed++;
        this.log.warn({ migration: id, seq: rec.seq, state: state ?? 'missing' }, 'reconciled drive job');
      }
    }
    return { checked, fixed };
  }

  private alignUp(t: number): number {
    const a = this.o.tickAlignMs ?? 0;
    return a > 0 ? Math.ceil(t / a) * a : t;
  }

  /** The tick slot a job belongs to: analyses are dated by it, so the next one lands in a slot too, not one late. */
  private alignDown(t: number): number {
    const a = this.o.tickAlignMs ?? 0;
    return a > 0 ? Math.floor(t / a) * a : t;
  }

  private async drive(job: Job<DriveJob>, token?: string): Promise<unknown> {
    const { store, queue } = this.o;
    const { id, seq } = job.data;
    const sm = this.o.serviceMetrics;
    const lockToken = `${this.id}|${seq}|${randomBytes(4).toString('hex')}`;
    const lock = await store.acquire(id, seq, lockToken, this.lockTtlMs, this.id, this.clock.now());
    if (!lock.ok) {
      if (lock.why === 'locked') {
        // Another worker holds this migration (or a dead worker's lock has not expired yet): come back later.
        sm?.jobs.inc({ outcome: 'locked' });
        await job.moveToDelayed(Date.now() + Math.max(100, Math.min(lock.ttlMs, this.lockTtlMs)), token);
        throw new DelayedError();
      }
      sm?.jobs.inc({ outcome: 'stale' });
      return { skipped: lock.why };
    }
    this.inFlight++;
    let lost = false;
    const keepAlive = setInterval(
      () => {
        store
          .extend(id, lockToken, this.lockTtlMs)
          .then((ok) => {
            if (!ok) lost = true;
          })
          .catch(() => undefined);
      },
      Math.max(100, Math.floor(this.lockTtlMs / 3)),
    );
    try {
      const rec = await store.get(id);
      if (!rec) return { skipped: 'gone' };
      const out = await this.step(rec, seq, lockToken, lock.ok ? lock.previous : undefined, () => lost);
      sm?.jobs.inc({ outcome: 'committed' });
      if (out.next !== undefined) await queue.enqueueDrive(id, out.seq, out.next);
      return out;
    } catch (err) {
      if (err instanceof FencedError) {
        sm?.jobs.inc({ outcome: 'fenced' });
        this.log.warn({ migration: id, seq, err: err.message }, 'fenced out: discarded this job');
        return { fenced: err.message };
      }
      sm?.jobs.inc({ outcome: 'error' });
      this.log.error(
        { migration: id, seq, err: (err as Error).message },
        'drive job failed; BullMQ retries it',
      );
      throw err;
    } finally {
      clearInterval(keepAlive);
      this.inFlight--;
      await store.release(id, lockToken).catch(() => undefined);
    }
  }

  /** One bounded piece of progress; returns the new seq and the delay of the next job (undefined = none). */
  private async step(
    rec: MigrationRecord,
    seq: number,
    lockToken: string,
    previous: { by: string; pid?: number; since: number } | undefined,
    lost: () => boolean,
  ): Promise<{ seq: number; next?: number; phase: Phase; weight: number }> {
    const { store } = this.o;
    const sm = this.o.serviceMetrics;
    const clock = this.clock;
    const id = rec.id;
    const plan = rec.plan;
    const schedule = plan.schedule;
    const log = this.log.child({ migration: id, seq });
    const policy = scalePolicy(plan.policy, rec.timeScale);
    const history: NewHistoryEntry[] = [];
    const t0 = clock.now();
    if (previous) {
      sm?.takeovers.inc();
      history.push({
        type: 'takeover',
        at: t0,
        by: this.id,
        from: previous.by,
        ...(previous.pid !== undefined ? { fromPid: previous.pid } : {}),
        sinceMs: t0 - previous.since,
        text: `resumed after ${previous.by} stopped mid-step ${t0 - previous.since} ms ago`,
      });
      log.warn(
        { from: previous.by, sinceMs: t0 - previous.since },
        'taking over a migration stopped mid-step',
      );
    }

    const machine = machineWithActors({
      plan,
      policy,
      mesh: this.o.mesh,
      metrics: this.o.metrics,
      clock,
      log,
      emit: (e) => {
        history.push(historyOf(e));
        if (e.type === 'verdict')
          sm?.verdicts.inc({ result: e.verdict.outcome, namespace: plan.namespace, migration: id });
        if (e.type === 'weight' && !e.rollback && e.weight !== e.previous) {
          const started = actor.getSnapshot().context.stepStartedAt;
          if (started !== undefined)
            sm?.stepDuration.observe({ namespace: plan.namespace }, (e.at - started) / 1000);
        }
      },
      currentWeight: () => actor.getSnapshot().context.weight,
      beforeWrite: async () => {
        if (lost()) throw new FencedError(`lost the lock on migration ${id}; refusing to write`);
        await store.fence(id, seq, lockToken);
      },
    });
    const input = { config: machineConfig(policy), now: t0 };
    const actor = rec.snapshot
      ? createActor(machine, { snapshot: rec.snapshot as never, input })
      : createActor(machine, { input });
    let lastPhase = phaseOf(actor.getSnapshot());
    let lastWeight = actor.getSnapshot().context.weight;
    const sub = actor.subscribe({
      next: (s) => {
        const phase = phaseOf(s);
        if (phase !== lastPhase) {
          const reason = reasonOf(s);
          history.push({
            type: 'phase',
            at: clock.now(),
            phase,
            from: lastPhase,
            weight: s.context.weight,
            ...(reason ? { reason } : {}),
          });
          if (phase === 'rolledBack' || phase === 'aborted')
            sm?.rollbacks.inc({
              cause: s.context.rollback?.cause ?? 'unknown',
              namespace: plan.namespace,
              migration: id,
            });
          lastPhase = phase;
        }
        lastWeight = s.context.weight;
      },
      error: () => undefined,
    });
    const timeoutMs = this.o.jobTimeoutMs ?? Math.max(60_000, this.lockTtlMs * 4);
    const settle = () =>
      new Promise<Snap>((resolve, reject) => {
        let done = false;
        const finish = (s: Snap) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          inner?.unsubscribe();
          resolve(s);
        };
        const timer = setTimeout(() => {
          done = true;
          inner?.unsubscribe();
          reject(new Error(`migration ${id}: an effect did not finish within ${timeoutMs} ms`));
        }, timeoutMs);
        const inner: { unsubscribe(): void } | undefined = actor.subscribe({
          next: (s) => {
            if (!busy(s)) finish(s);
          },
          error: (err) => {
            done = true;
            clearTimeout(timer);
            reject(err instanceof Error ? err : new Error(String(err)));
          },
        });
        const now = actor.getSnapshot();
        if (!busy(now)) finish(now);
      });

    let heldByWindow = rec.heldByWindow;
    let awaitingCron = rec.awaitingCron;
    let waitUntil: number | undefined;
    let waitReason: string | undefined;
    let inboxConsumed = 0;
    try {
      actor.start();
      let snap = await settle(); // a restored effect (write, analysis, rollback) runs again to completion

      // 1. Operator commands, in order; an ABORT wins over everything queued with it.
      const inbox = await store.inbox(id);
      inboxConsumed = inbox.length;
      const abort = inbox.find((c) => c.type === 'ABORT');
      const apply: CommandMessage[] = abort ? [abort] : inbox;
      for (const c of inbox) {
        if (abort && c !== abort)
          history.push({
            type: 'command',
            at: clock.now(),
            command: c.type,
            by: c.by,
            accepted: false,
            reason: `superseded by ABORT from ${abort.by}`,
          });
      }
      for (const c of apply) {
        const event = {
          type: c.type as CommandType,
          at: clock.now(),
          by: c.by,
          ...(c.reason ? { reason: c.reason } : {}),
        };
        const accepted = actor.getSnapshot().can(event);
        const phase = phaseOf(actor.getSnapshot());
        history.push({
          type: 'command',
          at: event.at,
          command: c.type,
          by: c.by,
          accepted,
          ...(c.reason ? { reason: c.reason } : {}),
          ...(accepted ? {} : { refused: `${c.type} is not possible while ${phase}` }),
        });
        if (accepted) {
          if (c.type === 'PAUSE' || c.type === 'RESUME' || c.type === 'ABORT') heldByWindow = false;
          if (c.type === 'ABORT' && awaitingCron) {
            awaitingCron = false;
            await this.o.queue.removeCronStart(id).catch(() => undefined);
          }
          actor.send(event);
          snap = await settle();
        }
      }

      // 2. Start: scheduled time, advance windows, concurrency limits.
      const now = clock.now();
      if (phaseOf(snap) === 'pending') {
        const win = mayAdvance(schedule, now);
        if (awaitingCron) {
          waitReason = `waiting for the cron start "${schedule?.start?.cron}" (${schedule?.start?.timeZone})`;
        } else if (rec.startAt !== undefined && now < rec.startAt) {
          waitUntil = rec.startAt;
          waitReason = `scheduled to start at ${new Date(rec.startAt).toISOString()}`;
        } else if (!win) {
          waitUntil = nextWindowOpen(schedule, now);
          waitReason = `outside the advance windows: starts when the next window opens${waitUntil ? ` (${new Date(waitUntil).toISOString()})` : ''}`;
        } else {
          const slot = await store.takeSlot(
            id,
            plan.namespace,
            this.o.limits ?? { perNamespace: 0, total: 0 },
          );
          if (!slot.ok) {
            waitUntil = now + (this.o.slotRetryMs ?? 2000);
            waitReason = `queued: ${slot.running} migrations already running in ${slot.scope === 'namespace' ? `namespace ${plan.namespace}` : 'the cluster'} (the limit)`;
          } else {
            actor.send({ type: 'START', at: now });
            snap = await settle();
          }
        }
        if (waitReason && waitReason !== rec.reason)
          history.push({ type: 'waiting', at: now, reason: waitReason });
      }

      // 3. Advance windows: outside them, hold (PAUSE, still guarded); inside, resume what the schedule held.
      if (schedule?.windows?.length) {
        const open = mayAdvance(schedule, clock.now());
        const phase = phaseOf(snap);
        if (!open && (phase === 'shifting' || phase === 'awaitingApproval')) {
          const at = clock.now();
          actor.send({
            type: 'PAUSE',
            at,
            by: 'schedule',
            reason: `outside the advance windows; holding at ${snap.context.weight} % until the next window opens`,
          });
          snap = await settle();
          heldByWindow = phaseOf(snap) === 'paused';
        } else if (open && phase === 'paused' && heldByWindow) {
          actor.send({ type: 'RESUME', at: clock.now(), by: 'schedule' });
          snap = await settle();
          heldByWindow = false;
        }
      }

      // 4. Time-based progress: an analysis (and the step it may unlock) when one is due.
      const wake = nextWakeAt(snap);
      if (wake !== undefined && wake <= clock.now() + 5) {
        actor.send({ type: 'TICK', at: Math.max(wake, this.alignDown(clock.now())) });
        snap = await settle();
      }

      if (lost()) throw new FencedError(`lost the lock on migration ${id} during the job; discarded`);

      // 5. Commit, and decide when the next job runs.
      const phase = phaseOf(snap);
      const terminal = TERMINAL_PHASES.includes(phase);
      let next: number | undefined;
      if (!terminal) {
        const candidates: number[] = [];
        const w = nextWakeAt(snap);
        if (w !== undefined) candidates.push(w);
        if (waitUntil !== undefined) candidates.push(waitUntil);
        if (heldByWindow) {
          const open = nextWindowOpen(schedule, clock.now());
          if (open !== undefined) candidates.push(open);
        }
        if (candidates.length) next = Math.max(0, this.alignUp(Math.min(...candidates)) - clock.now());
      }
      const reason = phase === 'pending' ? waitReason : reasonOf(snap);
      const verdict = snap.context.lastVerdict;
      const committed = await store.commit(id, plan.namespace, {
        token: lockToken,
        seq,
        fields: {
          snapshot: JSON.stringify(actor.getPersistedSnapshot()),
          phase,
          weight: String(snap.context.weight),
          updatedAt: String(clock.now()),
          // Last phase change or weight write: what the "migration stuck" alert watches.
          ...(phase !== rec.phase || snap.context.weight !== rec.weight
            ? { transitionAt: String(clock.now()) }
            : {}),
          heldByWindow: heldByWindow ? '1' : '0',
          awaitingCron: awaitingCron ? '1' : '0',
          reason: reason ?? null,
          lastVerdict: verdict ? JSON.stringify(verdict) : null,
          nextWakeAt: next !== undefined ? String(clock.now() + next) : null,
        },
        inboxConsumed,
        releaseSlot: terminal,
        history,
      });
      if (!terminal && committed.inbox > 0) next = 0; // a command arrived while we worked
      if (terminal) log.info({ phase, weight: snap.context.weight, reason }, 'migration finished');
      return {
        seq: committed.seq,
        ...(next !== undefined ? { next } : {}),
        phase,
        weight: lastWeight,
      };
    } finally {
      sub.unsubscribe();
      actor.stop();
    }
  }
}
