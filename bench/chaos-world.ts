/**
 * The chaos soak's world: real Redis (AOF, so a restart keeps the data), the Kubernetes API test server seeded
 * with one migration scenario per namespace, ONE synthetic Istio exporter for all of them scraped by a real
 * Prometheus, a `meshshift serve --role api` process and `--role worker` processes, each worker behind its own
 * fault-injecting front (bench/chaos-front.ts) that checks the lock holder at every VirtualService write.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { seedMigrationScenario, type ScenarioFixture } from '../src/sim/istio-fixtures.js';
import { startKubeApiServer, type KubeApiServer } from '../src/sim/kube/index.js';
import { startPrometheus, type PrometheusServer } from '../src/sim/prometheus.js';
import { startRedis, type RedisServer } from '../src/sim/redis.js';
import { startServe, TOKEN, USER, type ServeProcess } from '../test/parity/drivers.js';
import { startKubeFront, type ApiFault, type KubeFront } from './chaos-front.js';
import type { WriteCheck } from './chaos-invariants.js';
import { startIstioExporter } from './service/exporter.js';

export const PREFIX = 'chaos';
/** Policy durations × this in the soak: 6 s bakes, 1 s analyses. */
export const TIME_SCALE = '0.1';

export interface ApiAnswer {
  status: number | 'timeout' | 'error';
  json: Record<string, unknown>;
}

export interface ChaosWorld {
  redis: RedisServer;
  /** A fail-fast client of the soak itself (lock checks, memory figures). */
  probe: Redis;
  kube: KubeApiServer;
  prom: PrometheusServer;
  fixtures: ScenarioFixture[];
  workers: Array<{ proc: ServeProcess; front: KubeFront }>;
  /** The fault every front applies right now. */
  apiFault: ApiFault;
  /** Every VirtualService PATCH with the lock holder at that instant. */
  writes: WriteCheck[];
  /** namespace → migration id, filled as plans are submitted. */
  idByNs: Map<string, string>;
  workerStartFailures: number;
  /** Starts a worker (three attempts); one that does not come up is counted and logged. */
  replaceWorker(): Promise<void>;
  call(method: string, p: string, body?: string, timeoutMs?: number): Promise<ApiAnswer>;
  close(): Promise<void>;
}

export async function startChaosWorld(migrations: number, log: (s: string) => void): Promise<ChaosWorld> {
  const cleanups: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    const redis = await startRedis({ persistent: true });
    cleanups.push(() => redis.close());
    const kube = await startKubeApiServer();
    cleanups.push(() => kube.close());
    const fixtures = Array.from({ length: migrations }, (_, i) =>
      seedMigrationScenario(kube, { namespace: `chaos-${String(i).padStart(3, '0')}`, mode: 'subsets' }),
    );
    const exporter = await startIstioExporter(
      fixtures.map((f) => f.host),
      { rps: 20 },
    );
    cleanups.push(() => exporter.close());
    const prom = await startPrometheus({ scrapeIntervalSeconds: 1 });
    cleanups.push(() => prom.close());
    await prom.addTarget('chaos', exporter.target);
    await prom.waitForSeries('istio_requests_total', 30_000);
    const probe = new Redis(redis.url, {
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      connectTimeout: 500,
    });
    probe.on('error', () => undefined);
    cleanups.push(async () => probe.disconnect());

    const dir = mkdtempSync(path.join(os.tmpdir(), 'meshshift-chaos-'));
    const tokens = path.join(dir, 'tokens');
    writeFileSync(tokens, `${USER}:${TOKEN}\n`);
    const common = ['--redis', redis.url, '--prefix', PREFIX, '--log-level', 'info'];
    const api = await startServe([
      '--role',
      'api',
      ...common,
      '--tokens-file',
      tokens,
      '--time-scale',
      TIME_SCALE,
    ]);
    cleanups.push(() => api.stop());
    const fronts: KubeFront[] = [];
    cleanups.push(async () => Promise.all(fronts.map((f) => f.close())));

    const world: ChaosWorld = {
      redis,
      probe,
      kube,
      prom,
      fixtures,
      workers: [],
      apiFault: { kind: 'ok' },
      writes: [],
      idByNs: new Map(),
      workerStartFailures: 0,
      replaceWorker: async () => undefined,
      call: (method, p, body, timeoutMs) => callApi(api.url, method, p, body, timeoutMs),
      close,
    };
    cleanups.push(async () => Promise.all(world.workers.map((w) => w.proc.stop())));
    const startWorker = workerStarter(world, { dir, common, fronts });
    world.replaceWorker = async () => {
      for (let attempt = 1; attempt <= 3; attempt++) {
        try {
          return await startWorker();
        } catch (err) {
          world.workerStartFailures++;
          log(
            `replacement worker did not start (attempt ${attempt}): ${(err as Error).message.slice(0, 600)}`,
          );
        }
      }
    };
    await Promise.all([startWorker(), startWorker()]);
    return world;
  } catch (err) {
    await close();
    throw err;
  }
}

/** Starts one worker process behind a new fault-injecting front (its own kubeconfig points at the front). */
function workerStarter(
  world: ChaosWorld,
  o: { dir: string; common: string[]; fronts: KubeFront[] },
): () => Promise<void> {
  let spawned = 0;
  return async () => {
    const { kube, prom, probe } = world;
    const front = await startKubeFront({
      upstream: kube.url,
      fault: () => world.apiFault,
      holder: (ns) => lockHolder(probe, world.idByNs.get(ns)),
      onWrite: (w) => world.writes.push(w),
    });
    o.fronts.push(front);
    const kc = path.join(o.dir, `kubeconfig-${++spawned}.yaml`);
    writeFileSync(kc, kube.kubeconfigYaml().replace(kube.url, front.url), { mode: 0o600 });
    const proc = await startServe([
      ...['--role', 'worker', ...o.common, '--kubeconfig', kc, '--prometheus', prom.url],
      ...['--lock-ttl', '3s', '--tick-align', '100ms', '--batch-window', '20ms', '--reconcile-every', '2s'],
    ]);
    front.pid = proc.proc.pid!;
    world.workers.push({ proc, front });
  };
}

/** pid in the migration's lock ("<host>:<pid>:<rand>|<seq>|<rand>"), 'none' when free, 'unknown' when unreadable. */
async function lockHolder(probe: Redis, id: string | undefined): Promise<WriteCheck['holderPid']> {
  if (!id) return 'unknown';
  try {
    const v = await probe.get(`${PREFIX}:m:${id}:lock`);
    if (v === null) return 'none';
    const m = /:(\d+):[0-9a-f]+\|/.exec(v);
    return m ? Number(m[1]) : 'unknown';
  } catch {
    return 'unknown';
  }
}

async function callApi(
  base: string,
  method: string,
  p: string,
  body?: string,
  timeoutMs = 3000,
): Promise<ApiAnswer> {
  try {
    const type = p === '/v1/migrations' ? 'application/yaml' : 'application/json';
    const res = await fetch(`${base}${p}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'content-type': type } : {}) },
      ...(body !== undefined ? { body } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    return { status: res.status, json: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  } catch (err) {
    return { status: (err as Error).name === 'TimeoutError' ? 'timeout' : 'error', json: {} };
  }
}
