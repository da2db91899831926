/**
 * Durable migration state in Redis.
 *
 * Per migration (id):
 *   {p}:m:{id}           hash: plan (resolved, JSON), snapshot (xstate persisted snapshot), seq, phase, weight, …
 *   {p}:m:{id}:history   stream: append-only history (transitions, verdicts with numbers, weight writes, commands)
 *   {p}:m:{id}:inbox     list: operator commands waiting for the worker (PROMOTE/PAUSE/RESUME/ABORT, who sent it)
 *   {p}:m:{id}:lock      string: "<worker>|<seq>" with a TTL — the one worker driving the migration right now
 * Indexes: {p}:migrations (zset by creation time), {p}:active (set), {p}:active:ns:{namespace} (set).
 *
 * Fencing: `seq` is the migration's version. A drive job carries the seq it was enqueued for; the lock is taken
 * only if the stored seq matches, and the commit (snapshot + history + seq+1) is one Lua script that checks
 * both the lock owner and the seq. A worker that lost its lock (paused process, kill -9, network partition)
 * can never overwrite state or append history.
 */
import type { Redis } from 'ioredis';
import type { ResolvedPlan } from '../plan/load.js';

export interface MigrationSummary {
  id: string;
  namespace: string;
  plan: string;
  phase: string;
  weight: number;
  /** Epoch ms of the last phase change or weight write. */
  transitionAt: number;
}

export interface MigrationRecord {
  id: string;
  name: string;
  namespace: string;
  plan: ResolvedPlan;
  /** Version of the state; the next drive job has id `<id>-<seq>`. */
  seq: number;
  /** Persisted xstate snapshot, or undefined before the first drive. */
  snapshot?: unknown;
  phase: string;
  weight: number;
  createdAt: number;
  createdBy: string;
  updatedAt: number;
  /** Policy time scale for this migration (1 in production; smaller in demos/tests). */
  timeScale: number;
  /** Scheduled start (epoch ms) for `schedule.start.at`. */
  startAt?: number;
  /** Waiting for the cron job scheduler to fire (`schedule.start.cron`). */
  awaitingCron: boolean;
  /** Paused by meshshift because the time is outside every advance window. */
  heldByWindow: boolean;
  /** The worker that is running a drive job now (cleared on commit): left set by a worker that died mid-step. */
  runningBy?: string;
  runningPid?: number;
  runningSince?: number;
  /** One line for humans: why it is paused, rolled back, waiting, failed. */
  reason?: string;
  lastVerdict?: unknown;
  nextWakeAt?: number;
}

export interface HistoryEntry {
  /** Redis stream id (time-ordered). */
  id: string;
  type: string;
  at: number;
  seq: number;
  [k: string]: unknown;
}

export type NewHistoryEntry = { type: string; at: number } & Record<string, unknown>;

export interface CommandMessage {
  type: 'PROMOTE' | 'PAUSE' | 'RESUME' | 'ABORT';
  by: string;
  reason?: string;
  at: number;
}

export type LockResult =
  | { ok: true; previous?: { by: string; pid?: number; since: number } }
  | { ok: false; why: 'stale'; seq: number }
  | { ok: false; why: 'locked'; ttlMs: number; holder: string }
  | { ok: false; why: 'gone' };

export class FencedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FencedError';
  }
}

const ACQUIRE = `
-- KEYS[1] hash, KEYS[2] lock; ARGV token, ttlMs, seq, worker, pid, now
if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end
local seq = redis.call('HGET', KEYS[1], 'seq')
if seq ~= ARGV[3] then return {'stale', seq} end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] then return {'locked', tostring(redis.call('PTTL', KEYS[2])), holder} end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
local prev = redis.call('HMGET', KEYS[1], 'runningBy', 'runningPid', 'runningSince')
redis.call('HSET', KEYS[1], 'runningBy', ARGV[4], 'runningPid', ARGV[5], 'runningSince', ARGV[6])
return {'ok', prev[1] or '', prev[2] or '', prev[3] or ''}
`;

const EXTEND = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

const FENCE = `
-- KEYS[1] hash, KEYS[2] lock; ARGV token, seq
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 'lock' end
if redis.call('HGET', KEYS[1], 'seq') ~= ARGV[2] then return 'seq' end
return 'ok'
`;

const COMMIT = `
-- KEYS: hash, lock, history, inbox, activeAll, activeNs
-- ARGV: token, seq, fieldsJson, inboxConsumed, releaseSlot, historyJson
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return {'lock'} end
if redis.call('HGET', KEYS[1], 'seq') ~= ARGV[2] then return {'seq'} end
local fields = cjson.decode(ARGV[3])
local flat = {}
for k, v in pairs(fields) do
  if v == cjson.null then redis.call('HDEL', KEYS[1], k) else table.insert(flat, k); table.insert(flat, v) end
end
local newSeq = tonumber(ARGV[2]) + 1
table.insert(flat, 'seq'); table.insert(flat, tostring(newSeq))
redis.call('HSET', KEYS[1], unpack(flat))
redis.call('HDEL', KEYS[1], 'runningBy', 'runningPid', 'runningSince')
local n = tonumber(ARGV[4])
if n > 0 then redis.call('LTRIM', KEYS[4], n, -1) end
if ARGV[5] == '1' then
  local id = redis.call('HGET', KEYS[1], 'id')
  redis.call('SREM', KEYS[5], id)
  redis.call('SREM', KEYS[6], id)
end
local entries = cjson.decode(ARGV[6])
for _, e in ipairs(entries) do
  redis.call('XADD', KEYS[3], '*', 'seq', ARGV[2], 'e', e)
end
return {'ok', tostring(newSeq), tostring(redis.call('LLEN', KEYS[4]))}
`;

const SLOT = `
-- KEYS activeAll, activeNs; ARGV id, nsLimit, allLimit
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return {'ok'} end
local nsLimit = tonumber(ARGV[2]); local allLimit = tonumber(ARGV[3])
if nsLimit > 0 and redis.call('SCARD', KEYS[2]) >= nsLimit then return {'namespace', tostring(redis.call('SCARD', KEYS[2]))} end
if allLimit > 0 and redis.call('SCARD', KEYS[1]) >= allLimit then return {'cluster', tostring(redis.call('SCARD', KEYS[1]))} end
redis.call('SADD', KEYS[1], ARGV[1]); redis.call('SADD', KEYS[2], ARGV[1])
return {'ok'}
`;

export interface CommitInput {
  token: string;
  seq: number;
  /** Hash fields to set (strings), or null to delete. */
  fields: Record<string, string | null>;
  inboxConsumed: number;
  releaseSlot: boolean;
  history: NewHistoryEntry[];
}

export class RedisMigrationStore {
  constructor(
    readonly redis: Redis,
    readonly prefix = 'meshshift',
  ) {}

  key(id: string, part?: 'history' | 'inbox' | 'lock'): string {
    return part ? `${this.prefix}:m:${id}:${part}` : `${this.prefix}:m:${id}`;
  }
  private get indexKey() {
    return `${this.prefix}:migrations`;
  }
  activeKey(namespace?: string): string {
    return namespace ? `${this.prefix}:active:ns:${namespace}` : `${this.prefix}:active`;
  }

  /** Creates a migration record and its first history entry. Fails if the id exists. */
  async create(rec: MigrationRecord, first: NewHistoryEntry): Promise<void> {
    const fields = this.toFields(rec);
    const res = await this.redis.multi().hsetnx(this.key(rec.id), 'id', rec.id).exec();
    if (!res || res[0]?.[1] !== 1) throw new Error(`migration ${rec.id} already exists`);
    await this.redis
      .multi()
      .hset(this.key(rec.id), fields)
      .zadd(this.indexKey, rec.createdAt, rec.id)
      .xadd(this.key(rec.id, 'history'), '*', 'seq', '0', 'e', JSON.stringify(first))
      .exec();
  }

  private toFields(rec: MigrationRecord): Record<string, string> {
    const f: Record<string, string> = {
      id: rec.id,
      name: rec.name,
      namespace: rec.namespace,
      plan: JSON.stringify(rec.plan),
      seq: String(rec.seq),
      phase: rec.phase,
      weight: String(rec.weight),
      createdAt: String(rec.createdAt),
      createdBy: rec.createdBy,
      updatedAt: String(rec.updatedAt),
      timeScale: String(rec.timeScale),
      awaitingCron: rec.awaitingCron ? '1' : '0',
      heldByWindow: rec.heldByWindow ? '1' : '0',
    };
    if (rec.snapshot !== undefined) f.snapshot = JSON.stringify(rec.snapshot);
    if (rec.startAt !== undefined) f.startAt = String(rec.startAt);
    if (rec.reason !== undefined) f.reason = rec.reason;
    return f;
  }

  private fromFields(h: Record<string, string>): MigrationRecord | undefined {
    if (!h.id || !h.plan) return undefined;
    const num = (s: string | undefined) => (s === undefined || s === '' ? undefined : Number(s));
    return {
      id: h.id,
      name: h.name ?? h.id,
      namespace: h.namespace ?? '',
      plan: JSON.parse(h.plan) as ResolvedPlan,
      seq: Number(h.seq ?? 0),
      ...(h.snapshot ? { snapshot: JSON.parse(h.snapshot) as unknown } : {}),
      phase: h.phase ?? 'pending',
      weight: Number(h.weight ?? 0),
      createdAt: Number(h.createdAt ?? 0),
      createdBy: h.createdBy ?? 'unknown',
      updatedAt: Number(h.updatedAt ?? 0),
      timeScale: Number(h.timeScale ?? 1),
      ...(num(h.startAt) !== undefined ? { startAt: num(h.startAt)! } : {}),
      awaitingCron: h.awaitingCron === '1',
      heldByWindow: h.heldByWindow === '1',
      ...(h.runningBy ? { runningBy: h.runningBy } : {}),
      ...(num(h.runningPid) !== undefined ? { runningPid: num(h.runningPid)! } : {}),
      ...(num(h.runningSince) !== undefined ? { runningSince: num(h.runningSince)! } : {}),
      ...(h.reason ? { reason: h.reason } : {}),
      ...(h.lastVerdict ? { lastVerdict: JSON.parse(h.lastVerdict) as unknown } : {}),
      ...(num(h.nextWakeAt) !== undefined ? { nextWakeAt: num(h.nextWakeAt)! } : {}),
    };
  }

  async get(id: string): Promise<MigrationRecord | undefined> {
    return this.fromFields(await this.redis.hgetall(this.key(id)));
  }

  /** Newest first. */
  async list(limit = 100, offset = 0): Promise<MigrationRecord[]> {
    const ids = await this.redis.zrevrange(this.indexKey, offset, offset + limit - 1);
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hgetall(this.key(id));
    const res = (await pipe.exec()) ?? [];
    return res
      .map(([, h]) => this.fromFields((h ?? {}) as Record<string, string>))
      .filter((r): r is MigrationRecord => r !== undefined);
  }

  async ids(): Promise<string[]> {
    return this.redis.zrange(this.indexKey, 0, -1);
  }

  async history(id: string, opts: { after?: string; count?: number } = {}): Promise<HistoryEntry[]> {
    const start = opts.after ? `(${opts.after}` : '-';
    const rows = opts.count
      ? await this.redis.xrange(this.key(id, 'history'), start, '+', 'COUNT', opts.count)
      : await this.redis.xrange(this.key(id, 'history'), start, '+');
    return rows.map(([streamId, kv]) => {
      const f: Record<string, string> = {};
      for (let i = 0; i + 1 < kv.length; i += 2) f[kv[i]!] = kv[i + 1]!;
      const e = JSON.parse(f.e ?? '{}') as NewHistoryEntry;
      return { ...e, id: streamId, seq: Number(f.seq ?? 0) };
    });
  }

  async pushCommand(id: string, cmd: CommandMessage): Promise<number> {
    return this.redis.rpush(this.key(id, 'inbox'), JSON.stringify(cmd));
  }

  async inbox(id: string): Promise<CommandMessage[]> {
    return (await this.redis.lrange(this.key(id, 'inbox'), 0, -1)).map(
      (s) => JSON.parse(s) as CommandMessage,
    );
  }

  async acquire(
    id: string,
    seq: number,
    token: string,
    ttlMs: number,
    worker: string,
    now: number,
  ): Promise<LockResult> {
    const r = (await this.redis.eval(
      ACQUIRE,
      2,
      this.key(id),
      this.key(id, 'lock'),
      token,
      String(ttlMs),
      String(seq),
      worker,
      String(process.pid),
      String(now),
    )) as string[];
    if (r[0] === 'gone') return { ok: false, why: 'gone' };
    if (r[0] === 'stale') return { ok: false, why: 'stale', seq: Number(r[1]) };
    if (r[0] === 'locked') return { ok: false, why: 'locked', ttlMs: Number(r[1]), holder: r[2] ?? '' };
    const [, by, pid, since] = r;
    return by
      ? { ok: true, previous: { by, ...(pid ? { pid: Number(pid) } : {}), since: Number(since) } }
      : { ok: true };
  }

  async extend(id: string, token: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.eval(EXTEND, 1, this.key(id, 'lock'), token, String(ttlMs))) === 1;
  }

  async release(id: string, token: string): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.key(id, 'lock'), token);
  }

  /** Throws FencedError unless `token` still holds the lock at `seq`. */
  async fence(id: string, seq: number, token: string): Promise<void> {
    const r = (await this.redis.eval(
      FENCE,
      2,
      this.key(id),
      this.key(id, 'lock'),
      token,
      String(seq),
    )) as string;
    if (r !== 'ok')
      throw new FencedError(
        r === 'lock'
          ? `lost the lock on migration ${id} (it expired: another worker may be driving it); refusing to write`
          : `migration ${id} moved past seq ${seq} under another worker; refusing to write`,
      );
  }

  async commit(id: string, namespace: string, c: CommitInput): Promise<{ seq: number; inbox: number }> {
    const r = (await this.redis.eval(
      COMMIT,
      6,
      this.key(id),
      this.key(id, 'lock'),
      this.key(id, 'history'),
      this.key(id, 'inbox'),
      this.activeKey(),
      this.activeKey(namespace),
      c.token,
      String(c.seq),
      JSON.stringify(c.fields),
      String(c.inboxConsumed),
      c.releaseSlot ? '1' : '0',
      JSON.stringify(c.history.map((e) => JSON.stringify(e))),
    )) as string[];
    if (r[0] === 'lock')
      throw new FencedError(`lost the lock on migration ${id} before committing seq ${c.seq}; discarded`);
    if (r[0] === 'seq') throw new FencedError(`migration ${id} is past seq ${c.seq}; discarded`);
    return { seq: Number(r[1]), inbox: Number(r[2]) };
  }

  /** Takes a concurrency slot; returns why not when the namespace or cluster limit is reached. */
  async takeSlot(
    id: string,
    namespace: string,
    limits: { perNamespace: number; total: number },
  ): Promise<{ ok: true } | { ok: false; scope: 'namespace' | 'cluster'; running: number }> {
    const r = (await this.redis.eval(
      SLOT,
      2,
      this.activeKey(),
      this.activeKey(namespace),
      id,
      String(limits.perNamespace),
      String(limits.total),
    )) as string[];
    if (r[0] === 'ok') return { ok: true };
    return { ok: false, scope: r[0] === 'namespace' ? 'namespace' : 'cluster', running: Number(r[1]) };
  }

  /** Counts by phase, for /metrics. */
  /** One line per migration for the per-migration gauges (read at scrape time). */
  async summaries(): Promise<MigrationSummary[]> {
    const ids = await this.ids();
    const pipe = this.redis.pipeline();
    for (const id of ids)
      pipe.hmget(this.key(id), 'namespace', 'name', 'phase', 'weight', 'transitionAt', 'createdAt');
    const out: MigrationSummary[] = [];
    for (const [i, [, v]] of ((await pipe.exec()) ?? []).entries()) {
      const [namespace, name, phase, weight, transitionAt, createdAt] = (v ?? []) as Array<string | null>;
      out.push({
        id: ids[i]!,
        namespace: namespace ?? '',
        plan: name ?? ids[i]!,
        phase: phase ?? 'unknown',
        weight: Number(weight ?? 0),
        transitionAt: Number(transitionAt ?? createdAt ?? 0),
      });
    }
    return out;
  }

  async countByPhase(): Promise<Record<string, number>> {
    const ids = await this.ids();
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hget(this.key(id), 'phase');
    const out: Record<string, number> = {};
    for (const [, p] of (await pipe.exec()) ?? []) {
      const phase = typeof p === 'string' ? p : 'unknown';
      out[phase] = (out[phase] ?? 0) + 1;
    }
    return out;
  }
}
