/**
 * Drivers parity (issue 9 item 6): the same scripted scenario through `meshshift run` and through
 * `meshshift serve` (API + two worker processes on real Redis) must give the same phase sequence, the same
 * weight writes at the Kubernetes API server and the same reasons (numbers normalised). Real Prometheus, the
 * in-repo Kubernetes API test server, the mesh simulator; the built CLI (npm run build first).
 *
 * Also pins the service-mode defect: a plan with `mtls.tightenAfterCompletion: true` must end with its
 * PeerAuthentication STRICT under `meshshift serve` as it does under `meshshift run`.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, inject, it } from 'vitest';
import { migrationPlanCrd } from '../../src/controller/crd-schema.js';
import { gatewayApiCrds } from '../../src/sim/gateway-api.js';
import { startKubeApiServer, type KubeApiServer, type KubeObject } from '../../src/sim/kube/index.js';
import { startRedis, type RedisServer } from '../../src/sim/redis.js';
import { driveWithRun, driveWithServe, startServeStack, type ServeStack } from './drivers.js';
import { startLane, type Lane } from './lane.js';
import { SCENARIOS, type ParityScenario } from './scenarios.js';
import { commandKinds, differences, phaseKinds, phaseTexts, reasonKind, type Trace } from './trace.js';

/** Scenarios played at once (each runs both drivers, so twice as many migrations and simulators). */
const PARALLEL = Number(process.env.PARITY_PARALLEL ?? 3);
const DRIVE_TIMEOUT_MS = 100_000;
const RPS = 200;

let kube: KubeApiServer;
let kubeconfig: string;
let redis: RedisServer;
let stack: ServeStack;
const shared = () => ({ url: inject('prometheusUrl'), sdDir: inject('prometheusSdDir') });

beforeAll(async () => {
  kube = await startKubeApiServer({ crds: [migrationPlanCrd() as KubeObject, ...gatewayApiCrds()] });
  kubeconfig = kube.writeKubeconfig(mkdtempSync(path.join(os.tmpdir(), 'meshshift-parity-kc-')));
  redis = await startRedis();
  stack = await startServeStack({
    redisUrl: redis.url,
    prefix: 'parity',
    kubeconfig,
    prometheusUrl: shared().url,
    workers: 2,
  });
}, 90_000);

afterAll(async () => {
  await stack?.close();
  await redis?.close();
  await kube?.close();
}, 60_000);

function limiter(n: number) {
  let active = 0;
  const queue: Array<() => void> = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((r) => queue.push(r));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      queue.shift()?.();
    }
  };
}
const slot = limiter(PARALLEL);

async function playRun(s: ParityScenario): Promise<Trace> {
  const lane = await newLane(s, 'r');
  try {
    return await driveWithRun(lane, s.script(), { kubeconfig, timeoutMs: DRIVE_TIMEOUT_MS });
  } finally {
    await lane.close();
  }
}

async function playServe(s: ParityScenario): Promise<Trace> {
  const lane = await newLane(s, 's');
  let own: ServeStack | undefined;
  try {
    // The script stops this lane's Prometheus: it gets workers of its own that query only that one.
    if (s.ownPrometheus)
      own = await startServeStack({
        redisUrl: redis.url,
        prefix: `parity-${lane.namespace}`,
        kubeconfig,
        prometheusUrl: lane.prometheusUrl,
        workers: 1,
      });
    return await driveWithServe(lane, s.script(), own ?? stack, { timeoutMs: DRIVE_TIMEOUT_MS });
  } finally {
    await own?.close();
    await lane.close();
  }
}

async function newLane(s: ParityScenario, driver: string): Promise<Lane> {
  const lane = await startLane(kube, {
    label: `${s.name.slice(0, 12)}-${driver}`,
    policy: s.policy,
    rps: RPS,
    prometheus: s.ownPrometheus ? 'own' : shared(),
    ...(s.k8s ? { k8s: s.k8s } : {}),
    ...(s.mtls ? { mtls: true } : {}),
    ...(s.httpRoute ? { httpRoute: true } : {}),
  });
  await lane.waitForTraffic();
  return lane;
}

const played = new Map<string, Promise<{ run: Trace; serve: Trace; ms: number }>>();
function play(s: ParityScenario) {
  let p = played.get(s.name);
  if (!p) {
    p = slot(async () => {
      const t0 = Date.now();
      const [run, serve] = await Promise.all([playRun(s), playServe(s)]);
      return { run, serve, ms: Date.now() - t0 };
    });
    played.set(s.name, p);
  }
  return p;
}

const describeTrace = (t: Trace) =>
  `${t.driver}: final ${t.final}${t.final === 'completed' ? '' : ` (${t.logTail.split('\n')[0]})`}, writes [${t.writes.join(',')}]\n  phases ${phaseKinds(t).join(' → ')}\n  commands ${commandKinds(t).join('; ') || '-'}\n  reasons ${phaseTexts(
    t,
  )
    .filter((x) => x.includes(':'))
    .join(' | ')}`;

describe.concurrent('the same script through meshshift run and meshshift serve', () => {
  it.for(SCENARIOS)(
    '$name: identical phases, weight writes and reasons',
    { timeout: 300_000 },
    async (s, { expect }) => {
      const { run, serve, ms } = await play(s);
      const diff = differences(run, serve);
      console.log(
        `[parity] ${s.name} (${(ms / 1000).toFixed(1)} s)\n${describeTrace(run)}\n${describeTrace(serve)}${diff.length ? `\n  DIFFERENT ${diff.join('\n  DIFFERENT ')}` : '\n  identical'}`,
      );
      for (const t of [run, serve]) {
        const ctx = `${t.driver} ${s.name}\n${t.logTail}`;
        expect.soft(t.final, ctx).toBe(s.expected.final);
        expect.soft(t.writes, ctx).toEqual(s.expected.writes);
      }
      expect.soft(serve.writes, 'weight writes').toEqual(run.writes);
      expect.soft(serve.reported, 'weights the driver reports').toEqual(run.reported);
      expect.soft(reasonKind(serve.finalReason), 'final reason').toBe(reasonKind(run.finalReason));
      expect.soft(phaseKinds(serve), 'phases and reason kinds').toEqual(phaseKinds(run));
      expect.soft(phaseTexts(serve), 'reason texts, numbers normalised').toEqual(phaseTexts(run));
      expect.soft(commandKinds(serve), 'commands').toEqual(commandKinds(run));
      expect.soft(serve.mtlsMode, 'PeerAuthentication mode').toBe(run.mtlsMode);
    },
  );

  const mtls = SCENARIOS.find((s) => s.name === 'mtls')!;
  it('meshshift run: a plan with mtls.tightenAfterCompletion completes and the PeerAuthentication ends STRICT', async ({
    expect,
  }) => {
    const { run } = await play(mtls);
    expect(run.final, run.logTail).toBe('completed');
    expect(run.phases.map((p) => p.phase)).toContain('securing');
    expect(run.mtlsMode).toBe('STRICT');
  }, 300_000);

  it('meshshift serve: a plan with mtls.tightenAfterCompletion completes and the PeerAuthentication ends STRICT', async ({
    expect,
  }) => {
    const { serve } = await play(mtls);
    expect(serve.final, serve.logTail).toBe('completed');
    expect(serve.mtlsMode, 'spec.mtls.tightenAfterCompletion was ignored in service mode').toBe('STRICT');
  }, 300_000);
});
