/**
 * The test Kubernetes API server, exercised with the REAL @kubernetes/client-node 1.x client: reads, creates,
 * replaces and deletes, with their Status answers. Patches: kube-api-server-patch.test.ts; watches, discovery
 * and auth: kube-api-server-watch.test.ts.
 */
import { describe, expect } from 'vitest';
import type { KubeObject } from '../../src/sim/kube/index.js';
import { apiFailure, NET, weightsOf, it } from './kube-api-fixture.js';

describe('kube-api-server + real @kubernetes/client-node: reads and writes', () => {
  it('gets and lists objects, with label selectors', async ({ api: { fx, custom, core, apps, getVs } }) => {
    const vs = await getVs();
    expect(vs.apiVersion).toBe('networking.istio.io/v1');
    expect(vs.kind).toBe('VirtualService');
    expect(weightsOf(vs)).toEqual([100, 0]);
    expect(vs.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(vs.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    const list = (await custom.listNamespacedCustomObject({
      group: NET,
      version: 'v1',
      namespace: 'shop',
      plural: 'workloadentries',
    })) as { kind: string; metadata: { resourceVersion: string }; items: KubeObject[] };
    expect(list.kind).toBe('WorkloadEntryList');
    expect(list.items.map((i) => i.metadata.name)).toEqual([
      'productcatalogservice-vm-1',
      'productcatalogservice-vm-2',
    ]);
    expect(Number(list.metadata.resourceVersion)).toBeGreaterThan(1000);

    const bySelector = async (labelSelector: string): Promise<string[]> => {
      const l = (await custom.listNamespacedCustomObject({
        group: NET,
        version: 'v1',
        namespace: 'shop',
        plural: 'workloadentries',
        labelSelector,
      })) as { items: KubeObject[] };
      return l.items.map((i) => i.metadata.name);
    };
    expect(await bySelector('version=vm')).toHaveLength(2);
    expect(await bySelector('version!=vm')).toEqual([]);
    expect(await bySelector('app,version in (vm,k8s)')).toHaveLength(2);
    expect(await bySelector('version notin (vm)')).toEqual([]);
    expect(await bySelector('!app')).toEqual([]);
    const bad = await apiFailure(bySelector('version in vm'));
    expect(bad.code).toBe(400);

    // Typed built-in APIs.
    const services = await core.listNamespacedService({
      namespace: 'shop',
      labelSelector: 'app=productcatalogservice',
    });
    expect(services.items.map((s) => s.metadata?.name)).toEqual(['productcatalogservice']);
    expect(services.items[0]?.spec?.selector).toEqual({ app: 'productcatalogservice' });
    const dep = await apps.readNamespacedDeployment({ namespace: 'shop', name: fx.deployment });
    expect(dep.status?.readyReplicas).toBe(2);
    expect(dep.status?.observedGeneration).toBe(dep.metadata?.generation);
    const ns = await core.readNamespace({ name: 'shop' });
    expect(ns.status?.phase).toBe('Active');
  });

  it('serves the same Istio object under every configured version', async ({
    api: { custom, vsParams, getVs },
  }) => {
    const asBeta = (await custom.getNamespacedCustomObject({
      ...vsParams(),
      version: 'v1beta1',
    })) as KubeObject;
    const asV1 = await getVs();
    expect(asBeta.apiVersion).toBe('networking.istio.io/v1beta1');
    expect({ ...asBeta, apiVersion: 'x' }).toEqual({ ...asV1, apiVersion: 'x' });
    const missing = await apiFailure(custom.getNamespacedCustomObject({ ...vsParams(), version: 'v2' }));
    expect(missing.code).toBe(404);
  });

  it('creates (201, server-owned fields) and replaces; duplicates are AlreadyExists', async ({
    api: { server, custom, core },
  }) => {
    const body = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: {
        name: 'reviews',
        labels: { team: 'a' },
        uid: 'client-chosen',
        creationTimestamp: '2000-01-01T00:00:00Z',
      },
      spec: { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews' } }] }] },
    };
    const params = { group: NET, version: 'v1', namespace: 'shop', plural: 'virtualservices' };
    const created = (await custom.createNamespacedCustomObject({ ...params, body })) as KubeObject;
    expect(created.metadata.namespace).toBe('shop');
    expect(created.metadata.generation).toBe(1);
    expect(created.metadata.uid).not.toBe('client-chosen');
    expect(created.metadata.creationTimestamp).not.toBe('2000-01-01T00:00:00Z');
    expect(server.requests.at(-1)?.status).toBe(201);

    const dup = await apiFailure(custom.createNamespacedCustomObject({ ...params, body }));
    expect(dup.code).toBe(409);
    expect(dup.status?.reason).toBe('AlreadyExists');
    expect(dup.status?.message).toBe('virtualservices.networking.istio.io "reviews" already exists');

    // Replace with the current resourceVersion: spec change bumps generation and resourceVersion.
    const next = structuredClone(created);
    (next.spec as { hosts: string[] }).hosts = ['reviews', 'reviews.shop.svc.cluster.local'];
    const replaced = (await custom.replaceNamespacedCustomObject({
      ...params,
      name: 'reviews',
      body: next,
    })) as KubeObject;
    expect(replaced.metadata.generation).toBe(2);
    expect(Number(replaced.metadata.resourceVersion)).toBeGreaterThan(
      Number(created.metadata.resourceVersion),
    );
    expect(replaced.metadata.uid).toBe(created.metadata.uid);

    // A metadata-only change does not bump generation.
    const relabelled = structuredClone(replaced);
    relabelled.metadata.labels = { team: 'b' };
    const r2 = (await custom.replaceNamespacedCustomObject({
      ...params,
      name: 'reviews',
      body: relabelled,
    })) as KubeObject;
    expect(r2.metadata.generation).toBe(2);

    // Name mismatch with the URL → 400; unknown namespace → 404.
    const mismatch = await apiFailure(
      custom.replaceNamespacedCustomObject({ ...params, name: 'other', body: r2 }),
    );
    expect(mismatch.code).toBe(404); // "other" does not exist: NotFound comes first
    server.put({ ...structuredClone(r2), metadata: { name: 'other', namespace: 'shop' } });
    const mismatch2 = await apiFailure(
      custom.replaceNamespacedCustomObject({ ...params, name: 'other', body: r2 }),
    );
    expect(mismatch2.code).toBe(400);
    expect(mismatch2.status?.message).toBe(
      'the name of the object (reviews) does not match the name on the URL (other)',
    );
    const noNs = await apiFailure(
      custom.createNamespacedCustomObject({
        ...params,
        namespace: 'nowhere',
        body: { ...body, metadata: { name: 'x' } },
      }),
    );
    expect(noNs.code).toBe(404);
    expect(noNs.status?.message).toBe('namespaces "nowhere" not found');

    // Built-in kinds through typed APIs.
    const cm = await core.createNamespacedConfigMap({
      namespace: 'shop',
      body: { metadata: { name: 'settings' }, data: { a: '1' } },
    });
    expect(cm.metadata?.resourceVersion).toBeDefined();
    expect(
      server.get({ group: '', plural: 'configmaps', namespace: 'shop', name: 'settings' })?.data,
    ).toEqual({ a: '1' });
  });

  it('answers 404 with an ApiException carrying a kube Status body', async ({
    api: { custom, core, vsParams },
  }) => {
    const nf = await apiFailure(custom.getNamespacedCustomObject({ ...vsParams(), name: 'x' }));
    expect(nf.code).toBe(404);
    expect(nf.status).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'virtualservices.networking.istio.io "x" not found',
      reason: 'NotFound',
      details: { name: 'x', group: 'networking.istio.io', kind: 'virtualservices' },
      code: 404,
    });
    const coreNf = await apiFailure(core.readNamespacedService({ namespace: 'shop', name: 'x' }));
    expect(coreNf.status?.message).toBe('services "x" not found');
    expect(coreNf.status?.details).toEqual({ name: 'x', kind: 'services' });
    const gone = await apiFailure(custom.deleteNamespacedCustomObject({ ...vsParams(), name: 'x' }));
    expect(gone.code).toBe(404);
  });

  it('rejects a stale PUT with 409 Conflict and a PUT without resourceVersion with 422', async ({
    api: { server, custom, vsRef, vsParams, getVs },
  }) => {
    const stale = await getVs();
    server.edit(vsRef, (o) => {
      o.metadata.annotations = { touchedBy: 'someone-else' };
    });
    const conflict = await apiFailure(custom.replaceNamespacedCustomObject({ ...vsParams(), body: stale }));
    expect(conflict.code).toBe(409);
    expect(conflict.status).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message:
        'Operation cannot be fulfilled on virtualservices.networking.istio.io "productcatalogservice": the object has been modified; please apply your changes to the latest version and try again',
      reason: 'Conflict',
      details: { name: 'productcatalogservice', group: 'networking.istio.io', kind: 'virtualservices' },
      code: 409,
    });

    const noRv = structuredClone(stale);
    delete noRv.metadata.resourceVersion;
    const invalid = await apiFailure(custom.replaceNamespacedCustomObject({ ...vsParams(), body: noRv }));
    expect(invalid.code).toBe(422);
    expect(invalid.status?.reason).toBe('Invalid');
    expect(invalid.status?.message).toBe(
      'VirtualService.networking.istio.io "productcatalogservice" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update',
    );
    expect(server.get(vsRef)?.metadata.annotations).toEqual({ touchedBy: 'someone-else' });
  });

  it('deletes: 200 with the object, then 404', async ({ api: { server, fx, custom, vsRef, vsParams } }) => {
    const deleted = (await custom.deleteNamespacedCustomObject({
      ...vsParams(),
      plural: 'destinationrules',
      name: fx.destinationRule,
    })) as KubeObject;
    expect(deleted.kind).toBe('DestinationRule');
    expect(server.get({ ...vsRef, plural: 'destinationrules', name: fx.destinationRule })).toBeUndefined();
    const again = await apiFailure(
      custom.deleteNamespacedCustomObject({
        ...vsParams(),
        plural: 'destinationrules',
        name: fx.destinationRule,
      }),
    );
    expect(again.code).toBe(404);
  });
});
