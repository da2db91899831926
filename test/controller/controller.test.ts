/**
 * `kubectl apply` starts a migration: MigrationPlan custom resources driven by the controller through the
 * service (real Redis, real Prometheus, the simulator and the strict Kubernetes API test server).
 */
import { afterEach, describe, expect, inject, it } from 'vitest';
import {
  applyPlan,
  condition,
  controllerEnv,
  eventsFor,
  meanCi,
  planObject,
  waitPlan,
  type ControllerEnv,
} from './helpers.js';

const prom = () => ({ prometheusUrl: inject('prometheusUrl'), sdDir: inject('prometheusSdDir') });
let env: ControllerEnv | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

describe('MigrationPlan controller', () => {
  it('applying a MigrationPlan drives a real migration to Ready=True, weights [1,5,10,25,50,100], Events in order', async () => {
    env = await controllerEnv(prom(), { prefix: 'ctl-healthy' });
    const e = env;
    await applyPlan(e, planObject(e, 'healthy'));
    // Status lag: when each weight first shows in .status, against the engine's history time of that write.
    const seenAt = new Map<number, number>();
    const done = await waitPlan(
      e,
      'healthy',
      (o) => condition(o, 'Ready')?.status === 'True',
      120_000,
      (o) => {
        const w = o?.status?.weight;
        if (w !== undefined && !seenAt.has(w)) seenAt.set(w, Date.now());
      },
    );
    expect(done!.status).toMatchObject({
      phase: 'completed',
      weight: 100,
      step: '6/6',
      observedGeneration: 1,
    });
    expect(done!.status!.startedAt).toBeTruthy();
    expect(done!.status!.finishedAt).toBeTruthy();
    expect(done!.status!.lastVerdict?.outcome).toBe('pass');
    expect(condition(done, 'Reconciling')).toBeUndefined();
    expect(condition(done, 'Stalled')).toBeUndefined();
    expect(done!.metadata.finalizers).toEqual(['meshshift.io/rollback']);
    expect(e.s.weightWrites()).toEqual([1, 5, 10, 25, 50, 100]);

    const events = eventsFor(e, 'healthy');
    const shifts = events.filter((x) => x.reason === 'WeightChanged').map((x) => String(x.note));
    expect(shifts.map((n) => Number(/→ (\d+) %/.exec(n)?.[1]))).toEqual([1, 5, 10, 25, 50, 100]);
    const reasons = events.map((x) => x.reason);
    expect(reasons[0]).toBe('Submitted');
    expect(reasons.at(-1)).toBe('Completed');
    for (const ev of events) expect(ev).toMatchObject({ reportingController: 'meshshift.io/controller' });

    const history = await env.svc!.store.history(done!.status!.migrationId!);
    const lags = history.flatMap((h) =>
      h.type === 'weight' && !h.rollback ? [(seenAt.get(h.weight) ?? NaN) - h.at] : [],
    );
    const lag = meanCi(lags);
    console.log(
      `[figures] status lag behind the engine (weight writes, n=${lag.n}): mean ${lag.mean.toFixed(0)} ms ± ${lag.ci95.toFixed(0)} ms (95 % CI), max ${Math.max(...lags)} ms; status poll 100 ms`,
    );
    expect(Math.max(...lags)).toBeLessThan(2000);

    // Re-applying the same finished plan does not start it again.
    const writes = e.s.weightWrites().length;
    await e.custom.patchNamespacedCustomObject(
      {
        group: 'meshshift.io',
        version: 'v1alpha1',
        plural: 'migrationplans',
        namespace: e.ns,
        name: 'healthy',
        body: { metadata: { labels: { again: 'yes' } } },
      },
      (await import('@kubernetes/client-node')).setHeaderOptions(
        'Content-Type',
        'application/merge-patch+json' as never,
      ),
    );
    await new Promise((r) => setTimeout(r, 1000));
    expect(e.s.weightWrites().length).toBe(writes);
  });

  it.each([
    { name: 'VirtualService', route: {} },
    { name: 'HTTPRoute in ambient', route: { routeKind: 'HTTPRoute', dataPlane: 'ambient' } as const },
  ])(
    'a regression ends Stalled and rolled back, with the reason in status and an Event: $name',
    async ({ route }) => {
      env = await controllerEnv(prom(), {
        prefix: 'ctl-regress',
        scenario: { ...route, k8s: { errorRate: 0.2 } },
      });
      const e = env;
      await applyPlan(e, planObject(e, 'regress'));
      const done = await waitPlan(e, 'regress', (o) => condition(o, 'Stalled')?.status === 'True');
      expect(done!.status).toMatchObject({ phase: 'rolledBack', weight: 0 });
      expect(done!.status!.reason).toMatch(/error/i);
      expect(condition(done, 'Ready')).toMatchObject({ status: 'False', reason: 'RolledBack' });
      expect(condition(done, 'Stalled')!.message).toContain(done!.status!.reason!);
      expect(done!.status!.lastVerdict?.outcome).toBe('fail');
      expect(e.s.weightWrites().at(-1)).toBe(0);
      const reasons = eventsFor(e, 'regress').map((x) => x.reason);
      expect(reasons).toContain('AnalysisFailed');
      expect(reasons).toContain('RolledBackWeight');
      expect(reasons.at(-1)).toBe('RolledBack');
    },
  );

  it('an invalid plan the API server accepts gets a Stalled condition naming the field, and no weight is written', async () => {
    env = await controllerEnv(prom(), { prefix: 'ctl-invalid' });
    const e = env;
    // Structurally fine (the CRD schema allows it); only the full validator knows both sides are one subset.
    await applyPlan(
      e,
      planObject(e, 'invalid', (spec) => {
        (spec.target as Record<string, unknown>).subset = (spec.source as Record<string, unknown>).subset;
      }),
    );
    const done = await waitPlan(e, 'invalid', (o) => condition(o, 'Stalled')?.status === 'True', 20_000);
    expect(condition(done, 'Stalled')).toMatchObject({ reason: 'InvalidSpec' });
    expect(condition(done, 'Stalled')!.message).toMatch(
      /spec\.target\.subset: source and target must be different subsets/,
    );
    expect(condition(done, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(eventsFor(e, 'invalid').map((x) => x.reason)).toEqual(['InvalidSpec']);
    await new Promise((r) => setTimeout(r, 500));
    expect(e.s.weightWrites()).toEqual([]);
  });
});
