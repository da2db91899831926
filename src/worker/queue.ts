/**
 * The BullMQ side: one queue of drive jobs with deterministic ids (`<migration>-s<seq>`), a job scheduler per
 * cron-started migration, and a reconcile job scheduler that re-creates a drive job that went missing
 * (e.g. a worker died between commit and enqueue).
 */
import { Queue, type ConnectionOptions, type Job, type RepeatOptions } from 'bullmq';
import { Redis } from 'ioredis';
import type { Clock } from '../engine/clock.js';
import { systemClock } from '../engine/clock.js';
import { StoreKeys } from '../store/keys.js';
import { redisOptions } from '../store/redis-connection.js';
import { clockRepeatStrategy } from './schedule.js';

export const QUEUE_NAME = 'meshshift-migrations';

export interface DriveJob {
  id: string;
  seq: number;
  /** Failed tries of this step so far (the worker's own backoff, see jobRetryDelay). */
  failures?: number;
}
export interface StartJob {
  id: string;
}
export type JobData = DriveJob | StartJob | Record<string, never>;

export const driveJobId = (id: string, seq: number) => `${id}-s${seq}`;
export const cronSchedulerId = (id: string) => `start-${id}`;

/** One node from a redis:// URL; `src/store/redis-connection.ts` builds Sentinel and Cluster connections. */
export { redisOptions, type RedisSettings } from '../store/redis-connection.js';

export function connectRedis(url: string, name: string): Redis {
  return new Redis({ ...redisOptions(url), connectionName: name, lazyConnect: false });
}

/** Wait before a failed drive step is tried again: 1 s, 2 s, 4 s … capped at 30 s (the documented cap). */
export const JOB_RETRY_CAP_MS = 30_000;
export const jobRetryDelay = (failures: number) =>
  Math.min(JOB_RETRY_CAP_MS, 1000 * 2 ** Math.max(0, failures - 1));

/** BullMQ backoff type of drive jobs: the worker's `backoffStrategy` (jobRetryDelay), never an uncapped one. */
export const DRIVE_BACKOFF = 'meshshift-capped';

const DRIVE_OPTS = {
  removeOnComplete: { age: 3600, count: 50_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
  attempts: 20,
  backoff: { type: DRIVE_BACKOFF },
} as const;

export class MigrationQueue {
  readonly queue: Queue;
  /** BullMQ's key prefix (`{p}:bull`), shared with the workers. */
  readonly bullPrefix: string;

  constructor(
    connection: ConnectionOptions,
    readonly prefix: string,
    private readonly clock: Clock = systemClock,
  ) {
    this.bullPrefix = new StoreKeys(prefix).bull;
    this.queue = new Queue(QUEUE_NAME, {
      connection,
      prefix: this.bullPrefix,
      settings: { repeatStrategy: clockRepeatStrategy(clock) },
    });
  }

  /** Adds the drive job for (id, seq). A no-op while a job with that id exists (BullMQ deduplicates ids). */
  async enqueueDrive(id: string, seq: number, delayMs = 0): Promise<void> {
    await this.queue.add('drive', { id, seq } satisfies DriveJob, {
      ...DRIVE_OPTS,
      jobId: driveJobId(id, seq),
      delay: Math.max(0, Math.round(delayMs)),
    });
  }

  /** Makes the job for (id, seq) run now: promotes it if delayed, retries it if failed, adds it if missing. */
  async kick(id: string, seq: number): Promise<void> {
    const job = (await this.queue.getJob(driveJobId(id, seq))) as Job | undefined;
    if (!job) return this.enqueueDrive(id, seq, 0);
    const state = await job.getState();
    try {
      if (state === 'delayed') await job.promote();
      else if (state === 'failed') await job.retry();
    } catch {
      // It changed state in between (became active or completed): the worker sees the inbox itself.
    }
  }

  async state(id: string, seq: number): Promise<string | undefined> {
    const job = (await this.queue.getJob(driveJobId(id, seq))) as Job | undefined;
    return job ? job.getState() : undefined;
  }

  async scheduleCronStart(id: string, cron: string, timeZone: string): Promise<void> {
    const repeat: RepeatOptions = { pattern: cron, tz: timeZone, limit: 1 };
    await this.queue.upsertJobScheduler(cronSchedulerId(id), repeat, {
      name: 'start',
      data: { id } satisfies StartJob,
      opts: { removeOnComplete: true, removeOnFail: { age: 7 * 24 * 3600 } },
    });
  }

  async removeCronStart(id: string): Promise<void> {
    await this.queue.removeJobScheduler(cronSchedulerId(id));
  }

  async nextCronRun(id: string): Promise<number | undefined> {
    const s = await this.queue.getJobScheduler(cronSchedulerId(id));
    return s?.next ?? undefined;
  }

  /** The reconcile job scheduler (idempotent). */
  async ensureReconciler(everyMs: number): Promise<void> {
    await this.queue.upsertJobScheduler(
      'reconcile',
      { every: everyMs },
      { name: 'reconcile', data: {}, opts: { removeOnComplete: true, removeOnFail: true } },
    );
  }

  async counts(): Promise<Record<string, number>> {
    return this.queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed');
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
