/**
 * What the test Kubernetes API server's tests share: a server seeded with a migration scenario, the REAL
 * @kubernetes/client-node clients on it, and helpers to read routes, expect failures and follow watches.
 */
import * as k8s from '@kubernetes/client-node';
import { it as base } from 'vitest';
import { startKubeApiServer } from '../../src/sim/kube/index.js';
import type { KubeApiServer, KubeObject, KubeStatus, ObjectRef } from '../../src/sim/kube/index.js';
import { seedMigrationScenario } from '../../src/sim/istio-fixtures.js';
import type { ScenarioFixture } from '../../src/sim/scenario-fixture.js';

export const NET = 'networking.istio.io';
export const TOKEN = 's3cret-token';

interface Destination {
  host: string;
  subset?: string;
  port?: { number: number };
}
export interface HttpRoute {
  name?: string;
  match?: unknown[];
  route: { destination: Destination; weight?: number }[];
  timeout?: string;
  retries?: Record<string, unknown>;
}
export const httpRoutes = (vs: KubeObject): HttpRoute[] => (vs.spec as { http: HttpRoute[] }).http;
export const weightsOf = (vs: KubeObject, routeIndex = 0): (number | undefined)[] =>
  (httpRoutes(vs)[routeIndex]?.route ?? []).map((r) => r.weight);

export interface WatchEvent {
  type: string;
  object: KubeObject & Partial<KubeStatus>;
}

/** Awaits a client call that must fail and returns the ApiException's code and parsed Status body. */
export async function apiFailure(
  call: Promise<unknown>,
): Promise<{ code: number; status: KubeStatus | undefined }> {
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

export async function waitFor(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Starts a client-node Watch and collects its events; `ended` resolves with done()'s argument. */
export function startWatch(kc: k8s.KubeConfig, path: string, params: Record<string, string | number> = {}) {
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

/** A server seeded with the migration scenario (bearer token TOKEN) and the client's APIs on it. */
export interface KubeApi {
  server: KubeApiServer;
  fx: ScenarioFixture;
  kc: k8s.KubeConfig;
  custom: k8s.CustomObjectsApi;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  vsRef: ObjectRef;
  /** The scenario's VirtualService as the custom-objects API names it, and read through it. */
  vsParams: () => ReturnType<typeof vsParamsOf>;
  getVs: () => Promise<KubeObject>;
}

export async function openKubeApi(): Promise<KubeApi> {
  const server = await startKubeApiServer({ token: TOKEN });
  const fx = seedMigrationScenario(server);
  const kc = server.kubeConfig();
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  return {
    server,
    fx,
    kc,
    custom,
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    vsRef: { group: NET, plural: 'virtualservices', namespace: fx.namespace, name: fx.virtualService },
    vsParams: () => vsParamsOf(fx),
    getVs: async () => (await custom.getNamespacedCustomObject(vsParamsOf(fx))) as KubeObject,
  };
}

/** `it` with `api`: a fresh seeded server and clients for each test, closed after it. */
export const it = base.extend<{ api: KubeApi }>({
  // eslint-disable-next-line no-empty-pattern -- vitest reads the fixture's dependencies from this pattern
  api: async ({}, use) => {
    const api = await openKubeApi();
    await use(api);
    await api.server.close();
  },
});

/** The scenario's VirtualService as the custom-objects API names it. */
export const vsParamsOf = (fx: ScenarioFixture) => ({
  group: NET,
  version: 'v1',
  namespace: fx.namespace,
  plural: 'virtualservices',
  name: fx.virtualService,
});
