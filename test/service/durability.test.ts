/** Redis restarts and scheduled rollouts, with real Redis, real Prometheus and an in-process API + worker. */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { Clock } from '../../src/engine/clock.js';
import { mayAdvance } from '../../src/worker/schedule.js';
import { startRedis } from '../../src/sim/redis.js';
import { startScenario } from '../../src/sim/scenario.js';
import { SERVICE_POLICY, TERMINAL, TOKEN, historyWeights, http, startApi, waitFor } from './helpers.js';

const prom = () => ({ prometheusUrl: inject('prometheusUrl'), sdDir: inject('prometheusSdDir') });
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function setup(opts: { persistent?: boolean; clock?: Clock; planExtra?: string } = {}) {
  const redis = await startRedis({ persistent: !!opts.persistent });
  cleanups.push(() => redis.close());
  const s = await startScenario({ metrics: prom(), policy: SERVICE_POLICY });
  cleanups.push(() => s.close());
  const kubeconfig = s.kube.writeKubeconfig(mkdtempSync(path.join(os.tmpdir(), 'meshshift-kc-')));
  const svc = await startApi(
    redis.url,
    'dur',
    { role: 'all', kubeconfig, prometheus: prom().prometheusUrl },
    opts.clock ? { clock: opts.clock } : {},
  );
  cleanups.push(() => svc.close());
  await s.waitForTraffic();
  return { redis, s, svc, base: svc.url! };
}

describe('durability and schedules', () => {
  it('Redis restarted (AOF on) mid-migration: the migration continues, nothing lost', async () => {
    const { redis, s, base } = await setup({ persistent: true });
    const r = await http(base, 'POST', '/v1/migrations', { token: TOKEN, body: s.planYaml });
    expect(r.status).toBe(201);
    const id = r.json.id as string;
    const before = await waitFor(base, id, (m) => m.migration.weight >= 10);
    const stoppedAt = Date.now();
    await redis.stop();
    await sleep(1500);
    await redis.start();
    console.log(`[figures] Redis down for ${Date.now() - stoppedAt} ms at ${before.migration.weight} %`);
    const done = await waitFor(base, id, (m) => TERMINAL.includes(m.migration.phase));
    expect(done.migration.phase, done.migration.reason).toBe('completed');
    expect(s.weightWrites()).toEqual([1, 5, 10, 25, 50, 100]);
    expect(historyWeights(done.history)).toEqual([1, 5, 10, 25, 50, 100]);
    // Everything written before the restart is still there, in order.
    expect(done.history.slice(0, before.history.length).map((h) => h.id)).toEqual(
      before.history.map((h) => h.id),
    );
  });

  it('cron start fires at its time; steps hold outside the window and resume inside it (controllable clock)', async () => {
    // Clock: Monday 2030-01-07 08:59:57 Europe/Berlin, moved by the test.
    let offset = Date.parse('2030-01-07T07:59:57Z') - Date.now();
    const clock: Clock = {
      now: () => Date.now() + offset,
      setTimeout: (fn, ms) => setTimeout(fn, ms),
      clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout),
    };
    const { s, base, svc } = await setup({ clock });
    const schedule = `  schedule:
    start:
      cron: "0 9 * * 1-4"
      timeZone: Europe/Berlin
    windows:
      - days: [Mon, Tue, Wed, Thu]
        from: "09:00"
        to: "09:01"
        timeZone: Europe/Berlin
`;
    const plan = s.planYaml.replace(/\nspec:\n/, `\nspec:\n${schedule}`);
    offset = Date.parse('2030-01-07T07:59:57Z') - Date.now();
    const r = await http(base, 'POST', '/v1/migrations', { token: TOKEN, body: plan });
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    const id = r.json.id as string;
    await sleep(1500);
    expect((await http(base, 'GET', `/v1/migrations/${id}`)).json.migration).toMatchObject({
      phase: 'pending',
    });
    expect(s.weightWrites()).toEqual([]);
    const first = await waitFor(base, id, (m) => m.migration.weight >= 1, 20_000);
    const fired = first.history.find((h) => h.type === 'schedule')!;
    expect(fired.at).toBeGreaterThanOrEqual(Date.parse('2030-01-07T08:00:00Z'));
    expect(fired.at).toBeLessThan(Date.parse('2030-01-07T08:00:05Z'));

    // Leave the window: the migration holds its weight (still analysed), nothing advances.
    offset += 65_000;
    const held = await waitFor(base, id, (m) => m.migration.phase === 'paused', 10_000);
    const heldWrites = s.weightWrites();
    await sleep(4000);
    expect(s.weightWrites()).toEqual(heldWrites);
    const still = (await http(base, 'GET', `/v1/migrations/${id}`)).json.migration as {
      phase: string;
      heldByWindow: boolean;
    };
    expect(still).toMatchObject({ phase: 'paused', heldByWindow: true });
    expect(held.migration.reason).toMatch(/outside the advance windows/);

    // Tuesday 09:00 Berlin: the window opens, the migration resumes and completes.
    offset = Date.parse('2030-01-08T08:00:00Z') - Date.now();
    const done = await waitFor(base, id, (m) => TERMINAL.includes(m.migration.phase), 90_000);
    expect(done.migration.phase, done.migration.reason).toBe('completed');
    const writes = s.weightWrites();
    expect(writes).toEqual([1, 5, 10, 25, 50, 100].slice(0, writes.length));
    expect(writes.at(-1)).toBe(100);
    const rec = await svc.store.get(id);
    for (const w of done.history.filter((h) => h.type === 'weight' && h.wrote))
      expect(mayAdvance(rec!.plan.schedule, w.at), `write at ${new Date(w.at).toISOString()}`).toBe(true);
  });
});
