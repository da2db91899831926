/**
 * Durable migration state in Redis: the only module that talks to Redis about migrations (key names in
 * keys.ts, scripts in lua/*.lua, leases in lease.ts, the history rule in history.ts).
 *
 * Fencing: `seq` is the migration's version. A drive job carries the seq it was enqueued for; the lease is taken
 * only if the stored seq matches, and the commit (record + history + seq+1) is one script that checks both the
 * lease and the seq. A worker that lost its lease (paused process, kill -9, network partition) can never
 * overwrite state or append history.
 *
 * Bounds: history runs of identical passing verdicts are compacted and the stream is capped (`historyMaxLen`);
 * a finished migration leaves the live index at once and is forgotten `retentionMs` after it finished
 * (`prune`, run on every submission and by the reconciler; its keys also carry a TTL a week longer).
 */
import type { Redis } from 'ioredis';
import type { ResolvedPlan } from '../plan/load.js';
import {
  COMMAND_STORE_BUDGET_MS,
  pushWithDeadline,
  storeDeadline,
  SubmissionExpiredError,
  type PushOptions,
  type PushResult,
} from './command-deadline.js';
import {
  decodeEntry,
  encodeEntries,
  type HistoryEntry,
  type HistoryPage,
  type NewHistoryEntry,
} from './history-stream.js';
import { ensureIndexes } from './indexes.js';
import { isHistoryCursor, isMigrationId, StoreKeys } from './keys.js';
import { Lease } from './lease.js';
import {
  FencedError,
  fromFields,
  routeIdentity,
  summaryOf,
  SUMMARY_FIELDS,
  toFields,
  type CommandMessage,
  type LockResult,
  type MigrationRecord,
  type MigrationSummary,
} from './record.js';
import { scripts } from './scripts.js';
import { SlackNotifierStore } from './slack-state.js';

export type { HistoryEntry, HistoryPage, NewHistoryEntry } from './history-stream.js';
export type { MigrationRecord, MigrationSummary } from './record.js';
export { FencedError, type CommandMessage, type LockResult } from './record.js';
export { InvalidIdError, isHistoryCursor, isMigrationId } from './keys.js';

export interface CommitInput {
  token: string;
  seq: number;
  /** Hash fields to set (strings), or null to delete. */
  fields: Record<string, string | null>;
  inboxConsumed: number;
  releaseSlot: boolean;
  /** The migration reached a final phase: leave the live index, start the retention clock (default: releaseSlot). */
  finished?: boolean;
  history: NewHistoryEntry[];
}

export interface StoreOptions {
  /** Finished migrations are forgotten this long after they finished (default 30 days). */
  retentionMs?: number;
  /** Cap of a migration's history stream, entries (approximate, oldest go first; default 10,000; 0 = none). */
  historyMaxLen?: number;
}

export const DEFAULT_RETENTION_MS = 30 * 24 * 3600_000;
export const DEFAULT_HISTORY_MAX_LEN = 10_000;
/** Keys of a finished migration expire this long after the retention, in case nothing prunes before. */
const TTL_GRACE_MS = 7 * 24 * 3600_000;
const PRUNE_BATCH = 100;

export class RedisMigrationStore {
  readonly keys: StoreKeys;
  readonly retentionMs: number;
  readonly historyMaxLen: number;
  /** The Slack notifier's per-migration state and replay protection. */
  readonly slack: SlackNotifierStore;
  private indexed?: Promise<void>;

  constructor(
    private readonly redis: Redis,
    prefix = 'meshshift',
    o: StoreOptions = {},
  ) {
    this.keys = new StoreKeys(prefix);
    this.retentionMs = o.retentionMs ?? DEFAULT_RETENTION_MS;
    this.historyMaxLen = o.historyMaxLen ?? DEFAULT_HISTORY_MAX_LEN;
    if (!(this.retentionMs > 0)) throw new Error('retention must be a positive duration, e.g. 30d');
    if (!Number.isInteger(this.historyMaxLen) || this.historyMaxLen < 0)
      throw new Error('historyMaxLen must be a non-negative integer (0 = no cap)');
    this.slack = new SlackNotifierStore(redis, this.keys, this.retentionMs + TTL_GRACE_MS);
  }

  get prefix(): string {
    return this.keys.prefix;
  }

  /** The indexes exist (built once for migrations stored by a version without them). */
  private indexes(): Promise<void> {
    this.indexed ??= ensureIndexes(this.redis, this.keys).catch((err: unknown) => {
      this.indexed = undefined;
      throw err;
    });
    return this.indexed;
  }

  /**
   * Creates a migration record and its first history entry. Fails if the id exists; with `deadline`, stores
   * nothing (SubmissionExpiredError) when Redis receives it after then (Redis' clock).
   */
  async create(rec: MigrationRecord, first: NewHistoryEntry, o: { deadline?: number } = {}): Promise<void> {
    await this.indexes();
    const k = this.keys;
    const deadline = o.deadline !== undefined ? storeDeadline(this.redis, o.deadline) : 0;
    const [outcome] = (await scripts.create.run(
      this.redis,
      [k.migration(rec.id), k.history(rec.id), k.index, k.live, k.phases],
      [
        rec.id,
        JSON.stringify(Object.entries(toFields(rec)).flat()),
        JSON.stringify(first),
        rec.createdAt,
        rec.phase,
        this.historyMaxLen,
        deadline,
      ],
    )) as string[];
    if (outcome === 'expired') throw new SubmissionExpiredError();
    if (outcome !== 'created') throw new Error(`migration ${rec.id} already exists`);
    // Stored: from here on nothing may fail the request (its answer must say it was created).
    void this.prune(rec.createdAt).catch(() => undefined);
  }

  /** The record, or undefined for an unknown id or anything that is not a migration id. */
  async get(id: string): Promise<MigrationRecord | undefined> {
    if (!isMigrationId(id)) return undefined;
    return fromFields(await this.redis.hgetall(this.keys.migration(id)));
  }

  async exists(id: string): Promise<boolean> {
    return isMigrationId(id) && (await this.redis.exists(this.keys.migration(id))) === 1;
  }

  /** The migration's current seq, or undefined when it does not exist. */
  async seq(id: string): Promise<number | undefined> {
    if (!isMigrationId(id)) return undefined;
    const s = await this.redis.hget(this.keys.migration(id), 'seq');
    return s === null ? undefined : Number(s);
  }

  /** Newest first; `live` lists only migrations that have not finished. */
  async list(limit = 100, offset = 0, o: { live?: boolean } = {}): Promise<MigrationRecord[]> {
    if (o.live) await this.indexes();
    const index = o.live ? this.keys.live : this.keys.index;
    const ids = await this.redis.zrevrange(index, offset, offset + limit - 1);
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hgetall(this.keys.migration(id));
    const res = (await pipe.exec()) ?? [];
    return res
      .map(([, h]) => fromFields((h ?? {}) as Record<string, string>))
      .filter((r): r is MigrationRecord => r !== undefined);
  }

  /** Every kept migration (finished ones until their retention passes), oldest first. */
  async ids(): Promise<string[]> {
    return this.redis.zrange(this.keys.index, 0, -1);
  }

  /** Migrations that have not finished, oldest first: what the reconciler looks at. */
  async liveIds(): Promise<string[]> {
    await this.indexes();
    return this.redis.zrange(this.keys.live, 0, -1);
  }

  /** History entries oldest first, after a cursor (a previous entry's id). */
  async history(id: string, opts: { after?: string; count?: number } = {}): Promise<HistoryEntry[]> {
    if (opts.after !== undefined && !isHistoryCursor(opts.after))
      throw new Error(`invalid history cursor "${opts.after}": expected an entry id such as 1732900000000-0`);
    const key = this.keys.history(id);
    const start = opts.after ? `(${opts.after}` : '-';
    const rows = opts.count
      ? await this.redis.xrange(key, start, '+', 'COUNT', opts.count)
      : await this.redis.xrange(key, start, '+');
    return rows.map(([streamId, kv]) => decodeEntry(streamId, kv));
  }

  /** One page of history: `limit` entries after the cursor, and the cursor of the next page if there is more. */
  async historyPage(id: string, o: { after?: string; limit: number }): Promise<HistoryPage> {
    const rows = await this.history(id, { ...(o.after ? { after: o.after } : {}), count: o.limit + 1 });
    const items = rows.slice(0, o.limit);
    return rows.length > o.limit ? { items, next: items.at(-1)!.id } : { items };
  }

  /** The newest `n` verdicts, oldest first (reads from the end of the stream, at most `scan` entries). */
  async recentVerdicts(id: string, n = 5, scan = 200): Promise<HistoryEntry[]> {
    const rows = await this.redis.xrevrange(this.keys.history(id), '+', '-', 'COUNT', scan);
    return rows
      .map(([streamId, kv]) => decodeEntry(streamId, kv))
      .filter((e) => e.type === 'verdict')
      .slice(0, n)
      .reverse();
  }

  /** Queues a command unless Redis receives it after `o.deadline` (then nothing is stored). */
  async pushCommand(
    id: string,
    cmd: CommandMessage,
    o: PushOptions = { deadline: Date.now() + COMMAND_STORE_BUDGET_MS },
  ): Promise<PushResult> {
    return pushWithDeadline(this.redis, this.keys.inbox(id), { ...cmd }, o);
  }

  /** The record stored under an Idempotency-Key (see command-deadline.ts), or null. */
  async idempotencyRecord(key: string): Promise<string | null> {
    return this.redis.get(key);
  }

  async inbox(id: string): Promise<CommandMessage[]> {
    return (await this.redis.lrange(this.keys.inbox(id), 0, -1)).map((s) => JSON.parse(s) as CommandMessage);
  }

  /** A cron start fired: the migration no longer waits for it (history notes it). */
  async releaseCron(id: string, entry: NewHistoryEntry): Promise<void> {
    const cap = this.historyMaxLen > 0 ? (['MAXLEN', '~', this.historyMaxLen] as const) : ([] as const);
    await this.redis
      .multi()
      .hset(this.keys.migration(id), 'awaitingCron', '0', 'runKey', '')
      .xadd(this.keys.history(id), ...cap, '*', 'seq', '0', 'e', JSON.stringify(entry))
      .exec();
  }

  async acquire(
    id: string,
    seq: number,
    token: string,
    ttlMs: number,
    worker: string,
    now: number,
  ): Promise<LockResult> {
    const r = (await scripts.acquire.run(
      this.redis,
      [this.keys.migration(id), this.keys.lock(id)],
      [token, ttlMs, seq, worker, process.pid, now],
    )) as string[];
    if (r[0] === 'gone') return { ok: false, why: 'gone' };
    if (r[0] === 'stale') return { ok: false, why: 'stale', seq: Number(r[1]) };
    if (r[0] === 'locked') return { ok: false, why: 'locked', ttlMs: Number(r[1]), holder: r[2] ?? '' };
    const [, by, pid, since] = r;
    return by
      ? { ok: true, previous: { by, ...(pid ? { pid: Number(pid) } : {}), since: Number(since) } }
      : { ok: true };
  }

  /** The lease a drive job took with `acquire`. */
  lease(id: string, token: string): Lease {
    return new Lease(this.redis, this.keys.lock(id), token);
  }

  async extend(id: string, token: string, ttlMs: number): Promise<boolean> {
    return this.lease(id, token).extend(ttlMs);
  }

  async release(id: string, token: string): Promise<void> {
    await this.lease(id, token).release();
  }

  /** A drive step failed before its commit: release the lease and clear the running marks (no takeover). */
  async stepFailed(id: string, token: string): Promise<void> {
    await scripts.stepFailed.run(this.redis, [this.keys.migration(id), this.keys.lock(id)], [token]);
  }

  /** Throws FencedError unless `token` still holds the lock at `seq`. */
  async fence(id: string, seq: number, token: string): Promise<void> {
    const r = await scripts.fence.run(
      this.redis,
      [this.keys.migration(id), this.keys.lock(id)],
      [token, seq],
    );
    if (r !== 'ok')
      throw new FencedError(
        r === 'lock'
          ? `lost the lock on migration ${id} (it expired: another worker may be driving it); refusing to write`
          : `migration ${id} moved past seq ${seq} under another worker; refusing to write`,
      );
  }

  async commit(id: string, namespace: string, c: CommitInput): Promise<{ seq: number; inbox: number }> {
    await this.indexes();
    const k = this.keys;
    const now = Date.now();
    const r = (await scripts.commit.run(
      this.redis,
      [
        k.migration(id),
        k.lock(id),
        k.history(id),
        k.inbox(id),
        k.active,
        k.activeIn(namespace),
        k.live,
        k.finished,
        k.phases,
      ],
      [
        c.token,
        c.seq,
        JSON.stringify(c.fields),
        c.inboxConsumed,
        c.releaseSlot ? '1' : '0',
        (c.finished ?? c.releaseSlot) ? '1' : '0',
        encodeEntries(c.history),
        this.historyMaxLen,
        now,
        this.retentionMs + TTL_GRACE_MS,
      ],
    )) as string[];
    if (r[0] === 'lock')
      throw new FencedError(`lost the lock on migration ${id} before committing seq ${c.seq}; discarded`);
    if (r[0] === 'seq') throw new FencedError(`migration ${id} is past seq ${c.seq}; discarded`);
    return { seq: Number(r[1]), inbox: Number(r[2]) };
  }

  /** The unfinished migration other than `id` that holds the plan's route; else none, and with `claim` it is ours. */
  async routeHolder(id: string, plan: ResolvedPlan, claim: boolean): Promise<string | undefined> {
    const r = (await scripts.routeClaim.run(
      this.redis,
      [this.keys.route(routeIdentity(plan))],
      [id, this.keys.migrationPrefix, claim ? 1 : 0],
    )) as string[];
    return r[0] === 'held' ? r[1] : undefined;
  }

  /** Takes a concurrency slot; returns why not when the namespace or cluster limit is reached. */
  async takeSlot(
    id: string,
    namespace: string,
    limits: { perNamespace: number; total: number },
  ): Promise<{ ok: true } | { ok: false; scope: 'namespace' | 'cluster'; running: number }> {
    const r = (await scripts.takeSlot.run(
      this.redis,
      [this.keys.active, this.keys.activeIn(namespace)],
      [id, limits.perNamespace, limits.total],
    )) as string[];
    if (r[0] === 'ok') return { ok: true };
    return { ok: false, scope: r[0] === 'namespace' ? 'namespace' : 'cluster', running: Number(r[1]) };
  }

  /** Forgets migrations that finished more than the retention ago; returns how many. */
  async prune(now = Date.now()): Promise<number> {
    const k = this.keys;
    const before = now - this.retentionMs;
    const ids = await this.redis.zrangebyscore(k.finished, '-inf', `(${before}`, 'LIMIT', 0, PRUNE_BATCH);
    let n = 0;
    for (const id of ids) {
      if (!isMigrationId(id)) {
        await this.redis.zrem(k.finished, id);
        continue;
      }
      const keys = [k.migration(id), k.history(id), k.inbox(id), k.lock(id), k.slackState(id)];
      n += Number(
        await scripts.forget.run(
          this.redis,
          [...keys, k.index, k.finished, k.phases, k.slackDone],
          [id, before],
        ),
      );
    }
    return n;
  }

  /** One line per live migration and per migration finished within `finishedWithinMs` (for the gauges). */
  async summaries(finishedWithinMs = 24 * 3600_000, now = Date.now()): Promise<MigrationSummary[]> {
    await this.indexes();
    const live = await this.redis.zrange(this.keys.live, 0, -1);
    const recent = await this.redis.zrangebyscore(this.keys.finished, now - finishedWithinMs, '+inf');
    const ids = [...new Set([...live, ...recent])];
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hmget(this.keys.migration(id), ...SUMMARY_FIELDS);
    const res = (await pipe.exec()) ?? [];
    return ids.map((id, i) => summaryOf(id, (res[i]?.[1] ?? []) as Array<string | null>));
  }

  /** Kept migrations by phase, for /metrics (one read: the counts are kept up to date by the scripts). */
  async countByPhase(): Promise<Record<string, number>> {
    await this.indexes();
    const h = await this.redis.hgetall(this.keys.phases);
    const out: Record<string, number> = {};
    for (const [phase, n] of Object.entries(h)) if (Number(n) > 0) out[phase] = Number(n);
    return out;
  }
}
