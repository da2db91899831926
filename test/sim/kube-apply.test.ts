/** Field ownership (managedFields) and server-side apply on the test API server, over plain HTTP. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startKubeApiServer, type KubeApiServer } from '../../src/sim/kube/index.js';

let server: KubeApiServer;
beforeEach(async () => {
  server = await startKubeApiServer();
  server.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
});
afterEach(() => server.close());

const PLAN = '/apis/meshshift.io/v1alpha1/namespaces/shop/migrationplans/p';
const APPLY = { 'Content-Type': 'application/apply-patch+yaml' };
const MERGE = { 'Content-Type': 'application/merge-patch+json' };

interface Res {
  status: number;
  body: { metadata?: { managedFields?: Entry[]; annotations?: Record<string, string> } } & Record<
    string,
    unknown
  >;
}
interface Entry {
  manager: string;
  operation: string;
  subresource?: string;
  fieldsV1: Record<string, unknown>;
}

async function call(
  method: string,
  path: string,
  body: unknown,
  headers: Record<string, string>,
): Promise<Res> {
  const res = await fetch(`${server.url}${path}`, { method, headers, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Res['body'] };
}

const spec = (policy: string, extra: Record<string, unknown> = {}) => ({
  namespace: 'shop',
  host: 'a.shop.svc.cluster.local',
  virtualService: { name: 'a' },
  source: { subset: 'vm', serviceEntry: 'a-vm' },
  target: { subset: 'k8s', deployment: 'a' },
  policy,
  ...extra,
});
const config = (s: Record<string, unknown>, annotations?: Record<string, string>) => ({
  apiVersion: 'meshshift.io/v1alpha1',
  kind: 'MigrationPlan',
  metadata: { name: 'p', ...(annotations ? { annotations } : {}) },
  spec: s,
});
const managers = (r: Res) =>
  (r.body.metadata?.managedFields ?? []).map(
    (e) => `${e.manager}/${e.operation}${e.subresource ? '/' + e.subresource : ''}`,
  );

describe('server-side apply', () => {
  it('creates, conflicts with another manager, is forced, and removes what the manager no longer applies', async () => {
    const created = await call(
      'PATCH',
      `${PLAN}?fieldManager=flux`,
      config(spec('default', { notify: { slackChannel: '#a' } })),
      APPLY,
    );
    expect(created.status).toBe(201);
    expect(managers(created)).toEqual(['flux/Apply']);

    // Another manager edits a field flux applied (an Update: it takes the field over).
    const edited = await call(
      'PATCH',
      `${PLAN}?fieldManager=kubectl-edit`,
      { spec: { policy: 'strict' } },
      MERGE,
    );
    expect(managers(edited)).toEqual(['flux/Apply', 'kubectl-edit/Update']);
    expect(edited.body.metadata!.managedFields![1]!.fieldsV1).toEqual({ 'f:spec': { 'f:policy': {} } });

    // Flux re-applies its value: a conflict naming the field and its manager, nothing applied.
    const conflict = await call(
      'PATCH',
      `${PLAN}?fieldManager=flux`,
      config(spec('default', { notify: { slackChannel: '#a' } })),
      APPLY,
    );
    expect(conflict.status).toBe(409);
    expect(conflict.body.message).toBe(
      'Apply failed with 1 conflict: conflict with "kubectl-edit" using meshshift.io/v1alpha1: .spec.policy',
    );
    expect(
      server.get({ group: 'meshshift.io', plural: 'migrationplans', namespace: 'shop', name: 'p' })!.spec,
    ).toMatchObject({ policy: 'strict' });
    // Applying the live value is shared ownership, not a conflict.
    const shared = await call(
      'PATCH',
      `${PLAN}?fieldManager=flux`,
      config(spec('strict', { notify: { slackChannel: '#a' } })),
      APPLY,
    );
    expect(shared.status).toBe(200);

    // Forced: flux takes the field; notify is no longer applied by anyone, so it goes.
    const forced = await call(
      'PATCH',
      `${PLAN}?fieldManager=flux&force=true`,
      config(spec('default')),
      APPLY,
    );
    expect(forced.status).toBe(200);
    expect(forced.body.spec).toMatchObject({ policy: 'default' });
    expect(forced.body.spec).not.toHaveProperty('notify');
    expect(managers(forced)).toEqual(['flux/Apply']);
  });

  it('needs a fieldManager; kubectl annotate is recorded as the manager of the annotation', async () => {
    const noManager = await call('PATCH', PLAN, config(spec('default')), APPLY);
    expect(noManager.status).toBe(400);
    expect(noManager.body.message).toBe('PATCH, fieldManager is required for apply requests');
    await call('PATCH', `${PLAN}?fieldManager=flux`, config(spec('default')), APPLY);
    const annotated = await call(
      'PATCH',
      `${PLAN}?fieldManager=kubectl-annotate`,
      { metadata: { annotations: { 'meshshift.io/command': 'promote' } } },
      MERGE,
    );
    const entry = annotated.body.metadata!.managedFields!.find((e) => e.manager === 'kubectl-annotate');
    expect(entry?.fieldsV1).toEqual({ 'f:metadata': { 'f:annotations': { 'f:meshshift.io/command': {} } } });
    // A flux re-apply without the annotation leaves it alone (flux never owned it).
    const reapplied = await call('PATCH', `${PLAN}?fieldManager=flux`, config(spec('default')), APPLY);
    expect(reapplied.body.metadata!.annotations).toEqual({ 'meshshift.io/command': 'promote' });
  });

  it('merges status conditions by their type key (x-kubernetes-list-type: map) on /status', async () => {
    await call('PATCH', `${PLAN}?fieldManager=flux`, config(spec('default')), APPLY);
    const status = (conditions: unknown[]) => ({ ...config(spec('default')), status: { conditions } });
    await call('PATCH', `${PLAN}/status?fieldManager=a`, status([{ type: 'Ready', status: 'False' }]), APPLY);
    const both = await call(
      'PATCH',
      `${PLAN}/status?fieldManager=b`,
      status([{ type: 'Stalled', status: 'True' }]),
      APPLY,
    );
    expect(both.body.status).toEqual({
      conditions: [
        { type: 'Ready', status: 'False' },
        { type: 'Stalled', status: 'True' },
      ],
    });
    expect(managers(both)).toEqual(['flux/Apply', 'a/Apply/status', 'b/Apply/status']);
    const entry = both.body.metadata!.managedFields!.find((e) => e.manager === 'b');
    expect(entry?.fieldsV1).toEqual({
      'f:status': { 'f:conditions': { 'k:{"type":"Stalled"}': { '.': {}, 'f:type': {}, 'f:status': {} } } },
    });
  });

  it('takes managedFields a client rewrites (the kubectl upgrade patch); ignores them when unchanged', async () => {
    await call('PATCH', `${PLAN}?fieldManager=kubectl-client-side-apply`, config(spec('default')), APPLY);
    const rewritten = [
      {
        manager: 'kubectl',
        operation: 'Apply',
        apiVersion: 'meshshift.io/v1alpha1',
        time: '2026-01-01T00:00:00Z',
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:spec': { 'f:policy': {} } },
      },
    ];
    const ops = [{ op: 'replace', path: '/metadata/managedFields', value: rewritten }];
    const res = await call('PATCH', PLAN, ops, { 'Content-Type': 'application/json-patch+json' });
    expect(res.body.metadata!.managedFields).toEqual(rewritten);
    const untouched = await call(
      'PATCH',
      `${PLAN}?fieldManager=x`,
      { metadata: { labels: { a: 'b' } } },
      MERGE,
    );
    expect(managers(untouched)).toEqual(['kubectl/Apply', 'x/Update']);
  });
});
