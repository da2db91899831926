/** Wiring for the controller tests: real Redis, real Prometheus, the simulator and its Kubernetes API server. */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parse } from 'yaml';
import { startService, type RunningService } from '../../src/serve/start.js';
import type { ControllerOptions } from '../../src/controller/controller.js';
import type { MigrationPlanObject } from '../../src/controller/types.js';
import { createLogger, silentLogger } from '../../src/log/logger.js';
import { startRedis, type RedisServer } from '../../src/sim/redis.js';
import { startScenario, type Scenario, type ScenarioOptions } from '../../src/sim/scenario.js';
import type { KubeObject } from '../../src/sim/kube/index.js';
import { SERVICE_POLICY, serveOptions } from '../service/helpers.js';

export const MP = { group: 'meshshift.io', version: 'v1alpha1', plural: 'migrationplans' };
export const LEASE_NS = 'meshshift';

export interface ControllerEnv {
  redis: RedisServer;
  s: Scenario;
  kubeconfig: string;
  custom: k8s.CustomObjectsApi;
  ns: string;
  svc?: RunningService;
  close(): Promise<void>;
}

export function controllerOptions(extra: Partial<ControllerOptions> = {}): ControllerOptions {
  return {
    namespaces: [],
    leaseNamespace: LEASE_NS,
    leaseName: 'meshshift-controller',
    leaseDurationMs: 3000,
    leaseRetryMs: 300,
    statusEveryMs: 100,
    resyncMs: 60_000,
    ...extra,
  };
}

/** Scenario + Redis; with `inProcess`, one `serve --role all` (workers + controller) in this process. */
export async function controllerEnv(
  prom: { prometheusUrl: string; sdDir: string },
  opts: { scenario?: Partial<ScenarioOptions>; inProcess?: boolean; prefix: string },
): Promise<ControllerEnv> {
  const redis = await startRedis({ persistent: false });
  const s = await startScenario({ metrics: prom, policy: SERVICE_POLICY, ...opts.scenario });
  s.kube.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: LEASE_NS } });
  const kubeconfig = s.kube.writeKubeconfig(mkdtempSync(path.join(os.tmpdir(), 'meshshift-kc-')));
  const custom = s.kube.kubeConfig().makeApiClient(k8s.CustomObjectsApi);
  const env: ControllerEnv = {
    redis,
    s,
    kubeconfig,
    custom,
    ns: s.fixture.namespace,
    close: async () => {
      await env.svc?.close().catch(() => undefined);
      await s.close().catch(() => undefined);
      await redis.close().catch(() => undefined);
    },
  };
  if (opts.inProcess !== false) await startInProcess(env, prom, opts.prefix);
  await s.waitForTraffic();
  return env;
}

/** One `serve --role all` (workers + controller) in this process, closed with the env. */
export async function startInProcess(
  env: ControllerEnv,
  prom: { prometheusUrl: string },
  prefix: string,
): Promise<void> {
  env.svc = await startService(
    {
      ...serveOptions(env.redis.url, prefix, {
        role: 'all',
        kubeconfig: env.kubeconfig,
        prometheus: prom.prometheusUrl,
        controller: controllerOptions(),
      }),
    },
    { logger: process.env.CTL_DEBUG ? createLogger({ level: 'warn' }) : silentLogger },
  );
}

/** The scenario's plan as a MigrationPlan custom resource body. */
export function planObject(
  env: ControllerEnv,
  name: string,
  mutate?: (spec: Record<string, unknown>) => void,
) {
  const doc = parse(env.s.planYaml) as { spec: Record<string, unknown> };
  mutate?.(doc.spec);
  return {
    apiVersion: 'meshshift.io/v1alpha1',
    kind: 'MigrationPlan',
    metadata: { name, namespace: env.ns },
    spec: doc.spec,
  };
}

export async function applyPlan(env: ControllerEnv, body: ReturnType<typeof planObject>): Promise<void> {
  await env.custom.createNamespacedCustomObject({ ...MP, namespace: env.ns, body });
}

export function getPlan(env: ControllerEnv, name: string): MigrationPlanObject | undefined {
  return env.s.kube.get({ group: MP.group, plural: MP.plural, namespace: env.ns, name }) as
    MigrationPlanObject | undefined;
}

export const condition = (obj: MigrationPlanObject | undefined, type: string) =>
  obj?.status?.conditions?.find((c) => c.type === type);

export async function waitPlan(
  env: ControllerEnv,
  name: string,
  pred: (o: MigrationPlanObject | undefined) => boolean,
  timeoutMs = 90_000,
  onTick?: (o: MigrationPlanObject | undefined) => void,
): Promise<MigrationPlanObject | undefined> {
  const deadline = Date.now() + timeoutMs;
  let last: MigrationPlanObject | undefined;
  while (Date.now() < deadline) {
    last = getPlan(env, name);
    onTick?.(last);
    if (pred(last)) return last;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for MigrationPlan ${name}; last status ${JSON.stringify(last?.status)}`);
}

/** Events regarding a MigrationPlan, in the order the API server stored them. */
export function eventsFor(env: ControllerEnv, name: string): KubeObject[] {
  return env.s.kube
    .list('events.k8s.io', 'events', env.ns)
    .filter((e) => (e.regarding as { name: string }).name === name)
    .sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion));
}

/** Mean and 95 % confidence half-width (normal approximation). */
export function meanCi(xs: number[]): { mean: number; ci95: number; n: number } {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, n - 1));
  return { mean, ci95: (1.96 * sd) / Math.sqrt(n), n };
}
