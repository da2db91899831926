/**
 * The test Kubernetes API server, exercised with the REAL @kubernetes/client-node 1.x client.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  applyJsonPatch,
  JsonPatchError,
  KubeStatusError,
  parseLabelSelector,
  startKubeApiServer,
} from '../../src/sim/kube/index.js';
import type { KubeApiServer, KubeObject, KubeStatus, ObjectRef } from '../../src/sim/kube/index.js';
import { seedMigrationScenario } from '../../src/sim/istio-fixtures.js';
import type { ScenarioFixture } from '../../src/sim/scenario-fixture.js';

const NET = 'networking.istio.io';
const TOKEN = 's3cret-token';

interface Destination {
  host: string;
  subset?: string;
  port?: { number: number };
}
interface HttpRoute {
  name?: string;
  match?: unknown[];
  route: { destination: Destination; weight?: number }[];
  timeout?: string;
  retries?: Record<string, unknown>;
}
const httpRoutes = (vs: KubeObject): HttpRoute[] => (vs.spec as { http: HttpRoute[] }).http;
const weightsOf = (vs: KubeObject, routeIndex = 0): (number | undefined)[] =>
  (httpRoutes(vs)[routeIndex]?.route ?? []).map((r) => r.weight);

interface WatchEvent {
  type: string;
  object: KubeObject & Partial<KubeStatus>;
}

/** Awaits a client call that must fail and returns the ApiException's code and parsed Status body. */
async function apiFailure(call: Promise<unknown>): Promise<{ code: number; status: KubeStatus | undefined }> {
  try {
    await call;
  } catch (err) {
    if (!(err instanceof k8s.ApiException)) throw err;
    const body: unknown = err.body;
    const status = typeof body === 'string' && body !== '' ? (JSON.parse(body) as KubeStatus) : undefined;
    return { code: err.code, status };
  }
  throw new Error('expected the call to fail');
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Starts a client-node Watch and collects its events; `ended` resolves with done()'s argument. */
function startWatch(kc: k8s.KubeConfig, path: string, params: Record<string, string | number> = {}) {
  const events: WatchEvent[] = [];
  let resolveEnded: (err: unknown) => void = () => undefined;
  const ended = new Promise<unknown>((r) => (resolveEnded = r));
  const controller = new k8s.Watch(kc).watch(
    path,
    params,
    (type: string, object: KubeObject & Partial<KubeStatus>) => events.push({ type, object }),
    (err: unknown) => resolveEnded(err),
  );
  return { events, ended, controller };
}

describe('kube-api-server + real @kubernetes/client-node', () => {
  let server: KubeApiServer;
  let fx: ScenarioFixture;
  let kc: k8s.KubeConfig;
  let custom: k8s.CustomObjectsApi;
  let core: k8s.CoreV1Api;
  let apps: k8s.AppsV1Api;
  let vsRef: ObjectRef;
  const vsParams = (): {
    group: string;
    version: string;
    namespace: string;
    plural: string;
    name: string;
  } => ({
    group: NET,
    version: 'v1',
    namespace: fx.namespace,
    plural: 'virtualservices',
    name: fx.virtualService,
  });
  const getVs = async (): Promise<KubeObject> =>
    (await custom.getNamespacedCustomObject(vsParams())) as KubeObject;

  beforeEach(async () => {
    server = await startKubeApiServer({ token: TOKEN });
    fx = seedMigrationScenario(server);
    kc = server.kubeConfig();
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    core = kc.makeApiClient(k8s.CoreV1Api);
    apps = kc.makeApiClient(k8s.AppsV1Api);
    vsRef = { group: NET, plural: 'virtualservices', namespace: fx.namespace, name: fx.virtualService };
  });

  afterEach(async () => {
    await server.close();
  });

  it('gets and lists objects, with label selectors', async () => {
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

  it('serves the same Istio object under every configured version', async () => {
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

  it('creates (201, server-owned fields) and replaces; duplicates are AlreadyExists', async () => {
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

  it('answers 404 with an ApiException carrying a kube Status body', async () => {
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

  it('rejects a stale PUT with 409 Conflict and a PUT without resourceVersion with 422', async () => {
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

  it('merge patch: a stale resourceVersion → 409; a current one (or none) applies', async () => {
    const vs = await getVs();
    const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
    const http = structuredClone(httpRoutes(vs));
    const primary = http[0];
    if (!primary) throw new Error('no primary route');
    primary.route[0]!.weight = 90;
    primary.route[1]!.weight = 10;

    server.edit(vsRef, (o) => {
      o.metadata.labels = { ...o.metadata.labels, edited: 'yes' };
    });
    const stale = await apiFailure(
      custom.patchNamespacedCustomObject(
        {
          ...vsParams(),
          body: { metadata: { resourceVersion: vs.metadata.resourceVersion }, spec: { http } },
        },
        merge,
      ),
    );
    expect(stale.code).toBe(409);
    expect(stale.status?.reason).toBe('Conflict');
    expect(weightsOf(server.get(vsRef)!)).toEqual([100, 0]);

    const fresh = server.get(vsRef)!;
    const patched = (await custom.patchNamespacedCustomObject(
      {
        ...vsParams(),
        body: { metadata: { resourceVersion: fresh.metadata.resourceVersion }, spec: { http } },
      },
      merge,
    )) as KubeObject;
    expect(weightsOf(patched)).toEqual([90, 10]);
    expect(patched.metadata.generation).toBe(fresh.metadata.generation! + 1);
    expect(patched.metadata.labels?.edited).toBe('yes');
    expect(server.requests.at(-1)?.contentType).toBe('application/merge-patch+json');

    // Merge patches replace arrays whole and delete with null.
    const unconditional = (await custom.patchNamespacedCustomObject(
      { ...vsParams(), body: { metadata: { labels: { edited: null } } } },
      merge,
    )) as KubeObject;
    expect(unconditional.metadata.labels?.edited).toBeUndefined();
    expect(weightsOf(unconditional)).toEqual([90, 10]);

    // A no-op patch changes nothing, not even the resourceVersion (like kube).
    const again = (await custom.patchNamespacedCustomObject(
      { ...vsParams(), body: { spec: { http } } },
      merge,
    )) as KubeObject;
    expect(again.metadata.resourceVersion).toBe(unconditional.metadata.resourceVersion);

    // Renaming through a patch is invalid.
    const rename = await apiFailure(
      custom.patchNamespacedCustomObject({ ...vsParams(), body: { metadata: { name: 'renamed' } } }, merge),
    );
    expect(rename.code).toBe(422);
  });

  it('JSON patch: a failing test op → 422 and nothing is applied', async () => {
    const before = server.get(vsRef)!;
    const requestsBefore = server.requests.length;
    const failure = await apiFailure(
      custom.patchNamespacedCustomObject(
        {
          ...vsParams(),
          body: [
            { op: 'replace', path: '/spec/http/0/route/0/weight', value: 50 },
            { op: 'replace', path: '/spec/http/0/route/1/weight', value: 50 },
            { op: 'test', path: '/metadata/resourceVersion', value: '1' },
          ],
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
      ),
    );
    expect(failure.code).toBe(422);
    expect(failure.status?.reason).toBe('Invalid');
    expect(server.get(vsRef)).toEqual(before);
    expect(server.requests.slice(requestsBefore)).toMatchObject([
      { method: 'PATCH', status: 422, contentType: 'application/json-patch+json' },
    ]);

    const badPath = await apiFailure(
      custom.patchNamespacedCustomObject(
        { ...vsParams(), body: [{ op: 'replace', path: '/spec/http/7/route/0/weight', value: 1 }] },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
      ),
    );
    expect(badPath.code).toBe(422);
    expect(server.get(vsRef)).toEqual(before);
  });

  it('JSON patch can move one weight pair; every other field stays deep-equal', async () => {
    const before = await getVs();
    const after = (await custom.patchNamespacedCustomObject(
      {
        ...vsParams(),
        body: [
          { op: 'test', path: '/metadata/resourceVersion', value: before.metadata.resourceVersion },
          { op: 'replace', path: '/spec/http/0/route/0/weight', value: 75 },
          { op: 'replace', path: '/spec/http/0/route/1/weight', value: 25 },
        ],
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
    )) as KubeObject;
    expect(weightsOf(after)).toEqual([75, 25]);
    const normalize = (o: KubeObject): KubeObject => {
      const c = structuredClone(o);
      for (const r of httpRoutes(c)[0]!.route) delete r.weight;
      delete c.metadata.resourceVersion;
      delete c.metadata.generation;
      delete c.metadata.managedFields; // the patch's manager now owns the weights it changed
      return c;
    };
    expect(normalize(after)).toEqual(normalize(before));
    expect(after.metadata.generation).toBe(before.metadata.generation! + 1);
    expect(server.get(vsRef)).toEqual(after);
  });

  it('strategic merge patch: 415 on a VirtualService, merge semantics on a Deployment', async () => {
    const smp = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);
    const unsupported = await apiFailure(
      custom.patchNamespacedCustomObject({ ...vsParams(), body: { metadata: { labels: { a: 'b' } } } }, smp),
    );
    expect(unsupported.code).toBe(415);
    expect(unsupported.status?.reason).toBe('UnsupportedMediaType');
    // The client's default for a patch without header options is json-patch; a merge body there is a 400.
    const noHeader = await apiFailure(
      custom.patchNamespacedCustomObject({ ...vsParams(), body: { spec: {} } }),
    );
    expect(noHeader.code).toBe(400);

    const dep = await apps.patchNamespacedDeployment(
      { namespace: 'shop', name: fx.deployment, body: { spec: { replicas: 4 } } },
      smp,
    );
    expect(dep.spec?.replicas).toBe(4);
    expect(dep.metadata?.generation).toBe(2);
    // Writes to the main resource cannot change status (it has a /status subresource).
    const sneaky = await apps.patchNamespacedDeployment(
      { namespace: 'shop', name: fx.deployment, body: { status: { readyReplicas: 0 } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    expect(sneaky.status?.readyReplicas).toBe(2);
    const viaStatus = await apps.patchNamespacedDeploymentStatus(
      {
        namespace: 'shop',
        name: fx.deployment,
        body: { status: { readyReplicas: 1 }, spec: { replicas: 9 } },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    expect(viaStatus.status?.readyReplicas).toBe(1);
    expect(viaStatus.spec?.replicas).toBe(4);
  });

  it('Istio admission: weights summing to 90 → 400 with the webhook message, nothing applied', async () => {
    const before = server.get(vsRef)!;
    const denied = await apiFailure(
      custom.patchNamespacedCustomObject(
        { ...vsParams(), body: [{ op: 'replace', path: '/spec/http/0/route/1/weight', value: -10 }] },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
      ),
    );
    expect(denied.code).toBe(400);
    expect(denied.status?.message).toBe(
      'admission webhook "validation.istio.io" denied the request: configuration is invalid: weight -10 < 0',
    );

    const http = structuredClone(httpRoutes(before));
    http[0]!.route[0]!.weight = 80;
    http[0]!.route[1]!.weight = 10;
    const ninety = await apiFailure(
      custom.patchNamespacedCustomObject(
        { ...vsParams(), body: { spec: { http } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      ),
    );
    expect(ninety.code).toBe(400);
    expect(ninety.status).toMatchObject({
      kind: 'Status',
      status: 'Failure',
      reason: 'BadRequest',
      code: 400,
      message:
        'admission webhook "validation.istio.io" denied the request: configuration is invalid: total destination weight 90 != 100',
    });
    expect(server.get(vsRef)).toEqual(before);

    const fractional = await apiFailure(
      custom.createNamespacedCustomObject({
        group: NET,
        version: 'v1',
        namespace: 'shop',
        plural: 'virtualservices',
        body: {
          apiVersion: 'networking.istio.io/v1',
          kind: 'VirtualService',
          metadata: { name: 'half' },
          spec: { hosts: ['h'], http: [{ route: [{ destination: { host: 'h' }, weight: 50 }] }] },
        },
      }),
    );
    expect(fractional.code).toBe(400);
    expect(fractional.status?.message).toContain('total destination weight 50 != 100');
    expect(server.get({ ...vsRef, name: 'half' })).toBeUndefined();
  });

  it('deletes: 200 with the object, then 404', async () => {
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

  it('watch: ADDED for current state, then MODIFIED/DELETED live, and resume from a resourceVersion', async () => {
    const path = `/apis/${NET}/v1/namespaces/shop/virtualservices`;
    const w = startWatch(kc, path);
    await waitFor(() => w.events.length === 1, 'initial ADDED');
    expect(w.events[0]?.type).toBe('ADDED');
    expect(w.events[0]?.object.metadata.name).toBe(fx.virtualService);

    const edited = server.edit(vsRef, (o) => {
      httpRoutes(o)[0]!.route[0]!.weight = 95;
      httpRoutes(o)[0]!.route[1]!.weight = 5;
    });
    await waitFor(() => w.events.length === 2, 'MODIFIED');
    expect(w.events[1]?.type).toBe('MODIFIED');
    expect(weightsOf(w.events[1]!.object)).toEqual([95, 5]);
    expect(w.events[1]?.object.metadata.resourceVersion).toBe(edited.metadata.resourceVersion);

    // Events for other kinds/namespaces are not delivered.
    server.edit({ ...vsRef, plural: 'destinationrules' }, (o) => {
      o.metadata.labels = { x: 'y' };
    });
    server.remove(vsRef);
    await waitFor(() => w.events.length === 3, 'DELETED');
    expect(w.events[2]?.type).toBe('DELETED');
    (await w.controller).abort();

    // Resume from the rv of the first edit: only later events are replayed (the DELETED).
    const resumed = startWatch(kc, path, { resourceVersion: edited.metadata.resourceVersion ?? '' });
    await waitFor(() => resumed.events.length === 1, 'replayed DELETED');
    expect(resumed.events.map((e) => e.type)).toEqual(['DELETED']);

    // Label-selected watch: an object leaving the selector shows up as DELETED.
    const byLabel = startWatch(kc, `/apis/${NET}/v1/workloadentries`, { labelSelector: 'version=vm' });
    await waitFor(() => byLabel.events.length === 2, 'ADDED x2');
    server.edit({ ...vsRef, plural: 'workloadentries', name: `${fx.service}-vm-1` }, (o) => {
      o.metadata.labels = { app: fx.service, version: 'retired' };
    });
    await waitFor(() => byLabel.events.length === 3, 'DELETED via selector');
    expect(byLabel.events[2]?.type).toBe('DELETED');

    // Closing the server ends open streams normally (done(null)).
    await server.close();
    expect(await resumed.ended).toBeNull();
    expect(await byLabel.ended).toBeNull();
  });

  it('watch: a compacted resourceVersion gets a 410 Expired ERROR event; timeoutSeconds ends the stream', async () => {
    const small = await startKubeApiServer({ watchHistory: 2 });
    try {
      const ref: ObjectRef = { group: '', plural: 'configmaps', namespace: 'default', name: 'c' };
      const first = small.put({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'c' },
        data: { n: '0' },
      });
      for (let i = 1; i <= 3; i++) small.edit(ref, (o) => (o.data = { n: String(i) }));
      const smallKc = small.kubeConfig();
      const expired = startWatch(smallKc, '/api/v1/namespaces/default/configmaps', {
        resourceVersion: first.metadata.resourceVersion ?? '',
      });
      expect(await expired.ended).toBeNull();
      expect(expired.events).toHaveLength(1);
      const error = expired.events[0]!;
      expect(error.type).toBe('ERROR');
      expect(error.object).toMatchObject({ kind: 'Status', code: 410, reason: 'Expired', status: 'Failure' });
      expect(error.object.message).toMatch(/^too old resource version: \d+ \(\d+\)$/);

      const t0 = Date.now();
      const timed = startWatch(smallKc, '/api/v1/namespaces/default/configmaps', { timeoutSeconds: 1 });
      expect(await timed.ended).toBeNull();
      expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
      expect(timed.events.map((e) => e.type)).toEqual(['ADDED']);
    } finally {
      await small.close();
    }
  });

  it('discovery lists the configured networking.istio.io versions', async () => {
    const groups = await kc.makeApiClient(k8s.ApisApi).getAPIVersions();
    const net = groups.groups.find((g) => g.name === NET);
    expect(net?.versions.map((v) => v.version)).toEqual(['v1', 'v1beta1', 'v1alpha3']);
    expect(net?.preferredVersion?.version).toBe('v1');
    const resources = await custom.getAPIResources({ group: NET, version: 'v1beta1' });
    const vs = resources.resources.find((r) => r.name === 'virtualservices');
    expect(vs).toMatchObject({ kind: 'VirtualService', namespaced: true, singularName: 'virtualservice' });
    expect(vs?.verbs).toEqual(expect.arrayContaining(['get', 'list', 'watch', 'patch', 'update']));
    const coreResources = await core.getAPIResources();
    expect(coreResources.resources.find((r) => r.name === 'namespaces')?.namespaced).toBe(false);

    // KubernetesObjectApi resolves plurals through discovery.
    const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    const read = await objects.read({
      apiVersion: 'networking.istio.io/v1alpha3',
      kind: 'DestinationRule',
      metadata: { name: fx.destinationRule, namespace: 'shop' },
    });
    expect(read.apiVersion).toBe('networking.istio.io/v1alpha3');

    const old = await startKubeApiServer({ istioVersions: ['v1alpha3'] });
    try {
      const oldKc = old.kubeConfig();
      const oldCustom = oldKc.makeApiClient(k8s.CustomObjectsApi);
      expect((await oldCustom.getAPIResources({ group: NET, version: 'v1alpha3' })).groupVersion).toBe(
        'networking.istio.io/v1alpha3',
      );
      const notServed = await apiFailure(oldCustom.getAPIResources({ group: NET, version: 'v1' }));
      expect(notServed.code).toBe(404);
      expect(notServed.status?.reason).toBe('NotFound');
      const oldGroup = await oldKc.makeApiClient(k8s.ApisApi).getAPIVersions();
      expect(oldGroup.groups.find((g) => g.name === NET)?.preferredVersion?.version).toBe('v1alpha3');
      expect(() =>
        old.put({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'x' } }),
      ).toThrow(/not served/);
    } finally {
      await old.close();
    }
  });

  it('auth: 401 without the bearer token; the written kubeconfig file works with loadFromFile', async () => {
    const anonymous = new k8s.KubeConfig();
    anonymous.loadFromOptions({
      clusters: [{ name: 'c', server: server.url, skipTLSVerify: true }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const denied = await apiFailure(
      anonymous.makeApiClient(k8s.CustomObjectsApi).getNamespacedCustomObject(vsParams()),
    );
    expect(denied.code).toBe(401);
    const raw = await fetch(`${server.url}/api/v1/namespaces`, {
      headers: { Authorization: 'Bearer wrong' },
    });
    expect(raw.status).toBe(401);
    expect(await raw.json()).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });

    const dir = mkdtempSync(join(tmpdir(), 'kube-api-server-'));
    try {
      const file = server.writeKubeconfig(dir);
      const fromFile = new k8s.KubeConfig();
      fromFile.loadFromFile(file);
      expect(fromFile.getCurrentContext()).toBe('meshshift-test');
      expect(fromFile.getCurrentCluster()?.server).toBe(server.url);
      const vs = (await fromFile
        .makeApiClient(k8s.CustomObjectsApi)
        .getNamespacedCustomObject(vsParams())) as KubeObject;
      expect(vs.metadata.name).toBe(fx.virtualService);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('malformed JSON bodies → 400 Status; unknown paths → 404 Status', async () => {
    const headers = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/merge-patch+json' };
    const url = `${server.url}/apis/${NET}/v1/namespaces/shop/virtualservices/${fx.virtualService}`;
    const res = await fetch(url, { method: 'PATCH', headers, body: '{"spec": ' });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ kind: 'Status', reason: 'BadRequest', code: 400 });
    expect(server.requests.at(-1)).toMatchObject({ method: 'PATCH', status: 400, body: '{"spec": ' });

    const nowhere = await fetch(`${server.url}/apis/example.com/v1/things`, { headers });
    expect(nowhere.status).toBe(404);
    expect(await nowhere.json()).toMatchObject({
      reason: 'NotFound',
      message: 'the server could not find the requested resource',
    });
  });

  it('onRequest: a concurrent edit just before a PATCH makes its precondition fail; hooks can inject Status', async () => {
    const vs = await getVs();
    const unsubscribe = server.onRequest((req) => {
      if (req.method === 'PATCH') {
        server.edit(vsRef, (o) => {
          o.metadata.annotations = { race: 'lost' };
        });
      }
    });
    const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
    const raced = await apiFailure(
      custom.patchNamespacedCustomObject(
        {
          ...vsParams(),
          body: { metadata: { resourceVersion: vs.metadata.resourceVersion, labels: { a: 'b' } } },
        },
        merge,
      ),
    );
    expect(raced.code).toBe(409);
    unsubscribe();

    const offHook = server.onRequest(() => {
      throw new KubeStatusError(429, 'TooManyRequests', 'slow down', { retryAfterSeconds: 1 });
    });
    const throttled = await apiFailure(getVs());
    expect(throttled.code).toBe(429);
    expect(throttled.status?.details?.retryAfterSeconds).toBe(1);
    offHook();

    // A slow hook delays the response.
    const offSlow = server.onRequest(() => new Promise((r) => setTimeout(r, 150)));
    const t0 = Date.now();
    await getVs();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    offSlow();
  });

  it('records every request in order, e.g. the sequence of weight writes', async () => {
    server.requests.length = 0;
    const jsonPatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch);
    for (const k8sWeight of [10, 50, 100]) {
      await custom.patchNamespacedCustomObject(
        {
          ...vsParams(),
          body: [
            { op: 'replace', path: '/spec/http/0/route/0/weight', value: 100 - k8sWeight },
            { op: 'replace', path: '/spec/http/0/route/1/weight', value: k8sWeight },
          ],
        },
        jsonPatch,
      );
    }
    const writes = server.requests.filter((r) => r.method === 'PATCH' && r.status === 200);
    const k8sWeights = writes.map((r) => (r.body as { value: number }[])[1]?.value);
    expect(k8sWeights).toEqual([10, 50, 100]);
    expect(
      writes.every((r) => r.path === `/apis/${NET}/v1/namespaces/shop/virtualservices/${fx.virtualService}`),
    ).toBe(true);
    expect(writes.map((r) => r.at)).toEqual([...writes.map((r) => r.at)].sort((a, b) => a - b));
    expect(weightsOf(server.get(vsRef)!)).toEqual([0, 100]);
  });
});

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
