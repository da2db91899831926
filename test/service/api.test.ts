/** HTTP API behaviour with real Redis (and, for the race, a real worker, Kubernetes API test server and Prometheus). */
import { FUTURE_PLAN } from './store-fixtures.js';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { RunningService } from '../../src/serve/start.js';
import { startRedis } from '../../src/sim/redis.js';
import { startScenario } from '../../src/sim/scenario.js';
import { SERVICE_POLICY, TERMINAL, TOKEN, OTHER_TOKEN, http, startApi, waitFor } from './helpers.js';

const prom = () => ({ prometheusUrl: inject('prometheusUrl'), sdDir: inject('prometheusSdDir') });
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function apiOnly(): Promise<RunningService> {
  const redis = await startRedis();
  cleanups.push(() => redis.close());
  const api = await startApi(redis.url, 'apitest');
  cleanups.push(() => api.close());
  return api;
}

describe('HTTP API', () => {
  it('invalid plan → 422 naming each bad field; nothing stored or enqueued', async () => {
    const api = await apiOnly();
    const base = api.url!;
    const bad = `apiVersion: meshshift.io/v1alpha1
kind: MigrationPlan
metadata:
  name: Bad_Name
spec:
  namespace: shop
  host: productcatalogservice
  virtualService: { name: pc }
  source: { subset: vm, serviceEntry: pc-vms }
  target: { subset: k8s, deployment: pc }
  policy:
    steps: [5, 1]
    stepDuration: 2m
    analysis: { interval: 10s, window: 1m }
    slo: { errorRate: { max: 0.01 } }
  schedule:
    windows:
      - { days: [Mon, Funday], from: "09:00", to: "16:00", timeZone: Europe/Berlin }
      - { days: [Tue], from: "10:00", to: "09:00", timeZone: Mars/Olympus }
`;
    const r = await http(base, 'POST', '/v1/migrations', { token: TOKEN, body: bad });
    expect(r.status).toBe(422);
    const paths = (r.json.errors as Array<{ path: string; message: string; line?: number }>).map(
      (e) => e.path,
    );
    expect(paths).toEqual(
      expect.arrayContaining([
        'metadata.name',
        'spec.policy.steps',
        'spec.schedule.windows[0].days[1]',
        'spec.schedule.windows[1].timeZone',
      ]),
    );
    const json = await http(base, 'POST', '/v1/migrations', {
      token: TOKEN,
      body: JSON.stringify({
        apiVersion: 'meshshift.io/v1alpha1',
        kind: 'MigrationPlan',
        metadata: { name: 'x' },
      }),
      type: 'application/json',
    });
    expect(json.status).toBe(422);
    expect((json.json.errors as Array<{ path: string }>).map((e) => e.path)).toContain('spec');
    const cron = await http(base, 'POST', '/v1/migrations', {
      token: TOKEN,
      body: FUTURE_PLAN.replace('at: "2099-01-01T09:00:00Z"', 'cron: "61 9 * * 1"'),
    });
    expect(cron.status).toBe(422);
    expect((cron.json.errors as Array<{ path: string }>)[0]!.path).toBe('spec.schedule.start.cron');
    expect(await api.store.ids()).toEqual([]);
    const counts = await api.queue.counts();
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(0);
  });

  it('missing or bad token → 401 and nothing changes', async () => {
    const api = await apiOnly();
    const base = api.url!;
    const plan = FUTURE_PLAN;
    for (const token of [undefined, 'wrong-token-0123456789', `${TOKEN}x`]) {
      const r = await http(base, 'POST', '/v1/migrations', { ...(token ? { token } : {}), body: plan });
      expect(r.status).toBe(401);
    }
    expect(await api.store.ids()).toEqual([]);
    const ok = await http(base, 'POST', '/v1/migrations', { token: TOKEN, body: plan });
    expect(ok.status).toBe(201);
    const id = ok.json.id as string;
    const before = await http(base, 'GET', `/v1/migrations/${id}`);
    for (const verb of ['abort', 'pause', 'promote', 'resume']) {
      const r = await http(base, 'POST', `/v1/migrations/${id}/${verb}`, {
        token: 'nope-nope-nope-nope-nope',
      });
      expect(r.status).toBe(401);
      expect(JSON.stringify(r.json)).not.toContain(TOKEN);
    }
    expect(await api.store.inbox(id)).toEqual([]);
    const after = await http(base, 'GET', `/v1/migrations/${id}`);
    expect(after.json).toEqual(before.json);
    // Authorised: ABORT of a scheduled migration is accepted; PROMOTE before the start is refused with 409.
    expect((await http(base, 'POST', `/v1/migrations/${id}/promote`, { token: TOKEN })).status).toBe(409);
    expect((await http(base, 'GET', '/openapi.json')).json.openapi).toBe('3.1.0');
    expect((await http(base, 'GET', '/readyz')).status).toBe(200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/meshshift_migrations\{state="pending"\} 1/);
    // Per-migration gauges the alerts and the dashboard in deploy/monitoring rely on.
    expect(metrics).toContain(
      `meshshift_migration_phase{namespace="${ok.json.namespace as string}",migration="${id}",phase="pending"} 1`,
    );
    expect(metrics).toMatch(
      new RegExp(
        `meshshift_migration_weight_percent\\{namespace="[^"]+",migration="${id}",plan="[^"]+"\\} 0`,
      ),
    );
    expect(metrics).toMatch(
      new RegExp(
        `meshshift_migration_last_transition_timestamp_seconds\\{namespace="[^"]+",migration="${id}"\\} \\d+`,
      ),
    );
    expect(metrics).toMatch(
      /meshshift_http_requests_total\{route="\/v1\/migrations",method="POST",status="401"\} 3/,
    );
  });

  it('promote and abort racing from two clients: abort wins, final weight 100 % VM', async () => {
    const redis = await startRedis();
    cleanups.push(() => redis.close());
    const s = await startScenario({
      metrics: prom(),
      policy: `${SERVICE_POLICY}approvals:\n  - atWeight: 10\n`,
    });
    cleanups.push(() => s.close());
    const kubeconfig = s.kube.writeKubeconfig(mkdtempSync(path.join(os.tmpdir(), 'meshshift-kc-')));
    const svc = await startApi(redis.url, 'race', {
      role: 'all',
      kubeconfig,
      prometheus: prom().prometheusUrl,
    });
    cleanups.push(() => svc.close());
    const base = svc.url!;
    await s.waitForTraffic();
    const r = await http(base, 'POST', '/v1/migrations', { token: TOKEN, body: s.planYaml });
    expect(r.status).toBe(201);
    const id = r.json.id as string;
    await waitFor(
      base,
      id,
      (m) => m.migration.phase === 'awaitingApproval' || TERMINAL.includes(m.migration.phase),
    );
    const [promote, abort] = await Promise.all([
      http(base, 'POST', `/v1/migrations/${id}/promote`, {
        token: TOKEN,
        body: '{"reason":"looks good"}',
        type: 'application/json',
      }),
      http(base, 'POST', `/v1/migrations/${id}/abort`, {
        token: OTHER_TOKEN,
        body: '{"reason":"pager went off"}',
        type: 'application/json',
      }),
    ]);
    expect([promote.status, abort.status]).toEqual([202, 202]);
    const done = await waitFor(base, id, (m) => TERMINAL.includes(m.migration.phase));
    expect(done.migration.phase).toBe('aborted');
    expect(done.migration.weight).toBe(0);
    expect(s.weightWrites().at(-1)).toBe(0);
    const vs = s.kube.get({
      group: 'networking.istio.io',
      plural: 'virtualservices',
      namespace: s.fixture.namespace,
      name: s.fixture.virtualService,
    });
    const route = (vs!.spec as { http: Array<{ route: Array<{ weight: number }> }> }).http[0]!.route;
    expect(route.map((x) => x.weight)).toEqual([100, 0]);
    const cmds = done.history.filter((h) => h.type === 'command');
    expect(cmds.find((c) => c.command === 'ABORT')).toMatchObject({
      by: 'bob',
      accepted: true,
      reason: 'pager went off',
    });
    expect(cmds.find((c) => c.command === 'PROMOTE')).toMatchObject({ by: 'alice' });
    // Late commands are refused with 409 once it has finished.
    expect((await http(base, 'POST', `/v1/migrations/${id}/resume`, { token: TOKEN })).status).toBe(409);
  });
});
