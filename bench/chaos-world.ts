/**
 * The chaos soak's world: real Redis (a Sentinel group by default, or one AOF node; bench/chaos-redis.ts), the
 * Kubernetes API test server seeded with one migration scenario per namespace (plus a few for the submissions
 * made during Redis write pauses), ONE synthetic Istio exporter for all of them scraped by a real Prometheus, a
 * `meshshift serve --role api` process with Slack on (a fake Slack Web API on loopback records every post) and
 * `--role worker` processes, each worker behind its own fault-injecting front (bench/chaos-front.ts) that
 * checks the lock holder at every VirtualService write and reports the requests its faults failed.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { seedMigrationScenario } from '../src/sim/istio-fixtures.js';
import type { ScenarioFixture } from '../src/sim/scenario-fixture.js';
import { startKubeApiServer, type KubeApiServer } from '../src/sim/kube/index.js';
import { startPrometheus, type PrometheusServer } from '../src/sim/prometheus.js';
import { planYamlFor } from '../src/sim/scenario.js';
import { startServe, TOKEN, USER, type ServeProcess } from '../test/parity/drivers.js';
import { startFakeSlack, type FakeSlack } from '../test/slack/helpers.js';
import { startKubeFront, type ApiFault, type KubeFront } from './chaos-front.js';
import type { FaultedRequest, WriteCheck } from './chaos-invariants.js';
import { startChaosRedis, type ChaosRedis, type RedisMode } from './chaos-redis.js';
import { startIstioExporter } from './service/exporter.js';

export const PREFIX = 'chaos';
/** Policy durations × this in the soak: 6 s bakes, 1 s analyses. */
export const TIME_SCALE = '0.1';

export interface ApiAnswer {
  status: number | 'timeout' | 'error';
  json: Record<string, unknown>;
}

/** Submissions made during Redis write pauses go to these extra scenarios, one each. */
export const PROBE_FIXTURES = 12;

/** The soak's plan for a fixture: Slack notifications go to a channel named after its namespace. */
export function soakPlan(f: ScenarioFixture, policy: string): string {
  return planYamlFor(f, policy).replace(
    '\nspec:\n',
    `\nspec:\n  notify:\n    slackChannel: ${f.namespace}\n`,
  );
}

export interface ChaosWorld {
  redis: ChaosRedis;
  /** A fail-fast client of the soak itself (lock checks, memory figures). */
  probe: Redis;
  kube: KubeApiServer;
  prom: PrometheusServer;
  fixtures: ScenarioFixture[];
  /** Scenarios only the redis-pause fault submits to. */
  probeFixtures: ScenarioFixture[];
  slack: FakeSlack;
  workers: Array<{ proc: ServeProcess; front: KubeFront }>;
  /** The fault every front applies right now. */
  apiFault: ApiFault;
  /** Every VirtualService PATCH with the lock holder at that instant. */
  writes: WriteCheck[];
  /** Every VirtualService request an API fault failed. */
  faulted: FaultedRequest[];
  /** namespace → migration id, filled as plans are submitted. */
  idByNs: Map<string, string>;
  workerStartFailures: number;
  /** Starts a worker (three attempts); one that does not come up is counted and logged. */
  replaceWorker(): Promise<void>;
  call(method: string, p: string, body?: string, timeoutMs?: number): Promise<ApiAnswer>;
  close(): Promise<void>;
}

export async function startChaosWorld(
  migrations: number,
  mode: RedisMode,
  log: (s: string) => void,
): Promise<ChaosWorld> {
  const cleanups: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    const redis = await startChaosRedis(mode);
    cleanups.push(() => redis.close());
    const slack = await startFakeSlack();
    cleanups.push(() => slack.close());
    const kube = await startKubeApiServer();
    cleanups.push(() => kube.close());
    const seed = (n: number, name: (i: number) => string) =>
      Array.from({ length: n }, (_, i) =>
        seedMigrationScenario(kube, { namespace: name(i), mode: 'subsets' }),
      );
    const fixtures = seed(migrations, (i) => `chaos-${String(i).padStart(3, '0')}`);
    const probeFixtures = seed(PROBE_FIXTURES, (i) => `chaos-probe-${String(i).padStart(2, '0')}`);
    const exporter = await startIstioExporter(
      [...fixtures, ...probeFixtures].map((f) => f.host),
      { rps: 20 },
    );
    cleanups.push(() => exporter.close());
    const prom = await startPrometheus({ scrapeIntervalSeconds: 1 });
    cleanups.push(() => prom.close());
    await prom.addTarget('chaos', exporter.target);
    await prom.waitForSeries('istio_requests_total', 30_000);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'meshshift-chaos-'));
    const common = [...redis.serveFlags, '--prefix', PREFIX, '--log-level', 'info'];
    const api = await startApiProcess(dir, common, slack);
    cleanups.push(() => api.stop());
    const fronts: KubeFront[] = [];
    cleanups.push(async () => Promise.all(fronts.map((f) => f.close())));

    const world: ChaosWorld = {
      redis,
      probe: redis.probe,
      kube,
      prom,
      fixtures: [...fixtures, ...probeFixtures],
      probeFixtures,
      slack,
      workers: [],
      apiFault: { kind: 'ok' },
      writes: [],
      faulted: [],
      idByNs: new Map(),
      workerStartFailures: 0,
      replaceWorker: async () => undefined,
      call: (method, p, body, timeoutMs) => callApi(api.url, method, p, body, timeoutMs),
      close,
    };
    cleanups.push(async () => Promise.all(world.workers.map((w) => w.proc.stop())));
    const spawned: ServeProcess[] = [api];
    cleanups.push(async () => keepLogs(spawned));
    const startWorker = workerStarter(world, { dir, common, fronts, spawned });
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

/** CHAOS_LOG_DIR: every process's log (the last 100 kB of each) is kept there when the world closes. */
function keepLogs(procs: ServeProcess[]): void {
  const dir = process.env.CHAOS_LOG_DIR;
  for (const p of dir ? procs : []) writeFileSync(path.join(dir!, `serve-${p.proc.pid}.log`), p.stderr());
}

/** The `serve --role api` process: the soak's token, its time scale, Slack pointed at the fake Web API. */
function startApiProcess(dir: string, common: string[], slack: FakeSlack): Promise<ServeProcess> {
  const tokens = path.join(dir, 'tokens');
  writeFileSync(tokens, `${USER}:${TOKEN}\n`);
  return startServe(['--role', 'api', ...common, '--tokens-file', tokens, '--time-scale', TIME_SCALE], {
    SLACK_SIGNING_SECRET: 'chaos-signing-secret',
    SLACK_BOT_TOKEN: 'xoxb-chaos',
    SLACK_API_URL: slack.apiUrl,
  });
}

/** Starts one worker process behind a new fault-injecting front (its own kubeconfig points at the front). */
function workerStarter(
  world: ChaosWorld,
  o: { dir: string; common: string[]; fronts: KubeFront[]; spawned: ServeProcess[] },
): () => Promise<void> {
  let spawned = 0;
  return async () => {
    const { kube, prom, probe } = world;
    const front = await startKubeFront({
      upstream: kube.url,
      fault: () => world.apiFault,
      holder: (ns) => lockHolder(probe, world.idByNs.get(ns)),
      onWrite: (w) => world.writes.push(w),
      onFaulted: (f) => world.faulted.push(f),
    });
    o.fronts.push(front);
    const kc = path.join(o.dir, `kubeconfig-${++spawned}.yaml`);
    writeFileSync(kc, kube.kubeconfigYaml().replace(kube.url, front.url), { mode: 0o600 });
    const proc = await startServe([
      ...['--role', 'worker', ...o.common, '--kubeconfig', kc, '--prometheus', prom.url],
      ...['--lock-ttl', '3s', '--tick-align', '100ms', '--batch-window', '20ms', '--reconcile-every', '2s'],
    ]);
    front.pid = proc.proc.pid!;
    o.spawned.push(proc);
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
