/**
 * The test Kubernetes API server with the REAL @kubernetes/client-node 1.x client: merge, JSON and strategic
 * merge patches with their preconditions, and Istio's admission of route weights.
 */
import * as k8s from '@kubernetes/client-node';
import { describe, expect } from 'vitest';
import type { KubeObject } from '../../src/sim/kube/index.js';
import { apiFailure, httpRoutes, NET, weightsOf, it } from './kube-api-fixture.js';

describe('kube-api-server + real @kubernetes/client-node: patches and admission', () => {
  it('merge patch: a stale resourceVersion → 409; a current one (or none) applies', async ({
    api: { server, custom, vsRef, vsParams, getVs },
  }) => {
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

  it('JSON patch: a failing test op → 422 and nothing is applied', async ({
    api: { server, custom, vsRef, vsParams },
  }) => {
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

  it('JSON patch can move one weight pair; every other field stays deep-equal', async ({
    api: { server, custom, vsRef, vsParams, getVs },
  }) => {
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

  it('strategic merge patch: 415 on a VirtualService, merge semantics on a Deployment', async ({
    api: { fx, custom, apps, vsParams },
  }) => {
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

  it('Istio admission: weights summing to 90 → 400 with the webhook message, nothing applied', async ({
    api: { server, custom, vsRef, vsParams },
  }) => {
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
});
