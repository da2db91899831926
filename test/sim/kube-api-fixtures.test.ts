/**
 * The test Kubernetes API server's scenario seeding and its JSON patch / label selector helpers.
 */
import * as k8s from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  applyJsonPatch,
  JsonPatchError,
  KubeStatusError,
  parseLabelSelector,
  startKubeApiServer,
} from '../../src/sim/kube/index.js';
import type { KubeApiServer, KubeObject } from '../../src/sim/kube/index.js';
import { httpRoutes, NET } from './kube-api-fixture.js';
import { seedMigrationScenario } from '../../src/sim/istio-fixtures.js';

describe('seedMigrationScenario', () => {
  let server: KubeApiServer;
  beforeEach(async () => {
    server = await startKubeApiServer();
  });
  afterEach(async () => {
    await server.close();
  });

  it('subsets mode: one host, DR subsets vm/k8s, the header route first', async () => {
    const fx = seedMigrationScenario(server, {
      extraHeaderRoute: true,
      initialTargetWeight: 20,
      istioVersion: 'v1beta1',
    });
    expect(fx).toMatchObject({
      namespace: 'shop',
      service: 'productcatalogservice',
      mode: 'subsets',
      host: 'productcatalogservice.shop.svc.cluster.local',
      targetHost: 'productcatalogservice.shop.svc.cluster.local',
      sourceSubset: 'vm',
      targetSubset: 'k8s',
    });
    const custom = server.kubeConfig().makeApiClient(k8s.CustomObjectsApi);
    const p = { group: NET, version: 'v1', namespace: 'shop' };
    const vs = (await custom.getNamespacedCustomObject({
      ...p,
      plural: 'virtualservices',
      name: fx.virtualService,
    })) as KubeObject;
    const routes = httpRoutes(vs);
    expect(routes.map((r) => r.name)).toEqual(['canary-header', 'primary']);
    expect(routes[0]).toMatchObject({
      match: [{ headers: { 'x-canary': { exact: 'true' } } }],
      route: [{ destination: { host: fx.targetHost, subset: 'k8s' }, weight: 100 }],
      timeout: '2s',
      retries: { attempts: 3, perTryTimeout: '500ms' },
    });
    expect(routes[1]).toMatchObject({
      route: [
        { destination: { host: fx.host, subset: 'vm', port: { number: 3550 } }, weight: 80 },
        { destination: { host: fx.host, subset: 'k8s', port: { number: 3550 } }, weight: 20 },
      ],
      timeout: '5s',
      retries: { attempts: 2, retryOn: 'unavailable,resource-exhausted' },
    });
    const dr = (await custom.getNamespacedCustomObject({
      ...p,
      plural: 'destinationrules',
      name: fx.destinationRule,
    })) as KubeObject;
    expect((dr.spec as { subsets: { name: string }[] }).subsets.map((s) => s.name)).toEqual(['vm', 'k8s']);
    const se = (await custom.getNamespacedCustomObject({
      ...p,
      plural: 'serviceentries',
      name: fx.serviceEntry,
    })) as KubeObject;
    expect(se.spec).toMatchObject({ hosts: [fx.host], location: 'MESH_INTERNAL', resolution: 'STATIC' });
    const wes = (await custom.listNamespacedCustomObject({
      ...p,
      plural: 'workloadentries',
      labelSelector: 'version=vm',
    })) as {
      items: KubeObject[];
    };
    expect(wes.items).toHaveLength(2);
    // The seeded objects pass the same admission the API enforces (the seed itself bypasses it).
    const replaced = (await custom.replaceNamespacedCustomObject({
      ...p,
      plural: 'virtualservices',
      name: fx.virtualService,
      body: vs,
    })) as KubeObject;
    expect(replaced.metadata.resourceVersion).toBe(vs.metadata.resourceVersion); // no-op
  });

  it('hosts mode: two hosts, a second Service, no subsets; options respected', async () => {
    const fx = seedMigrationScenario(server, {
      mode: 'hosts',
      namespace: 'retail',
      service: 'cartservice',
      meshExternal: true,
      deploymentReady: false,
      withWorkloadEntries: false,
    });
    expect(fx.targetHost).toBe('cartservice-k8s.retail.svc.cluster.local');
    const kc = server.kubeConfig();
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const target = await core.readNamespacedService({ namespace: 'retail', name: 'cartservice-k8s' });
    expect(target.spec?.selector).toEqual({ app: 'cartservice', version: 'k8s' });
    expect(target.spec?.ports?.[0]?.port).toBe(3550);
    const dep = await kc
      .makeApiClient(k8s.AppsV1Api)
      .readNamespacedDeployment({ namespace: 'retail', name: 'cartservice' });
    expect(dep.status?.readyReplicas).toBe(0);
    expect(dep.spec?.template.metadata?.labels).toEqual({ app: 'cartservice', version: 'k8s' });

    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    const p = { group: NET, version: 'v1', namespace: 'retail' };
    const vs = (await custom.getNamespacedCustomObject({
      ...p,
      plural: 'virtualservices',
      name: fx.virtualService,
    })) as KubeObject;
    expect(httpRoutes(vs)[0]?.route.map((r) => r.destination)).toEqual([
      { host: fx.host, port: { number: 3550 } },
      { host: fx.targetHost, port: { number: 3550 } },
    ]);
    const dr = (await custom.getNamespacedCustomObject({
      ...p,
      plural: 'destinationrules',
      name: fx.destinationRule,
    })) as KubeObject;
    expect(dr.spec).toEqual({ host: fx.host, trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL' } } });
    const se = (await custom.getNamespacedCustomObject({
      ...p,
      plural: 'serviceentries',
      name: fx.serviceEntry,
    })) as KubeObject;
    expect((se.spec as { location: string }).location).toBe('MESH_EXTERNAL');
    const wes = (await custom.listNamespacedCustomObject({ ...p, plural: 'workloadentries' })) as {
      items: unknown[];
    };
    expect(wes.items).toEqual([]);
  });
});

describe('JSON patch and label selector helpers', () => {
  it('applies RFC 6902 ops with pointer escaping and array append, atomically', () => {
    const doc = { a: { 'b/c': 1, 'd~e': [1, 2] } };
    const out = applyJsonPatch(doc, [
      { op: 'replace', path: '/a/b~1c', value: 2 },
      { op: 'add', path: '/a/d~0e/-', value: 3 },
      { op: 'add', path: '/a/d~0e/0', value: 0 },
      { op: 'copy', from: '/a/d~0e', path: '/copied' },
      { op: 'move', from: '/a/b~1c', path: '/moved' },
      { op: 'remove', path: '/a/d~0e/1' },
      { op: 'test', path: '/copied', value: [0, 1, 2, 3] },
    ]);
    expect(out).toEqual({ a: { 'd~e': [0, 2, 3] }, copied: [0, 1, 2, 3], moved: 2 });
    expect(doc).toEqual({ a: { 'b/c': 1, 'd~e': [1, 2] } });
    expect(() => applyJsonPatch(doc, [{ op: 'test', path: '/a/b~1c', value: 9 }])).toThrow(JsonPatchError);
    expect(() => applyJsonPatch(doc, [{ op: 'remove', path: '/nope' }])).toThrow(/missing/);
    expect(() => applyJsonPatch(doc, [{ op: 'add', path: '/a/d~0e/5', value: 1 }])).toThrow(JsonPatchError);
    expect(() => applyJsonPatch(doc, [{ op: 'frobnicate', path: '/a' }])).toThrow(JsonPatchError);
    expect(() => applyJsonPatch(doc, [{ op: 'move', from: '/a', path: '/a/x' }])).toThrow(JsonPatchError);
  });

  it('parses label selectors', () => {
    expect(parseLabelSelector('a=b,c!=d, e in (x, y),f notin (z),g,!h')).toEqual([
      { key: 'a', op: 'eq', values: ['b'] },
      { key: 'c', op: 'neq', values: ['d'] },
      { key: 'e', op: 'in', values: ['x', 'y'] },
      { key: 'f', op: 'notin', values: ['z'] },
      { key: 'g', op: 'exists', values: [] },
      { key: 'h', op: 'notexists', values: [] },
    ]);
    expect(parseLabelSelector('app.kubernetes.io/name==web')).toEqual([
      { key: 'app.kubernetes.io/name', op: 'eq', values: ['web'] },
    ]);
    expect(() => parseLabelSelector('a b')).toThrow(KubeStatusError);
  });
});
