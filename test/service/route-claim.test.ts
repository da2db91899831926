/**
 * One migration per VirtualService route: a submission for a route another migration is shifting is refused
 * with 409 naming it; two submissions that race in before either starts are both stored, but only the first to
 * start runs — the other waits (its reason names the one running) and starts when that one has finished.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { startRedis } from '../../src/sim/redis.js';
import { startScenario } from '../../src/sim/scenario.js';
import { SERVICE_POLICY, TERMINAL, TOKEN, getMigration, http, startApi, waitFor } from './helpers.js';

const prom = () => ({ prometheusUrl: inject('prometheusUrl'), sdDir: inject('prometheusSdDir') });
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function world(prefix: string) {
  const redis = await startRedis();
  cleanups.push(() => redis.close());
  const s = await startScenario({ metrics: prom(), policy: SERVICE_POLICY });
  cleanups.push(() => s.close());
  const kubeconfig = s.kube.writeKubeconfig(mkdtempSync(path.join(os.tmpdir(), 'meshshift-kc-')));
  const svc = await startApi(redis.url, prefix, {
    role: 'all',
    kubeconfig,
    prometheus: prom().prometheusUrl,
  });
  cleanups.push(() => svc.close());
  await s.waitForTraffic();
  const submit = () => http(svc.url!, 'POST', '/v1/migrations', { token: TOKEN, body: s.planYaml });
  return { s, base: svc.url!, submit, svc };
}

describe('one migration per VirtualService route', () => {
  it('a second submission for a route being shifted is refused with 409 naming the running migration', async () => {
    const w = await world('route409');
    const first = await w.submit();
    expect(first.status).toBe(201);
    const id = first.json.id as string;
    await waitFor(w.base, id, (m) => m.migration.weight > 0 || TERMINAL.includes(m.migration.phase));
    const second = await w.submit();
    expect(second.status).toBe(409);
    expect(second.json).toMatchObject({ error: 'conflict', running: id });
    expect(String(second.json.message)).toMatch(
      new RegExp(
        `^VirtualService ${w.s.fixture.namespace}/${w.s.fixture.virtualService} route .* is being shifted by migration ${id}`,
      ),
    );
    expect(await w.svc.store.ids()).toEqual([id]);
    // Once it has finished, the route is free again.
    expect((await http(w.base, 'POST', `/v1/migrations/${id}/abort`, { token: TOKEN })).status).toBe(202);
    await waitFor(w.base, id, (m) => TERMINAL.includes(m.migration.phase));
    expect((await w.submit()).status).toBe(201);
  }, 180_000);

  it('two submissions racing in before either starts: both stored, never both running; the second starts after the first', async () => {
    const w = await world('routerace');
    const [a, b] = await Promise.all([w.submit(), w.submit()]);
    expect([a.status, b.status]).toEqual([201, 201]);
    const ids = [a.json.id as string, b.json.id as string];
    let waiting: { id: string; reason?: string } | undefined;
    let runner = '';
    const deadline = Date.now() + 60_000;
    while (!waiting && Date.now() < deadline) {
      const states = await Promise.all(ids.map((id) => getMigration(w.base, id)));
      const moving = states.filter((m) => m.migration.phase !== 'pending');
      expect(moving.length).toBeLessThanOrEqual(1); // never both running
      const queued = states.find((m) => /is being shifted by migration/.test(m.migration.reason ?? ''));
      if (moving.length === 1 && queued) {
        runner = moving[0]!.migration.id;
        waiting = queued.migration;
      } else await new Promise((r) => setTimeout(r, 200));
    }
    expect(waiting, 'one migration waits for the route').toBeDefined();
    expect(waiting!.reason).toContain(`is being shifted by migration ${runner}`);
    expect((await http(w.base, 'POST', `/v1/migrations/${runner}/abort`, { token: TOKEN })).status).toBe(202);
    await waitFor(w.base, runner, (m) => TERMINAL.includes(m.migration.phase));
    const second = await waitFor(w.base, waiting!.id, (m) => m.migration.phase !== 'pending', 60_000);
    expect(second.migration.phase).not.toBe('pending');
  }, 240_000);
});
