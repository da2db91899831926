/**
 * "503 means nothing happened" for submissions, against a real Redis whose writes are paused (CLIENT PAUSE
 * WRITE): the create script reaches Redis only after its deadline (Redis' clock), so a POST /v1/migrations
 * answered 503 never creates a migration later — with or without an Idempotency-Key. "Nothing" is checked on
 * every key under the prefix (record, history, indexes, queue), not only on the migration hashes; the same holds
 * with Redis frozen (SIGSTOP) instead of paused, and with only the create script held back (a proxy): there the
 * create's deadline is the only guard (a mutation that drops it fails that test at its first try).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { scripts } from '../../src/store/scripts.js';
import { startRedis } from '../../src/sim/redis.js';
import { startRedisHoldProxy } from '../harness/redis-hold-proxy.js';
import { TOKEN, startApi } from './helpers.js';
import { FUTURE_PLAN } from './store-fixtures.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function world(prefix: string, o: { via?: (redisUrl: string) => Promise<string> } = {}) {
  const redis = await startRedis();
  cleanups.push(() => redis.close());
  // The production answer budget (2 s) and Redis command timeout (1 s).
  const apiRedis = o.via ? await o.via(redis.url) : redis.url;
  const api = await startApi(apiRedis, prefix, { requestTimeoutMs: 2000, redisTimeoutMs: 1000 });
  cleanups.push(() => api.close());
  const ctl = new Redis(redis.url);
  cleanups.push(() => ctl.quit());
  /** Migrations stored: their hashes, whatever the indexes say. */
  const stored = async () =>
    (await ctl.keys(`${prefix}:m:*`)).filter((k) => /^[^:]+:m:[^:]+$/.test(k)).length;
  const submit = (headers: { key?: string } = {}) =>
    fetch(`${api.url!}/v1/migrations`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${TOKEN}`,
        'content-type': 'application/yaml',
        ...(headers.key ? { 'idempotency-key': headers.key } : {}),
      },
      body: FUTURE_PLAN,
    });
  /** Every key under the prefix (the record, its history and indexes, the queue's jobs), sorted. */
  const keys = async () => (await ctl.keys(`${prefix}:*`)).sort();
  return { api, ctl, stored, keys, submit };
}

/**
 * The control submission's answer, once its drive job is queued too: the API answers 201 as soon as the record is
 * stored and queues the job right after, so a snapshot of the keys taken at once may miss the job's keys.
 */
async function settledControl(w: Awaited<ReturnType<typeof world>>): Promise<number> {
  const r = await w.submit();
  if (r.status !== 201) return r.status;
  const { id } = (await r.json()) as { id: string };
  for (const t0 = Date.now(); Date.now() - t0 < 10_000; await sleep(50))
    if ((await w.keys()).some((k) => k.endsWith(`:${id}-s0`))) return r.status;
  throw new Error(`the control migration ${id} got no drive job within 10 s`);
}

/** Waits until Redis takes writes again (the paused create has run by then, or never will). */
async function writable(ctl: Redis): Promise<void> {
  for (;;) {
    if ((await ctl.set('probe', '1', 'PX', 1000)) === 'OK') return;
  }
}

describe('a submission answered 503 is never stored later', () => {
  it('Redis writes paused 4 s around a submit without Idempotency-Key: 503 and no migration, 20 of 20', async () => {
    const w = await world('pause4');
    // Control: the same submit with Redis answering creates one migration (so the count below can move).
    expect(await settledControl(w)).toBe(201);
    expect(await w.stored()).toBe(1);
    const before = await w.keys();
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) {
      await w.ctl.call('CLIENT', 'PAUSE', '4000', 'WRITE');
      const t0 = performance.now();
      const r = await w.submit();
      statuses.push(r.status);
      expect(r.headers.get('retry-after')).toBe('1');
      expect(performance.now() - t0).toBeLessThan(2_500);
      await writable(w.ctl);
      await sleep(100);
      expect(await w.stored(), `try ${i + 1}`).toBe(1);
      expect(await w.keys(), `try ${i + 1}: keys`).toEqual(before);
    }
    expect(statuses).toEqual(Array.from({ length: 20 }, () => 503));
    expect((await w.submit()).status).toBe(201); // and Redis, writable again, takes the next one
  }, 240_000);

  it('Redis receiving the create script 1.5 s late (its checks before it answered): 503 and nothing stored, 20 of 20', async () => {
    // CLIENT PAUSE WRITE also holds the route check that precedes the create, so the tests above end there; a
    // proxy that delays only the create puts the pause where the create's deadline is the only guard.
    let proxy: Awaited<ReturnType<typeof startRedisHoldProxy>> | undefined;
    const w = await world('holdcreate', {
      via: async (url) => {
        proxy = await startRedisHoldProxy(Number(new URL(url).port));
        cleanups.push(() => proxy!.close());
        return proxy.url;
      },
    });
    expect(await settledControl(w)).toBe(201); // control; it also loads the script into Redis' cache
    const before = await w.keys();
    for (let i = 0; i < 20; i++) {
      proxy!.arm(scripts.create.sha, 1500);
      const r = await w.submit();
      expect(r.status, `try ${i + 1}`).toBe(503);
      await proxy!.released();
      await sleep(200);
      expect(await w.keys(), `try ${i + 1}: keys`).toEqual(before);
    }
    expect(proxy!.holds).toBe(20);
  }, 120_000);

  it('Redis frozen 4 s (SIGSTOP) around a submit without Idempotency-Key: 503 and nothing stored, 5 of 5', async () => {
    // A frozen Redis answers nothing: the submission times out at its first command (the route check), and the
    // commands already sent run at the thaw; none of them may store anything.
    const w = await world('freeze4');
    const pid = Number(/process_id:(\d+)/.exec(await w.ctl.info('server'))?.[1]);
    expect(pid).toBeGreaterThan(0);
    const before = await w.keys();
    for (let i = 0; i < 5; i++) {
      process.kill(pid, 'SIGSTOP');
      const thaw = setTimeout(() => process.kill(pid, 'SIGCONT'), 4000);
      cleanups.push(async () => (clearTimeout(thaw), process.kill(pid, 'SIGCONT')));
      const t0 = performance.now();
      const r = await w.submit();
      expect(r.status, `try ${i + 1}`).toBe(503);
      expect(performance.now() - t0).toBeLessThan(2_500);
      await writable(w.ctl);
      await sleep(100);
      expect(await w.keys(), `try ${i + 1}: keys`).toEqual(before);
    }
  }, 240_000);

  it('the paused create reaching Redis just after the 503 (pause lifted at once) stores nothing either, 10 of 10', async () => {
    const w = await world('pauseedge');
    for (let i = 0; i < 10; i++) {
      await w.ctl.call('CLIENT', 'PAUSE', '30000', 'WRITE');
      const r = await w.submit();
      expect(r.status).toBe(503);
      await w.ctl.call('CLIENT', 'UNPAUSE'); // the held script runs now, ~1 s after it was sent
      await writable(w.ctl);
      await sleep(100);
      expect(await w.stored(), `try ${i + 1}`).toBe(0);
    }
  }, 120_000);

  it('with an Idempotency-Key: 503, nothing stored; the retry with the same key creates exactly one', async () => {
    const w = await world('pausekey');
    await w.ctl.call('CLIENT', 'PAUSE', '4000', 'WRITE');
    expect((await w.submit({ key: 'k-1' })).status).toBe(503);
    await writable(w.ctl);
    await sleep(100);
    expect(await w.stored()).toBe(0);
    let r = await w.submit({ key: 'k-1' });
    // The first request's "in progress" marker may have landed when Redis resumed: 409 until it expires.
    const until = Date.now() + 15_000;
    while (r.status === 409 && Date.now() < until) {
      await sleep(500);
      r = await w.submit({ key: 'k-1' });
    }
    expect(r.status).toBe(201);
    expect((await w.submit({ key: 'k-1' })).status).toBe(201); // a replay, not a second migration
    expect(await w.stored()).toBe(1);
  }, 60_000);
});
