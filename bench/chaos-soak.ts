/**
 * The chaos soak (issue 10): many migrations on two `meshshift serve --role worker` processes (plus an API
 * process), real Redis (AOF, so a restart keeps the data), a real Prometheus scraping one synthetic Istio
 * exporter, and the Kubernetes API test server behind one fault-injecting front per worker. A seeded schedule
 * injects worker kill -9 and SIGTERM (a replacement starts at once), Redis restarts, Kubernetes 500s and hangs,
 * and Prometheus outages, while operators pause, resume and abort some migrations over the API. At the end the
 * invariants of bench/chaos-invariants.ts are checked and the figures returned.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { seedMigrationScenario, type ScenarioFixture } from '../test/harness/istio-fixtures.js';
import { startKubeApiServer, type KubeApiServer } from '../test/harness/kube-api-server.js';
import { startPrometheus } from '../test/harness/prometheus.js';
import { startRedis } from '../test/harness/redis.js';
import { planYamlFor } from '../test/harness/scenario.js';
import { startServe, TOKEN, USER, type ServeProcess } from '../test/parity/drivers.js';
import { startKubeFront, type ApiFault, type KubeFront } from './chaos-front.js';
import {
  checkInvariants,
  figures,
  seeded,
  type CommandRequest,
  type Figures,
  type HistoryItem,
  type MigrationObservation,
  type Violation,
  type WriteCheck,
} from './chaos-invariants.js';
import { startIstioExporter } from './service/exporter.js';

export interface SoakOptions {
  migrations: number;
  /** Faults and submissions happen during this time; then the soak drains. */
  seconds: number;
  seed: number;
  /** Upper bound for the drain (every migration finished or visibly paused). */
  drainSeconds: number;
  log?: (line: string) => void;
}

export type FaultKind =
  'kill9' | 'sigterm' | 'redis-restart' | 'kube-500' | 'kube-hang' | 'prometheus-outage';
export const FAULT_KINDS: FaultKind[] = [
  'kill9',
  'sigterm',
  'redis-restart',
  'kube-500',
  'kube-hang',
  'prometheus-outage',
];

export interface SoakReport {
  violations: Violation[];
  figures: Figures & {
    faults: Record<string, number>;
    rollbacksAfterFaults: number;
    abortToSourceMs: number[];
    commands: Record<string, number>;
    writesChecked: number;
    writesUnverifiable: number;
    redisBytesPerMigration: number;
    redisKeysPerMigration: number;
    drainedInMs: number;
  };
}

/** Absolute SLOs on healthy synthetic traffic; 30 inconclusive analyses (30 s) before a pause outlast an outage. */
const POLICY = `
steps: [1, 5, 10, 25, 50, 100]
stepDuration: 1m
analysis:
  interval: 10s
  window: 1m
  minRequests: 50
  minPassesPerStep: 2
  inconclusiveLimit: 30
slo:
  errorRate:
    max: 0.01
  latency:
    p99:
      maxMs: 500
`;
const PREFIX = 'chaos';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const log = o.log ?? (() => undefined);
  const rnd = seeded(o.seed);
  const cleanups: Array<() => Promise<unknown>> = [];
  try {
    const redis = await startRedis({ persistent: true });
    cleanups.push(() => redis.close());
    const kube: KubeApiServer = await startKubeApiServer();
    cleanups.push(() => kube.close());
    const fixtures: ScenarioFixture[] = [];
    for (let i = 0; i < o.migrations; i++)
      fixtures.push(
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

    // Faults the fronts and the schedule share.
    let apiFault: ApiFault = { kind: 'ok' };
    const writes: WriteCheck[] = [];
    const idByNs = new Map<string, string>();
    const holder = async (ns: string): Promise<WriteCheck['holderPid']> => {
      const id = idByNs.get(ns);
      if (!id) return 'unknown';
      try {
        const v = await probe.get(`${PREFIX}:m:${id}:lock`);
        if (v === null) return 'none';
        const m = /:(\d+):[0-9a-f]+\|/.exec(v);
        return m ? Number(m[1]) : 'unknown';
      } catch {
        return 'unknown';
      }
    };

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
      '0.1',
    ]);
    cleanups.push(() => api.stop());
    const workers: Array<{ proc: ServeProcess; front: KubeFront }> = [];
    const fronts: KubeFront[] = [];
    cleanups.push(async () => Promise.all(fronts.map((f) => f.close())));
    let spawned = 0;
    const startWorker = async () => {
      const front = await startKubeFront({
        upstream: kube.url,
        fault: () => apiFault,
        holder,
        onWrite: (w) => writes.push(w),
      });
      fronts.push(front);
      const kc = path.join(dir, `kubeconfig-${++spawned}.yaml`);
      writeFileSync(kc, kube.kubeconfigYaml().replace(kube.url, front.url), { mode: 0o600 });
      const proc = await startServe([
        ...['--role', 'worker', ...common, '--kubeconfig', kc, '--prometheus', prom.url],
        ...['--lock-ttl', '3s', '--tick-align', '100ms', '--batch-window', '20ms', '--reconcile-every', '2s'],
      ]);
      front.pid = proc.proc.pid!;
      const w = { proc, front };
      workers.push(w);
      return w;
    };
    cleanups.push(async () => Promise.all(workers.map((w) => w.proc.stop())));
    await Promise.all([startWorker(), startWorker()]);

    const call = async (method: string, p: string, body?: string, timeoutMs = 3000) => {
      try {
        const res = await fetch(`${api.url}${p}`, {
          method,
          headers: {
            authorization: `Bearer ${TOKEN}`,
            ...(body !== undefined
              ? { 'content-type': p === '/v1/migrations' ? 'application/yaml' : 'application/json' }
              : {}),
          },
          ...(body !== undefined ? { body } : {}),
          signal: AbortSignal.timeout(timeoutMs),
        });
        const text = await res.text();
        return { status: res.status, json: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
      } catch (err) {
        return {
          status: (err as Error).name === 'TimeoutError' ? ('timeout' as const) : ('error' as const),
          json: {},
        };
      }
    };

    const redisBefore = await memory(probe);
    const t0 = Date.now();
    const faults: Record<string, number> = {};
    const faultWindows: Array<{ from: number; to: number }> = [];
    const commands: CommandRequest[] = [];
    let nCmd = 0;
    const command = async (id: string, type: string) => {
      const token = `chaos-${++nCmd}`;
      const sentAt = Date.now();
      const r = await call('POST', `/v1/migrations/${id}/${type}`, JSON.stringify({ reason: token }));
      commands.push({ id, type: type.toUpperCase(), token, sentAt, outcome: r.status });
    };

    // Submissions, spread over the first two thirds; some get operator commands later.
    const submitting = (async () => {
      for (const [i, f] of fixtures.entries()) {
        await sleep((o.seconds * 1000 * 0.66) / o.migrations);
        let r = await call('POST', '/v1/migrations', planYamlFor(f, POLICY), 10_000);
        for (let k = 0; k < 10 && r.status !== 201; k++)
          r = await sleep(1000).then(() => call('POST', '/v1/migrations', planYamlFor(f, POLICY), 10_000));
        if (r.status !== 201) {
          log(`submit ${f.namespace} failed: ${r.status}`);
          continue;
        }
        const id = String(r.json.id);
        idByNs.set(f.namespace, id);
        const roll = rnd();
        if (roll < 0.15) setTimeout(() => void command(id, 'abort'), 5000 + rnd() * 20_000);
        else if (roll < 0.35)
          setTimeout(
            () =>
              void command(id, 'pause')
                .then(() => sleep(4000))
                .then(() => command(id, 'resume')),
            3000 + rnd() * 20_000,
          );
        void i;
      }
    })();

    // The fault schedule.
    const restartRedis = async (downMs: number) => {
      await redis.stop();
      await sleep(downMs);
      await redis.start();
    };
    // Every kind once per round, in a seeded order, so that even a short soak meets each of them.
    let round: FaultKind[] = [];
    while (Date.now() - t0 < o.seconds * 1000) {
      await sleep(4000 + rnd() * 8000);
      if (Date.now() - t0 >= o.seconds * 1000) break;
      if (round.length === 0) {
        round = [...FAULT_KINDS];
        for (let i = round.length - 1; i > 0; i--) {
          const j = Math.floor(rnd() * (i + 1));
          [round[i], round[j]] = [round[j]!, round[i]!];
        }
      }
      const kind = round.shift()!;
      const from = Date.now();
      faults[kind] = (faults[kind] ?? 0) + 1;
      log(`fault ${kind} at ${((from - t0) / 1000).toFixed(0)} s`);
      if (kind === 'kill9' || kind === 'sigterm') {
        const victim = workers.splice(Math.floor(rnd() * workers.length), 1)[0]!;
        if (kind === 'kill9') victim.proc.proc.kill('SIGKILL');
        else void victim.proc.stop();
        await startWorker();
      } else if (kind === 'redis-restart') await restartRedis(2000 + rnd() * 4000);
      else if (kind === 'kube-500') {
        apiFault = { kind: '500' };
        await sleep(5000 + rnd() * 10_000);
        apiFault = { kind: 'ok' };
      } else if (kind === 'kube-hang') {
        let release!: () => void;
        apiFault = { kind: 'hang', until: new Promise<void>((r) => (release = r)) };
        await sleep(5000 + rnd() * 15_000);
        apiFault = { kind: 'ok' };
        release();
      } else {
        await prom.stop();
        await sleep(5000 + rnd() * 10_000);
        await prom.start();
      }
      faultWindows.push({ from, to: Date.now() });
    }
    await submitting;

    // Drain: every migration finished or visibly paused.
    const drainFrom = Date.now();
    let observed: MigrationObservation[] = [];
    while (Date.now() - drainFrom < o.drainSeconds * 1000) {
      observed = await observe(call, kube, fixtures, idByNs);
      const open = observed.filter(
        (m) => !['completed', 'rolledBack', 'aborted', 'failed', 'paused'].includes(m.phase),
      );
      if (open.length === 0) break;
      await sleep(2000);
    }
    const drainedInMs = Date.now() - drainFrom;
    observed = await observe(call, kube, fixtures, idByNs);
    const redisAfter = await memory(probe);
    const violations = checkInvariants(observed, writes, commands);
    const f = figures(observed, Date.now());
    const firstFault = faultWindows[0]?.from ?? Infinity;
    const rolledBackAt = (m: MigrationObservation) =>
      m.history.find((h) => h.type === 'phase' && (h.phase === 'rolledBack' || h.phase === 'aborted'))?.at;
    const abortToSourceMs = commands
      .filter((c) => c.type === 'ABORT' && c.outcome === 202)
      .map((c) => {
        const m = observed.find((x) => x.id === c.id);
        const zero = m?.clusterWrites.find((w) => w.weight === 0 && w.at >= c.sentAt);
        return zero ? zero.at - c.sentAt : NaN;
      })
      .filter((x) => Number.isFinite(x));
    const cmdOutcomes: Record<string, number> = {};
    for (const c of commands) cmdOutcomes[String(c.outcome)] = (cmdOutcomes[String(c.outcome)] ?? 0) + 1;
    return {
      violations,
      figures: {
        ...f,
        faults,
        rollbacksAfterFaults: observed.filter((m) => (rolledBackAt(m) ?? 0) > firstFault).length,
        abortToSourceMs,
        commands: cmdOutcomes,
        writesChecked: writes.length,
        writesUnverifiable: writes.filter((w) => w.holderPid === 'unknown').length,
        redisBytesPerMigration: Math.round(
          (redisAfter.bytes - redisBefore.bytes) / Math.max(1, o.migrations),
        ),
        redisKeysPerMigration: (redisAfter.keys - redisBefore.keys) / Math.max(1, o.migrations),
        drainedInMs,
      },
    };
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  }
}

async function memory(r: Redis): Promise<{ bytes: number; keys: number }> {
  for (let i = 0; i < 20; i++) {
    try {
      const info = await r.info('memory');
      const keys = await r.dbsize();
      return { bytes: Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0), keys };
    } catch {
      await sleep(500);
    }
  }
  return { bytes: NaN, keys: NaN };
}

type Call = (
  method: string,
  p: string,
) => Promise<{ status: number | 'timeout' | 'error'; json: Record<string, unknown> }>;

async function observe(
  call: Call,
  kube: KubeApiServer,
  fixtures: ScenarioFixture[],
  idByNs: Map<string, string>,
): Promise<MigrationObservation[]> {
  const out: MigrationObservation[] = [];
  for (const f of fixtures) {
    const id = idByNs.get(f.namespace);
    if (!id) continue;
    const r = await call('GET', `/v1/migrations/${id}`);
    const m = r.json.migration as { phase: string; weight: number; steps: number[] } | undefined;
    const vsPath = `/namespaces/${f.namespace}/virtualservices/${f.virtualService}`;
    out.push({
      id,
      namespace: f.namespace,
      steps: m?.steps ?? [],
      phase: m?.phase ?? `unreadable (${r.status})`,
      storeWeight: m?.weight ?? NaN,
      clusterWeight: clusterWeight(kube, f),
      clusterWrites: kube.requests
        .filter((q) => q.method === 'PATCH' && q.status < 300 && q.path.endsWith(vsPath))
        .map((q) => ({ at: q.at, weight: lastWeight(q.body) }))
        .filter((w): w is { at: number; weight: number } => w.weight !== undefined),
      history: (r.json.history as HistoryItem[] | undefined) ?? [],
    });
  }
  return out;
}

function lastWeight(body: unknown): number | undefined {
  const ops = Array.isArray(body) ? (body as Array<{ op?: string; value?: unknown }>) : [];
  const v = ops.filter((x) => x.op !== 'test').at(-1)?.value;
  if (typeof v === 'number') return v;
  const w = (v as { weight?: unknown } | undefined)?.weight;
  return typeof w === 'number' ? w : undefined;
}

function clusterWeight(kube: KubeApiServer, f: ScenarioFixture): number | undefined {
  const vs = kube.get({
    group: 'networking.istio.io',
    plural: 'virtualservices',
    namespace: f.namespace,
    name: f.virtualService,
  });
  const http = (
    vs?.spec as { http?: Array<{ route?: Array<{ destination?: { subset?: string }; weight?: number }> }> }
  )?.http;
  if (!http) return undefined;
  for (const r of http) {
    const routes = r.route ?? [];
    if (!routes.some((d) => d.destination?.subset === f.sourceSubset)) continue;
    const t = routes.find((d) => d.destination?.subset === f.targetSubset);
    return t ? (t.weight ?? (routes.length === 1 ? 100 : 0)) : 0;
  }
  return undefined;
}
