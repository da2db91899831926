/**
 * Issue 10, defect 3: with Redis down the API hung (offline queue, `maxRetriesPerRequest: null`) and commands whose
 * clients had given up ran when Redis came back. Real redis-server processes, a real `meshshift serve --role api`
 * child process, and for the workers the Kubernetes API test server, real Prometheus and a worker child process.
 */
import { FUTURE_PLAN } from './store-fixtures.js';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { commandExpired } from '../../src/store/command-deadline.js';
import { startRedis, type RedisServer } from '../../src/sim/redis.js';
import { startScenario } from '../../src/sim/scenario.js';
import {
  SERVICE_POLICY,
  TERMINAL,
  TOKEN,
  historyWeights,
  http,
  startWorkerProcess,
  tokensFile,
  waitFor,
} from './helpers.js';
import { meanCi, startServeProcess, type ServeProcess } from './serve-process.js';

const prom = () => ({ prometheusUrl: inject('prometheusUrl'), sdDir: inject('prometheusSdDir') });
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Nothing runs before 2099: the test is about the API and Redis, not a migration. */
const PLAN = FUTURE_PLAN;

async function apiProcess(prefix: string): Promise<{ redis: RedisServer; api: ServeProcess; raw: Redis }> {
  const redis = await startRedis({ persistent: true });
  cleanups.push(() => redis.close());
  const api = await startServeProcess([
    '--role',
    'api',
    '--redis',
    redis.url,
    '--prefix',
    prefix,
    '--tokens-file',
    tokensFile(),
    '--log-level',
    'info',
  ]);
  cleanups.push(() => api.terminate());
  const raw = new Redis(redis.url, { maxRetriesPerRequest: null });
  raw.on('error', () => undefined);
  cleanups.push(async () => raw.disconnect());
  return { redis, api, raw };
}

async function timed(base: string, method: string, p: string, body?: string, key?: string) {
  const t0 = performance.now();
  const res = await fetch(`${base}${p}`, {
    method,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      ...(body !== undefined ? { 'content-type': 'application/yaml' } : {}),
      ...(key ? { 'idempotency-key': key } : {}),
    },
    ...(body !== undefined ? { body } : {}),
    signal: AbortSignal.timeout(30_000),
  });
  const json = (await res.json()) as Record<string, unknown>;
  return { status: res.status, json, ms: performance.now() - t0, retryAfter: res.headers.get('retry-after') };
}

const fmt = (s: ReturnType<typeof meanCi>) =>
  `${s.mean.toFixed(0)} ± ${s.ci.toFixed(0)} ms (95 % CI, n=${s.n}, max ${s.max.toFixed(0)} ms)`;

describe('Redis unavailable', () => {
  it('Redis stopped: GET, submit and commands answer 503 within 2 s (never hang); 200 again once it is back', async () => {
    const { redis, api } = await apiProcess('down');
    const created = await timed(api.url, 'POST', '/v1/migrations', PLAN);
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    const id = created.json.id as string;

    await redis.stop();
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      for (const [method, p, body] of [
        ['GET', `/v1/migrations/${id}`],
        ['GET', '/v1/migrations'],
        ['POST', '/v1/migrations', PLAN],
        ['POST', `/v1/migrations/${id}/abort`],
      ] as const) {
        const r = await timed(api.url, method, p, body);
        expect(r.status, `${method} ${p}: ${JSON.stringify(r.json)}`).toBe(503);
        expect(r.retryAfter).toBe('1');
        expect(String(r.json.message)).toMatch(/Redis|retry/);
        times.push(r.ms);
      }
    }
    expect((await timed(api.url, 'GET', '/readyz')).status).toBe(503);
    const s = meanCi(times);
    console.log(`[figures] time to 503 with Redis stopped: ${fmt(s)}`);
    expect(s.max).toBeLessThan(2500); // the 2 s budget, plus scheduling slack for a loaded CI machine

    await redis.start();
    const back = Date.now();
    let status = 0;
    while (Date.now() - back < 10_000 && status !== 200) {
      status = (await timed(api.url, 'GET', `/v1/migrations/${id}`)).status;
      if (status !== 200) await sleep(50);
    }
    console.log(`[figures] API answering 200 again ${Date.now() - back} ms after Redis restarted`);
    expect(status).toBe(200);
    // No ghost: the ABORTs refused while Redis was down were not queued; the submissions were not stored.
    const after = await timed(api.url, 'GET', '/v1/migrations');
    expect((after.json.items as unknown[]).length).toBe(1);
    const m = await timed(api.url, 'GET', `/v1/migrations/${id}`);
    expect((m.json.history as Array<{ type: string }>).map((h) => h.type)).toEqual(['submitted']);
  }, 300_000);

  it('Redis not answering (writes paused): the command answers 503 within 2 s and is never queued later (a plain push would have been); Idempotency-Key makes command and submit retries safe', async () => {
    const { api, raw } = await apiProcess('paused');
    const created = await timed(api.url, 'POST', '/v1/migrations', PLAN);
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    const id = created.json.id as string;
    const inbox = `paused:m:${id}:inbox`;

    // Control: a push sent while writes are paused is executed when the pause ends (what made ghosts).
    await raw.call('CLIENT', 'PAUSE', '2500', 'WRITE');
    const control = new Redis(raw.options.port!, '127.0.0.1');
    const ghost = control.rpush(`paused:control`, 'PAUSE');
    const r = await timed(api.url, 'POST', `/v1/migrations/${id}/abort`, undefined, 'abort-1');
    expect(r.status, JSON.stringify(r.json)).toBe(503);
    console.log(`[figures] time to 503 with Redis writes paused: ${r.ms.toFixed(0)} ms`);
    expect(r.ms).toBeLessThan(2500); // the 2 s budget, plus scheduling slack
    await ghost;
    control.disconnect();
    await sleep(500); // the API's push, held by Redis, has now run
    expect(await raw.lrange('paused:control', 0, -1)).toEqual(['PAUSE']);
    expect(await raw.llen(inbox)).toBe(0);

    // The client retries with the same key: queued once; a further retry gets the same answer, no second push.
    const retry = await timed(api.url, 'POST', `/v1/migrations/${id}/abort`, undefined, 'abort-1');
    expect(retry.status, JSON.stringify(retry.json)).toBe(202);
    const again = await timed(api.url, 'POST', `/v1/migrations/${id}/abort`, undefined, 'abort-1');
    expect(again.status).toBe(202);
    expect(again.json).toEqual(retry.json);
    const queued = (await raw.lrange(inbox, 0, -1)).map((s) => JSON.parse(s) as Record<string, number>);
    expect(queued).toHaveLength(1);
    expect(queued[0]!.storedAt).toBeLessThanOrEqual(queued[0]!.deadline!);
    expect(commandExpired(queued[0] as never, Date.now())).toBe(false);
    // The same key for a different command is refused.
    const other = await timed(api.url, 'POST', `/v1/migrations/${id}/pause`, undefined, 'abort-1');
    expect(other.status).toBe(422);
    const badKey = await timed(api.url, 'POST', `/v1/migrations/${id}/abort`, undefined, 'a b');
    expect(badKey.status).toBe(400);
    expect(await raw.llen(inbox)).toBe(1);

    // Submissions: a retry with the same key returns the first migration; another plan under that key → 422.
    const s1 = await timed(api.url, 'POST', '/v1/migrations', PLAN, 'submit-1');
    const s2 = await timed(api.url, 'POST', '/v1/migrations', PLAN, 'submit-1');
    expect([s1.status, s2.status]).toEqual([201, 201]);
    expect(s2.json.id).toBe(s1.json.id);
    const s3 = await timed(api.url, 'POST', '/v1/migrations', `${PLAN}\n# edited\n`, 'submit-1');
    expect(s3.status, JSON.stringify(s3.json)).toBe(422);
    const list = await timed(api.url, 'GET', '/v1/migrations');
    expect((list.json.items as unknown[]).length).toBe(2);
  }, 300_000);

  it('workers take no jobs while Redis is down and resume without a double step; a command stored after its deadline is dropped', async () => {
    const redis = await startRedis({ persistent: true });
    cleanups.push(() => redis.close());
    const s = await startScenario({ metrics: prom(), policy: SERVICE_POLICY });
    cleanups.push(() => s.close());
    const kubeconfig = s.kube.writeKubeconfig(mkdtempSync(path.join(os.tmpdir(), 'meshshift-kc-')));
    const api = await startServeProcess([
      '--role',
      'api',
      '--redis',
      redis.url,
      '--prefix',
      'wdown',
      '--time-scale',
      '0.05',
      '--tokens-file',
      tokensFile(),
      '--log-level',
      'info',
    ]);
    cleanups.push(() => api.terminate());
    const worker = await startWorkerProcess({
      redisUrl: redis.url,
      prefix: 'wdown',
      kubeconfig,
      prometheusUrl: prom().prometheusUrl,
    });
    cleanups.push(() => worker.stop());
    await s.waitForTraffic();
    const res = await http(api.url, 'POST', '/v1/migrations', { token: TOKEN, body: s.planYaml });
    expect(res.status, JSON.stringify(res.json)).toBe(201);
    const id = res.json.id as string;
    await waitFor(api.url, id, (m) => m.migration.weight >= 5);
    // A PAUSE that reached Redis after its deadline (written here directly, as a late push would have been): the
    // worker must drop it, not apply it.
    const raw = new Redis(redis.url);
    const late = Date.now();
    await raw.rpush(
      `wdown:m:${id}:inbox`,
      JSON.stringify({ type: 'PAUSE', by: 'alice', at: late - 5000, deadline: late - 3500, storedAt: late }),
    );
    raw.disconnect();
    const writesBefore = s.weightWrites().length;
    const stoppedAt = Date.now();
    await redis.stop();
    await sleep(6000);
    const writesDuring = s.weightWrites().length - writesBefore;
    await redis.start();
    const startedAt = Date.now();
    const done = await waitFor(api.url, id, (m) => TERMINAL.includes(m.migration.phase));
    expect(done.migration.phase, done.migration.reason).toBe('completed');
    expect(s.weightWrites()).toEqual([1, 5, 10, 25, 50, 100]);
    expect(historyWeights(done.history)).toEqual([1, 5, 10, 25, 50, 100]);
    expect(done.history.filter((h) => h.type === 'command')).toEqual([
      expect.objectContaining({
        command: 'PAUSE',
        accepted: false,
        reason: expect.stringMatching(/deadline/),
      }),
    ]);
    // At most the step in flight when Redis went away wrote to the mesh; nothing was decided during the outage.
    expect(writesDuring).toBeLessThanOrEqual(1);
    const during = done.history.filter((h) => Number(h.at) > stoppedAt + 2000 && Number(h.at) < startedAt);
    expect(during, JSON.stringify(during)).toEqual([]);
    console.log(
      `[figures] worker with Redis down ${startedAt - stoppedAt} ms: ${writesDuring} mesh writes during the outage, history entries inside it: ${during.length}`,
    );
  }, 300_000);
});
