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
import type { MetricsProvider } from '../gate/input/provider.js';
import type { Logger } from '../log/logger.js';
import { isTerminalPhase } from '../engine/vocabulary.js';
import type { MtlsStep } from '../engine/effects.js';
import type { MeshAdapter } from '../mesh/types.js';
import { systemClock, type Clock } from '../engine/clock.js';
import { driveStep } from './drive-step.js';
import type { ServiceMetrics } from './metrics.js';
import { QUEUE_NAME, jobRetryDelay, type DriveJob, type MigrationQueue, type StartJob } from './queue.js';
import type { RedisHealth } from '../store/redis-health.js';
import { clockRepeatStrategy } from './schedule.js';
import { FencedError, type NewHistoryEntry, type RedisMigrationStore } from '../store/store.js';

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
  /** PeerAuthentication adapter for plans with spec.mtls.tightenAfterCompletion ("policy second"). */
  mtls?: MtlsStep;
  /** Where BullMQ's connection errors go (quiet while Redis is known to be down); else one error line each. */
  redisHealth?: Pick<RedisHealth, 'noise'>;
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
      prefix: this.o.queue.bullPrefix,
      concurrency: this.o.concurrency ?? 50,
      lockDuration: this.lockTtlMs,
      stalledInterval: Math.max(500, Math.min(30_000, Math.floor(this.lockTtlMs / 2))),
      maxStalledCount: 100,
      settings: {
        repeatStrategy: clockRepeatStrategy(this.clock),
        // Only when the worker could not reschedule a failed step itself (Redis gone): still capped.
        backoffStrategy: (attemptsMade: number) => jobRetryDelay(attemptsMade),
      },
    });
    this.worker.on('error', (err) =>
      this.o.redisHealth
        ? this.o.redisHealth.noise('worker', err)
        : this.log.error({ err: err.message }, 'worker error'),
    );
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
    await store.releaseCron(id, { type: 'schedule', at: this.clock.now(), text: 'cron start fired' });
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
    await store.prune();
    for (const id of await store.liveIds()) {
      const rec = await store.get(id);
      if (!rec || isTerminalPhase(rec.phase) || rec.awaitingCron) continue;
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

  /** A history entry (and a metric, and a log line) for a migration whose previous driver stopped mid-step. */
  private takeover(id: string, previous: { by: string; pid?: number; since: number }): NewHistoryEntry {
    const t0 = this.clock.now();
    this.o.serviceMetrics?.takeovers.inc();
    this.log.warn(
      { migration: id, from: previous.by, sinceMs: t0 - previous.since },
      'taking over a migration stopped mid-step',
    );
    return {
      type: 'takeover',
      at: t0,
      by: this.id,
      from: previous.by,
      ...(previous.pid !== undefined ? { fromPid: previous.pid } : {}),
      sinceMs: t0 - previous.since,
      text: `resumed after ${previous.by} stopped mid-step ${t0 - previous.since} ms ago`,
    };
  }

  /**
   * A step that failed before its commit (Redis unreachable, an effect past its timeout): nothing was committed,
   * so the same job runs again after our own capped backoff (1 s, 2 s, 4 s … 30 s), not BullMQ's. The lease is
   * handed back marked as not running, so the next try is not mistaken for a takeover.
   */
  private async retryLater(
    job: Job<DriveJob>,
    token: string | undefined,
    err: Error,
    clear: () => Promise<void>,
  ) {
    const failures = (job.data.failures ?? 0) + 1;
    const delayMs = jobRetryDelay(failures);
    this.log.warn(
      { migration: job.data.id, seq: job.data.seq, err: err.message, failures, retryInMs: delayMs },
      'drive step failed before its commit; trying it again',
    );
    try {
      await clear();
      await job.updateData({ ...job.data, failures });
      await job.moveToDelayed(Date.now() + delayMs, token);
    } catch {
      throw err; // Redis is gone too: BullMQ's capped backoff (jobRetryDelay) brings the job back
    }
    throw new DelayedError();
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
      const history: NewHistoryEntry[] = [];
      // Our own earlier try of this step (a failed job, retried here) is not a takeover.
      if (lock.previous && lock.previous.by !== this.id) history.push(this.takeover(id, lock.previous));
      const out = await driveStep(
        {
          store,
          engine: {
            mesh: this.o.mesh,
            metrics: this.o.metrics,
            clock: this.clock,
            effectTimeoutMs: this.o.jobTimeoutMs ?? Math.max(60_000, this.lockTtlMs * 4),
            ...(this.o.mtls ? { mtls: this.o.mtls } : {}),
          },
          clock: this.clock,
          log: this.log.child({ migration: id }),
          ...(sm ? { serviceMetrics: sm } : {}),
          limits: this.o.limits ?? { perNamespace: 0, total: 0 },
          slotRetryMs: this.o.slotRetryMs ?? 2000,
          tickAlignMs: this.o.tickAlignMs ?? 0,
          removeCronStart: (m) => queue.removeCronStart(m),
        },
        rec,
        {
          seq,
          token: lockToken,
          check: async () => {
            if (lost) throw new FencedError(`lost the lock on migration ${id}; refusing to write`);
            await store.fence(id, seq, lockToken);
          },
        },
        history,
      );
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
      return this.retryLater(job, token, err as Error, () => store.stepFailed(id, lockToken));
    } finally {
      clearInterval(keepAlive);
      this.inFlight--;
      await store.release(id, lockToken).catch(() => undefined);
    }
  }
}
