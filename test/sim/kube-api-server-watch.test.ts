/**
 * The test Kubernetes API server with the REAL @kubernetes/client-node 1.x client: watches, discovery, auth,
 * malformed requests, request hooks and the request log.
 */
import * as k8s from '@kubernetes/client-node';
import { describe, expect } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeStatusError, startKubeApiServer } from '../../src/sim/kube/index.js';
import type { KubeObject, ObjectRef } from '../../src/sim/kube/index.js';
import {
  apiFailure,
  httpRoutes,
  NET,
  startWatch,
  TOKEN,
  waitFor,
  weightsOf,
  it,
} from './kube-api-fixture.js';

describe('kube-api-server + real @kubernetes/client-node: watches, discovery, auth', () => {
  it('watch: ADDED for current state, then MODIFIED/DELETED live, and resume from a resourceVersion', async ({
    api: { server, fx, kc, vsRef },
  }) => {
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

  it('discovery lists the configured networking.istio.io versions', async ({
    api: { fx, kc, custom, core },
  }) => {
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

  it('auth: 401 without the bearer token; the written kubeconfig file works with loadFromFile', async ({
    api: { server, fx, vsParams },
  }) => {
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

  it('malformed JSON bodies → 400 Status; unknown paths → 404 Status', async ({ api: { server, fx } }) => {
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

  it('onRequest: a concurrent edit just before a PATCH makes its precondition fail; hooks can inject Status', async ({
    api: { server, custom, vsRef, vsParams, getVs },
  }) => {
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

  it('records every request in order, e.g. the sequence of weight writes', async ({
    api: { server, fx, custom, vsRef, vsParams },
  }) => {
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
