/** The Redis store against a real redis-server: history compaction and cap, indexes, retention, leases, scripts. */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lease, LostLeaseError } from '../../src/store/lease.js';
import { FencedError, RedisMigrationStore } from '../../src/store/store.js';
import { startRedis, type RedisServer } from '../../src/sim/redis.js';
import { record, step, submitted, verdict, weightEntry } from './store-fixtures.js';

let server: RedisServer;
let redis: Redis;
let n = 0;
const store = (o: ConstructorParameters<typeof RedisMigrationStore>[2] = {}) =>
  new RedisMigrationStore(redis, `{st${n++}}`, o);

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
});
afterAll(async () => {
  await redis?.quit();
  await server?.close();
});

const weight = (at: number, w: number) => weightEntry(at, w);

describe('history', () => {
  it('keeps weight changes, non-pass verdicts and commands in full; compacts runs of identical passes', async () => {
    const s = store();
    const rec = record();
    await s.create(rec, submitted(1));
    let t = 1000;
    const passes = (w: number, k: number) => Array.from({ length: k }, () => verdict((t += 10_000), w));
    await step(s, rec, [weight((t += 1), 5), ...passes(5, 3)]);
    await step(s, rec, passes(5, 4)); // the run continues across commits
    await step(s, rec, [verdict((t += 10_000), 5, 'inconclusive'), ...passes(5, 2)]);
    await step(s, rec, [{ type: 'command', at: (t += 1), command: 'PAUSE', by: 'alice', accepted: true }]);
    await step(s, rec, [
      ...passes(5, 2),
      weight((t += 1), 10),
      ...passes(10, 3),
      verdict((t += 10_000), 10, 'fail'),
    ]);
    const h = await s.history(rec.id);
    const shape = h.map((e) =>
      e.type === 'verdict'
        ? `${String(e.outcome)}@${String(e.weight)}${e.run ? `x${e.run.length}` : ''}`
        : e.type,
    );
    expect(shape).toEqual([
      'submitted',
      'weight',
      'pass@5',
      'pass@5x7', // seven identical passes: the first and the latest (with the count) are kept
      'inconclusive@5',
      'pass@5',
      'pass@5x2',
      'command',
      'pass@5',
      'pass@5x2',
      'weight',
      'pass@10',
      'pass@10x3',
      'fail@10',
    ]);
    const tail = h[3]!;
    expect(tail.run!.since).toBe(h[2]!.at);
    expect(tail.at).toBeGreaterThan(h[2]!.at);
    expect(await redis.xlen(s.keys.history(rec.id))).toBe(h.length);
  });

  it('passing verdicts whose checks differ are not one run', async () => {
    const s = store();
    const rec = record();
    await s.create(rec, submitted(1));
    const a = verdict(10, 5);
    const b = { ...verdict(20, 5), checks: [{ name: 'error-rate', outcome: 'pass' as const }] };
    await step(s, rec, [a, b, verdict(30, 5)]);
    expect((await s.history(rec.id)).filter((e) => e.run)).toHaveLength(0);
  });

  it('caps the stream at historyMaxLen, oldest first', async () => {
    const s = store({ historyMaxLen: 100 });
    const rec = record();
    await s.create(rec, submitted(1));
    for (let i = 0; i < 5; i++)
      await step(
        s,
        rec,
        Array.from({ length: 100 }, (_, k) => verdict(i * 1000 + k, 5, 'inconclusive')),
      );
    const len = await redis.xlen(s.keys.history(rec.id));
    expect(len).toBeGreaterThanOrEqual(100);
    expect(len).toBeLessThan(250); // MAXLEN ~ trims whole nodes
    expect((await s.history(rec.id)).at(-1)!.at).toBe(4099);
  });

  it('pages: limit entries after a cursor, and the cursor of the next page', async () => {
    const s = store();
    const rec = record();
    await s.create(rec, submitted(1));
    await step(
      s,
      rec,
      Array.from({ length: 24 }, (_, k) => verdict(k, 5, 'inconclusive')),
    );
    const seen: number[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await s.historyPage(rec.id, { ...(after ? { after } : {}), limit: 10 });
      seen.push(...page.items.map((e) => e.at));
      if (!page.next) break;
      after = page.next;
    }
    expect(seen).toEqual([1, ...Array.from({ length: 24 }, (_, k) => k)]);
    await expect(s.history(rec.id, { after: '0-0; FLUSHALL' })).rejects.toThrow(/invalid history cursor/);
  });
});

describe('indexes and retention', () => {
  it('finished migrations leave the live index, count by phase, expire and are pruned after the retention', async () => {
    const day = 24 * 3600_000;
    const s = store({ retentionMs: 30 * day });
    const done = record();
    const running = record();
    for (const r of [done, running]) await s.create(r, submitted(1));
    expect(await s.countByPhase()).toEqual({ pending: 2 });
    await step(s, running, [weight(2, 5)], { phase: 'shifting', weight: '5' });
    await step(s, done, [weight(2, 100)], { phase: 'completed', weight: '100' }, { finished: true });

    expect(await s.liveIds()).toEqual([running.id]);
    expect((await s.ids()).sort()).toEqual([done.id, running.id].sort());
    expect(await s.countByPhase()).toEqual({ shifting: 1, completed: 1 });
    expect((await s.summaries()).map((r) => r.id).sort()).toEqual([done.id, running.id].sort());
    expect((await s.summaries(day, Date.now() + 2 * day)).map((r) => r.id)).toEqual([running.id]);
    for (const k of [s.keys.migration(done.id), s.keys.history(done.id)]) {
      const ttl = await redis.pttl(k);
      expect(ttl).toBeGreaterThan(30 * day);
      expect(ttl).toBeLessThanOrEqual(37 * day);
    }
    expect(await redis.pttl(s.keys.migration(running.id))).toBe(-1);

    expect(await s.prune(Date.now() + 29 * day)).toBe(0);
    expect(await s.prune(Date.now() + 31 * day)).toBe(1);
    expect(await s.get(done.id)).toBeUndefined();
    expect(await redis.exists(s.keys.history(done.id))).toBe(0);
    expect(await s.ids()).toEqual([running.id]);
    expect(await s.countByPhase()).toEqual({ shifting: 1 });
    expect((await s.list(10, 0)).map((r) => r.id)).toEqual([running.id]);
  });
});

describe('upgrade', () => {
  it('builds the live and finished indexes and phase counts for migrations stored before them', async () => {
    const s = store();
    const [a, b, c] = [record(), record(), record()];
    for (const r of [a, b, c]) await s.create(r, submitted(1));
    await step(s, b, [weight(2, 5)], { phase: 'shifting' });
    await step(s, c, [weight(2, 0)], { phase: 'rolledBack' }, { finished: true });
    const k = s.keys;
    await redis.del(k.live, k.finished, k.phases, k.indexVersion); // as a version without them left it
    const upgraded = new RedisMigrationStore(redis, s.prefix);
    expect((await upgraded.liveIds()).sort()).toEqual([a.id, b.id].sort());
    expect(await upgraded.countByPhase()).toEqual({ pending: 1, shifting: 1, rolledBack: 1 });
    expect(await redis.zrange(k.finished, 0, -1)).toEqual([c.id]);
    expect(await redis.get(k.indexVersion)).toBe('2');
  });
});

describe('leases and fencing', () => {
  it('a lease that expired can neither write, extend nor release the next holder’s lease', async () => {
    const s = store();
    const key = `${s.prefix}:lease-test`;
    // TTLs with room for a loaded machine: the second take must come well inside the first lease.
    const a = (await Lease.take(redis, key, 1500))!;
    expect(await Lease.take(redis, key, 1500)).toBeUndefined();
    await a.hset(`${s.prefix}:h`, { cursor: '1-0' });
    await new Promise((r) => setTimeout(r, 1700));
    const b = (await Lease.take(redis, key, 5000))!;
    expect(b).toBeDefined();
    await expect(a.hset(`${s.prefix}:h`, { cursor: '9-0' })).rejects.toBeInstanceOf(LostLeaseError);
    expect(await a.extend(5000)).toBe(false);
    expect(await a.release()).toBe(false);
    expect(await redis.get(key)).toBe(b.token);
    expect(await redis.hget(`${s.prefix}:h`, 'cursor')).toBe('1-0');
    expect(await b.release()).toBe(true);
  });

  it('a commit under a lost lease or a moved seq writes nothing', async () => {
    const s = store();
    const rec = record();
    await s.create(rec, submitted(1));
    const lock = await s.acquire(rec.id, 0, 'old', 5000, 'w1', 1);
    expect(lock.ok).toBe(true);
    await redis.del(s.keys.lock(rec.id)); // expired
    expect((await s.acquire(rec.id, 0, 'new', 5000, 'w2', 2)).ok).toBe(true);
    const c = {
      seq: 0,
      fields: { phase: 'shifting' },
      inboxConsumed: 0,
      releaseSlot: false,
      history: [weight(3, 5)],
    };
    await expect(s.commit(rec.id, rec.namespace, { ...c, token: 'old' })).rejects.toBeInstanceOf(FencedError);
    await expect(s.fence(rec.id, 0, 'old')).rejects.toThrow(/lost the lock/);
    await s.fence(rec.id, 0, 'new');
    expect((await s.commit(rec.id, rec.namespace, { ...c, token: 'new' })).seq).toBe(1);
    await expect(s.fence(rec.id, 0, 'new')).rejects.toThrow(/moved past seq 0/);
    expect((await s.history(rec.id)).map((e) => e.type)).toEqual(['submitted', 'weight']);
  });

  it('a step that failed before its commit hands the lease back unmarked: the next try is no takeover', async () => {
    const s = store();
    const rec = record();
    await s.create(rec, submitted(1));
    expect(await s.acquire(rec.id, 0, 't1', 5000, 'w1', 1)).toEqual({ ok: true });
    await s.stepFailed(rec.id, 'someone-else'); // not the holder: nothing changes
    expect(await s.acquire(rec.id, 0, 't2', 5000, 'w2', 2)).toMatchObject({ ok: false, why: 'locked' });
    await s.stepFailed(rec.id, 't1');
    expect(await s.acquire(rec.id, 0, 't2', 5000, 'w1', 3)).toEqual({ ok: true });
    // Control: a worker that died mid-step (no stepFailed) is reported to the next one.
    await redis.del(s.keys.lock(rec.id));
    expect(await s.acquire(rec.id, 0, 't3', 5000, 'w2', 4)).toEqual({
      ok: true,
      previous: { by: 'w1', pid: process.pid, since: 3 },
    });
  });

  it('runs its scripts again after Redis forgot them (SCRIPT FLUSH, restart)', async () => {
    const s = store();
    const rec = record();
    await s.create(rec, submitted(1));
    await redis.script('FLUSH');
    expect(await step(s, rec, [weight(2, 1)])).toBe(1);
  });
});

describe('ids', () => {
  it('anything that is not a migration id never reaches a key', async () => {
    const s = store();
    const rec = record();
    await s.create(rec, submitted(1));
    for (const bad of [`${rec.id}:history`, `${rec.id}:inbox`, '../x', '', 'X-ABCDEF', `${s.prefix}:live`])
      expect(await s.get(bad)).toBeUndefined();
    await expect(s.pushCommand(`${rec.id}:history`, { type: 'PAUSE', by: 'x', at: 1 })).rejects.toThrow(
      /not a migration id/,
    );
    expect(await s.exists(rec.id)).toBe(true);
    expect(await s.exists(`${rec.id}:history`)).toBe(false);
  });
});
