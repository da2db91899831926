/**
 * The test API server's controller-facing behaviours, with the real client: MigrationPlan custom resources
 * (discovery, /status subresource, generation), finalizers and deletionTimestamp, Leases with optimistic
 * concurrency, and events.k8s.io/v1 Events with their required fields.
 */
import * as k8s from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startKubeApiServer, type KubeApiServer, type KubeObject } from '../../src/sim/kube/index.js';

const G = { group: 'meshshift.io', version: 'v1alpha1', plural: 'migrationplans', namespace: 'shop' };
let server: KubeApiServer;
let custom: k8s.CustomObjectsApi;
let coordination: k8s.CoordinationV1Api;
const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

async function failure(call: Promise<unknown>): Promise<{ code: number; body: Record<string, unknown> }> {
  try {
    await call;
  } catch (err) {
    if (!(err instanceof k8s.ApiException)) throw err;
    return { code: err.code, body: JSON.parse(err.body as string) as Record<string, unknown> };
  }
  throw new Error('expected the call to fail');
}

const plan = (name: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'meshshift.io/v1alpha1',
  kind: 'MigrationPlan',
  metadata: { name, ...extra },
  // Valid against the CRD's schema (the server validates custom resources as kube-apiserver does).
  spec: {
    namespace: 'shop',
    host: 'a.shop.svc.cluster.local',
    virtualService: { name: 'a' },
    source: { subset: 'vm', serviceEntry: 'a-vm' },
    target: { subset: 'k8s', deployment: 'a' },
    policy: 'default',
  },
});

beforeEach(async () => {
  server = await startKubeApiServer();
  server.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
  const kc = server.kubeConfig();
  custom = kc.makeApiClient(k8s.CustomObjectsApi);
  coordination = kc.makeApiClient(k8s.CoordinationV1Api);
});
afterEach(() => server.close());

describe('MigrationPlan custom resources', () => {
  it('discovery serves migrationplans with the mp short name and a status subresource', async () => {
    const res = (await await fetch(`${server.url}/apis/meshshift.io/v1alpha1`, {
      headers: { authorization: 'Bearer x' },
    }).then((r) => r.json())) as { resources: Array<{ name: string; shortNames?: string[] }> };
    expect(res.resources.map((r) => r.name)).toEqual(['migrationplans', 'migrationplans/status']);
    expect(res.resources[0]!.shortNames).toEqual(['mp']);
  });

  it('generation bumps on spec changes only; /status ignores spec and the main endpoint ignores status', async () => {
    const created = (await custom.createNamespacedCustomObject({
      ...G,
      body: { ...plan('a'), status: { phase: 'x' } },
    })) as KubeObject;
    expect(created.metadata.generation).toBe(1);
    expect(created.status).toBeUndefined();
    const st = (await custom.patchNamespacedCustomObjectStatus(
      { ...G, name: 'a', body: { status: { phase: 'shifting' }, spec: { host: 'ignored' } } },
      merge,
    )) as KubeObject;
    expect(st.metadata.generation).toBe(1);
    expect(st.status).toEqual({ phase: 'shifting' });
    expect((st.spec as { host: string }).host).toBe('a.shop.svc.cluster.local');
    const main = (await custom.patchNamespacedCustomObject(
      { ...G, name: 'a', body: { spec: { host: 'b.shop.svc.cluster.local' }, status: { phase: 'lost' } } },
      merge,
    )) as KubeObject;
    expect(main.metadata.generation).toBe(2);
    expect(main.status).toEqual({ phase: 'shifting' });
    const stale = await failure(
      custom.patchNamespacedCustomObjectStatus(
        {
          ...G,
          name: 'a',
          body: { metadata: { resourceVersion: created.metadata.resourceVersion }, status: {} },
        },
        merge,
      ),
    );
    expect(stale.code).toBe(409);
    expect(stale.body.reason).toBe('Conflict');
    const strategic = await failure(
      custom.patchNamespacedCustomObject(
        { ...G, name: 'a', body: {} },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
      ),
    );
    expect(strategic.code).toBe(415);
  });
});

describe('finalizers and deletionTimestamp', () => {
  it('DELETE only marks an object with finalizers; it goes when the last finalizer is removed', async () => {
    await custom.createNamespacedCustomObject({
      ...G,
      body: plan('b', { finalizers: ['meshshift.io/rollback'] }),
    });
    const marked = (await custom.deleteNamespacedCustomObject({ ...G, name: 'b' })) as KubeObject;
    expect(marked.metadata.deletionTimestamp).toMatch(/Z$/);
    const again = (await custom.getNamespacedCustomObject({ ...G, name: 'b' })) as KubeObject;
    expect(again.metadata.deletionTimestamp).toBe(marked.metadata.deletionTimestamp);
    // No new finalizers on an object being deleted; clients cannot clear deletionTimestamp.
    const added = await failure(
      custom.patchNamespacedCustomObject(
        { ...G, name: 'b', body: { metadata: { finalizers: ['meshshift.io/rollback', 'other'] } } },
        merge,
      ),
    );
    expect(added.code).toBe(422);
    expect(String(added.body.message)).toMatch(/no new finalizers/);
    await custom.patchNamespacedCustomObject(
      { ...G, name: 'b', body: { metadata: { finalizers: null } } },
      merge,
    );
    const gone = await failure(custom.getNamespacedCustomObject({ ...G, name: 'b' }));
    expect(gone.code).toBe(404);
  });

  it('an object without finalizers goes at once', async () => {
    await custom.createNamespacedCustomObject({ ...G, body: plan('c') });
    await custom.deleteNamespacedCustomObject({ ...G, name: 'c' });
    expect(
      server.get({ group: 'meshshift.io', plural: 'migrationplans', namespace: 'shop', name: 'c' }),
    ).toBeUndefined();
  });
});

describe('Leases and Events', () => {
  it('Leases use optimistic concurrency: a stale renew is a 409', async () => {
    const lease = await coordination.createNamespacedLease({
      namespace: 'shop',
      body: { metadata: { name: 'l' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 3 } },
    });
    const renewed = await coordination.replaceNamespacedLease({
      namespace: 'shop',
      name: 'l',
      body: { ...lease, spec: { ...lease.spec, renewTime: new Date() } },
    });
    expect(renewed.metadata?.resourceVersion).not.toBe(lease.metadata?.resourceVersion);
    const stale = await failure(
      coordination.replaceNamespacedLease({
        namespace: 'shop',
        name: 'l',
        body: { ...lease, spec: { holderIdentity: 'b' } },
      }),
    );
    expect(stale.code).toBe(409);
    const bad = await failure(
      coordination.createNamespacedLease({
        namespace: 'shop',
        body: { metadata: { name: 'm' }, spec: { leaseDurationSeconds: 0 } },
      }),
    );
    expect(bad.code).toBe(422);
  });

  it('events.k8s.io/v1 Events need regarding, reason, note, type, reporting fields, action and eventTime', async () => {
    const E = { group: 'events.k8s.io', version: 'v1', plural: 'events', namespace: 'shop' };
    const missing = await failure(
      custom.createNamespacedCustomObject({
        ...E,
        body: { apiVersion: 'events.k8s.io/v1', kind: 'Event', metadata: { name: 'e1' }, reason: 'X' },
      }),
    );
    expect(missing.code).toBe(422);
    const fields = (missing.body.details as { causes: Array<{ field: string }> }).causes.map((c) => c.field);
    expect(fields).toEqual([
      'regarding',
      'note',
      'type',
      'reportingController',
      'reportingInstance',
      'action',
      'eventTime',
    ]);
    const ok = await custom.createNamespacedCustomObject({
      ...E,
      body: {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { name: 'e2' },
        regarding: { kind: 'MigrationPlan', name: 'a', namespace: 'shop' },
        reason: 'WeightChanged',
        note: 'weight 5 %',
        type: 'Normal',
        action: 'Shift',
        reportingController: 'meshshift.io/controller',
        reportingInstance: 'pod-1',
        eventTime: '2026-01-01T00:00:00.000000Z',
      },
    });
    expect(ok).toMatchObject({ reason: 'WeightChanged' });
  });
});
