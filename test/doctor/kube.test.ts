/**
 * doctor's Kubernetes checks against the in-repo strict API server: reachability, Istio API versions, and RBAC
 * through real SelfSubjectAccessReviews answered from configurable grants and denials.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkIstioApis } from '../../src/doctor/istio-apis.js';
import { checkCluster, loadKube, type KubeTarget } from '../../src/doctor/kube-cluster.js';
import { REQUIRED_PERMISSIONS } from '../../src/doctor/permissions.js';
import { checkRbac } from '../../src/doctor/rbac.js';
import type { CheckResult } from '../../src/doctor/types.js';
import { migrationPlanCrd } from '../../src/controller/crd-schema.js';
import { gatewayApiCrds } from '../../src/sim/gateway-api.js';
import {
  startKubeApiServer,
  type KubeApiServer,
  type KubeApiServerOptions,
  type KubeObject,
} from '../../src/sim/kube/index.js';

const dir = mkdtempSync(path.join(tmpdir(), 'meshshift-doctor-kube-'));
const servers: KubeApiServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  rmSync(dir, { recursive: true, force: true });
});

async function serve(opts: KubeApiServerOptions = {}): Promise<{ server: KubeApiServer; t: KubeTarget }> {
  const server = await startKubeApiServer(opts);
  servers.push(server);
  const t = loadKube({ kubeconfig: server.writeKubeconfig(dir), timeoutMs: 2000 });
  if ('id' in t) throw new Error(t.message);
  return { server, t };
}

function target(kubeconfig: string, timeoutMs = 2000): KubeTarget {
  const t = loadKube({ kubeconfig, timeoutMs });
  if ('id' in t) throw new Error(t.message);
  return t;
}

const byId = (rs: CheckResult[], id: string) => rs.find((r) => r.id === id)!;

describe('cluster and Istio API versions', () => {
  it('reports the Kubernetes version and the Istio versions served, and the one meshshift uses', async () => {
    const { t } = await serve();
    const cluster = await checkCluster(t);
    expect(cluster).toMatchObject({ id: 'kube.cluster', ok: true });
    expect(cluster.message).toContain('v1.31.0');
    const apis = await checkIstioApis(t);
    expect(byId(apis, 'kube.istio-networking')).toMatchObject({
      ok: true,
      message: 'networking.istio.io served as v1, v1beta1, v1alpha3; meshshift uses v1',
    });
    expect(byId(apis, 'kube.istio-security').message).toContain('meshshift uses v1');
  });

  it('Gateway API: skipped when not served (only HTTPRoute plans need it), the version used when it is', async () => {
    const { t } = await serve();
    expect(byId(await checkIstioApis(t), 'kube.gateway-api')).toMatchObject({ ok: true, skipped: true });
    const withGateway = await serve({ crds: [migrationPlanCrd() as KubeObject, ...gatewayApiCrds()] });
    expect(byId(await checkIstioApis(withGateway.t), 'kube.gateway-api')).toEqual({
      id: 'kube.gateway-api',
      ok: true,
      message: 'gateway.networking.k8s.io served as v1, v1beta1; HTTPRoute plans use v1',
    });
  });

  it('an older Istio (v1alpha3 only) is used as v1alpha3', async () => {
    const { t } = await serve({ istioVersions: ['v1alpha3'] });
    expect(byId(await checkIstioApis(t), 'kube.istio-networking')).toMatchObject({
      ok: true,
      message: 'networking.istio.io served as v1alpha3; meshshift uses v1alpha3',
    });
  });

  it('an unsupported Istio version fails with the fix', async () => {
    const { t } = await serve({ istioVersions: ['v2'] });
    const r = byId(await checkIstioApis(t), 'kube.istio-networking');
    expect(r.ok).toBe(false);
    expect(r.message).toContain('meshshift supports v1, v1beta1, v1alpha3');
    expect(r.fix).toContain('install Istio');
  });

  it('wrong credentials: ✗ naming the refused token', async () => {
    const { server } = await serve({ token: 'right' });
    const file = path.join(dir, 'wrong.yaml');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, server.kubeconfigYaml().replace('token: right', 'token: wrong'));
    const r = await checkCluster(target(file));
    expect(r).toMatchObject({ ok: false });
    expect(r.message).toContain('401');
    expect(r.fix).toContain('credentials were refused');
  });

  it('nothing listening: ✗ with the address; a hung server: ✗ within the deadline', async () => {
    const { server } = await serve();
    const yaml = server.kubeconfigYaml();
    await server.close();
    const { writeFileSync } = await import('node:fs');
    const file = path.join(dir, 'closed.yaml');
    writeFileSync(file, yaml);
    const closed = await checkCluster(target(file));
    expect(closed.ok).toBe(false);
    expect(closed.fix).toContain('nothing answered');

    const hung = await serve();
    hung.server.onRequest(() => new Promise(() => {}));
    const started = Date.now();
    const r = await checkCluster(target(hung.server.writeKubeconfig(dir), 300));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(r.ok).toBe(false);
    expect(r.message).toContain('no answer within 0.3 s');
  });

  it('a missing kubeconfig context is one ✗ with the fix', () => {
    const r = loadKube({ kubeconfig: servers[0]!.writeKubeconfig(dir), context: 'prod', timeoutMs: 1000 });
    expect(r).toMatchObject({ id: 'kube.config', ok: false });
    expect((r as CheckResult).message).toContain('no context "prod"');
  });
});

describe('RBAC via SelfSubjectAccessReview', () => {
  it('everything granted: ✓, one review per required permission', async () => {
    const { server, t } = await serve();
    const r = await checkRbac(t);
    expect(r).toMatchObject({ id: 'kube.rbac', ok: true });
    expect(r.message).toContain(`all ${REQUIRED_PERMISSIONS.length} permissions`);
    const reviews = server.requests.filter((q) => q.path.endsWith('/selfsubjectaccessreviews'));
    expect(reviews).toHaveLength(REQUIRED_PERMISSIONS.length);
    expect(reviews.every((q) => q.status === 201 && q.method === 'POST')).toBe(true);
  });

  it('grants without patch on VirtualServices: ✗ naming it and the ClusterRole to bind', async () => {
    const grants = REQUIRED_PERMISSIONS.filter(
      (p) => !(p.resource === 'virtualservices' && p.verb === 'patch'),
    ).map(({ group, resource, verb }) => ({ group, resource, verb }));
    const { t } = await serve({ access: { grants } });
    const r = await checkRbac(t);
    expect(r.ok).toBe(false);
    expect(r.message).toBe(
      `1 of ${REQUIRED_PERMISSIONS.length} permissions denied cluster-wide: patch virtualservices.networking.istio.io (shift the weights)`,
    );
    expect(r.fix).toContain('meshshift-migrator');
    expect(r.fix).toContain('clusterrolebinding');
  });

  it('a denial wins over the default; setAccess changes the answers at runtime', async () => {
    const { server, t } = await serve({ access: { denials: [{ group: 'security.istio.io' }] } });
    const r = await checkRbac(t);
    expect(r.message).toContain('2 of');
    expect(r.message).toContain('get peerauthentications.security.istio.io');
    server.setAccess({});
    expect((await checkRbac(t)).ok).toBe(true);
  });

  it('grants for one namespace (a RoleBinding) answer for that namespace only', async () => {
    const grants = REQUIRED_PERMISSIONS.map(({ group, resource, verb }) => ({
      group,
      resource,
      verb,
      namespace: 'shop',
    }));
    const { t } = await serve({ access: { grants } });
    expect((await checkRbac(t, 'shop')).ok).toBe(true);
    const cluster = await checkRbac(t);
    expect(cluster.ok).toBe(false);
    expect(cluster.message).toContain(
      `${REQUIRED_PERMISSIONS.length} of ${REQUIRED_PERMISSIONS.length} permissions denied`,
    );
    const other = await checkRbac(t, 'other');
    expect(other.fix).toContain('rolebinding meshshift-migrator -n other');
  });
});

describe('the SelfSubjectAccessReview endpoint is strict like kube-apiserver', () => {
  const post = (server: KubeApiServer, body: unknown, method = 'POST', type = 'application/json') =>
    fetch(`${server.url}/apis/authorization.k8s.io/v1/selfsubjectaccessreviews`, {
      method,
      headers: { 'Content-Type': type },
      ...(method === 'GET' ? {} : { body: JSON.stringify(body) }),
    });
  const review = (spec: unknown) => ({
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SelfSubjectAccessReview',
    spec,
  });

  it('answers 201 with status.allowed, and the spec echoed', async () => {
    const { server } = await serve({
      access: { grants: [{ group: 'apps', resource: 'deployments', verb: 'get' }] },
    });
    const yes = await post(
      server,
      review({ resourceAttributes: { group: 'apps', resource: 'deployments', verb: 'get' } }),
    );
    expect(yes.status).toBe(201);
    const body = (await yes.json()) as { status: { allowed: boolean }; spec: unknown };
    expect(body.status.allowed).toBe(true);
    const no = await post(
      server,
      review({ resourceAttributes: { group: 'apps', resource: 'deployments', verb: 'delete' } }),
    );
    expect(((await no.json()) as { status: { allowed: boolean } }).status).toEqual({ allowed: false });
  });

  it('422 without exactly one of resourceAttributes/nonResourceAttributes; 400 on a wrong kind; 405 on GET', async () => {
    const { server } = await serve();
    const neither = await post(server, review({}));
    expect(neither.status).toBe(422);
    expect(((await neither.json()) as { reason: string }).reason).toBe('Invalid');
    const both = await post(
      server,
      review({
        resourceAttributes: { verb: 'get' },
        nonResourceAttributes: { path: '/healthz', verb: 'get' },
      }),
    );
    expect(both.status).toBe(422);
    expect(
      (await post(server, { ...review({ resourceAttributes: {} }), kind: 'SubjectAccessReview' })).status,
    ).toBe(400);
    expect((await post(server, undefined, 'GET')).status).toBe(405);
  });

  it('discovery lists authorization.k8s.io/v1 with selfsubjectaccessreviews (create only)', async () => {
    const { server } = await serve();
    const groups = (await (await fetch(`${server.url}/apis`)).json()) as { groups: Array<{ name: string }> };
    expect(groups.groups.map((g) => g.name)).toContain('authorization.k8s.io');
    const list = (await (await fetch(`${server.url}/apis/authorization.k8s.io/v1`)).json()) as {
      resources: Array<{ name: string; verbs: string[] }>;
    };
    expect(list.resources).toEqual([
      expect.objectContaining({ name: 'selfsubjectaccessreviews', verbs: ['create'] }),
    ]);
  });
});
