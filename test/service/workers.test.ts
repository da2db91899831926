/**
 * Service mode end to end with real Redis, real Prometheus, the Kubernetes API test server and worker child
 * processes running the real `meshshift serve --role worker`.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { RunningService } from '../../src/serve/start.js';
import { startRedis, type RedisServer } from '../../src/sim/redis.js';
import { startScenario, type Scenario } from '../../src/sim/scenario.js';
import {
  SERVICE_POLICY,
  TERMINAL,
  TOKEN,
  getMigration,
  historyWeights,
  http,
  startApi,
  startWorkerProcess,
  waitFor,
  workerJobs,
  type WorkerProcess,
} from './helpers.js';

const prom = () => ({ prometheusUrl: inject('prometheusUrl'), sdDir: inject('prometheusSdDir') });
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function setup(prefix: string, opts: { persistent?: boolean; workers?: number } = {}) {
  const redis: RedisServer = await startRedis({ persistent: !!opts.persistent });
  cleanups.push(() => redis.close());
  const s: Scenario = await startScenario({ metrics: prom(), policy: SERVICE_POLICY });
  cleanups.push(() => s.close());
  const kubeconfig = s.kube.writeKubeconfig(mkdtempSync(path.join(os.tmpdir(), 'meshshift-kc-')));
  const api: RunningService = await startApi(redis.url, prefix);
  cleanups.push(() => api.close());
  const workers: WorkerProcess[] = [];
  for (let i = 0; i < (opts.workers ?? 2); i++) {
    const w = await startWorkerProcess({
      redisUrl: redis.url,
      prefix,
      kubeconfig,
      prometheusUrl: prom().prometheusUrl,
    });
    cleanups.push(() => w.stop());
    workers.push(w);
  }
  await s.waitForTraffic();
  return { redis, s, api, base: api.url!, workers };
}

describe('service mode with two worker processes', () => {
  it('a migration submitted through the API completes across two workers, one write per step', async () => {
    const { s, base, workers } = await setup('two');
    const started = Date.now();
    const res = await http(base, 'POST', '/v1/migrations', { token: TOKEN, body: s.planYaml });
    expect(res.status, JSON.stringify(res.json)).toBe(201);
    const id = res.json.id as string;
    const done = await waitFor(base, id, (m) => TERMINAL.includes(m.migration.phase));
    console.log(
      `[figures] service migration across 2 workers: ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    expect(done.migration.phase, done.migration.reason).toBe('completed');
    expect(done.migration.weight).toBe(100);
    expect(s.weightWrites()).toEqual([1, 5, 10, 25, 50, 100]);
    expect(historyWeights(done.history)).toEqual([1, 5, 10, 25, 50, 100]);
    expect(done.history.filter((h) => h.type === 'verdict').length).toBeGreaterThan(6);
    expect(done.history[0]).toMatchObject({ type: 'submitted', by: 'alice' });
    const jobs = await Promise.all(workers.map((w) => workerJobs(w.url)));
    console.log(`[figures] drive jobs committed per worker: ${jobs.join(', ')}`);
    for (const n of jobs) expect(n).toBeGreaterThan(0);
  });

  it('kill -9 of the driving worker mid-step: the other worker resumes within the lock expiry, no step twice or skipped', async () => {
    const { s, base, workers, redis, api } = await setup('kill');
    void redis;
    let killedAt = 0;
    let killedPid = 0;
    s.kube.onRequest(async (req) => {
      if (
        killedAt ||
        req.method !== 'PATCH' ||
        !req.path.endsWith(`/virtualservices/${s.fixture.virtualService}`)
      )
        return;
      const ops = Array.isArray(req.body) ? (req.body as Array<{ op: string; value: unknown }>) : [];
      const last = ops.filter((o) => o.op !== 'test').at(-1)?.value;
      const weight = typeof last === 'number' ? last : (last as { weight?: number } | undefined)?.weight;
      if (weight !== 25) return;
      const id = (await api.store.ids())[0]!;
      killedPid = Number((await api.store.get(id))?.runningPid);
      const victim = workers.find((w) => w.pid === killedPid);
      if (!victim) throw new Error(`the driving pid ${killedPid} is not one of the workers`);
      victim.kill9();
      killedAt = Date.now();
      // The PATCH still lands: the worker dies after writing and before committing — the hardest case.
    });
    const res = await http(base, 'POST', '/v1/migrations', { token: TOKEN, body: s.planYaml });
    expect(res.status).toBe(201);
    const id = res.json.id as string;
    const done = await waitFor(base, id, (m) => TERMINAL.includes(m.migration.phase), 120_000);
    expect(killedAt).toBeGreaterThan(0);
    const takeover = done.history.find((h) => h.type === 'takeover');
    expect(takeover, JSON.stringify(done.history.map((h) => h.type))).toBeDefined();
    const detectMs = takeover!.at - killedAt;
    if (process.env.DEBUG_SERVICE)
      for (const w of workers)
        console.log(
          w
            .stderr()
            .split('\n')
            .filter((l) => /"level":(40|50)/.test(l))
            .join('\n'),
        );
    console.log(
      `[figures] kill -9 at 25 %: takeover after ${detectMs} ms (lock TTL 3000 ms), by ${String(takeover!.by)} from pid ${String(takeover!.fromPid)}`,
    );
    expect(takeover!.fromPid).toBe(killedPid);
    expect(detectMs).toBeLessThan(3000 * 2.5);
    expect(done.migration.phase, done.migration.reason).toBe('completed');
    // No step twice, none skipped: on the Kubernetes side and in the history.
    expect(s.weightWrites()).toEqual([1, 5, 10, 25, 50, 100]);
    expect(historyWeights(done.history)).toEqual([1, 5, 10, 25, 50, 100]);
    const wrote = done.history.flatMap((h) => (h.type === 'weight' && h.wrote ? [h.weight] : []));
    expect(wrote).toEqual([1, 5, 10, 50, 100]); // 25 was written by the killed worker, re-applied as a no-op
    const seqs = done.history.map((h) => h.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect((await getMigration(base, id)).migration.weight).toBe(100);
  });
});
