/** Starts the real `meshshift serve` CLI as a child process with any flags (API-only, Slack, HA Redis). */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, inject } from 'vitest';
import { startScenario, type Scenario } from '../../src/sim/scenario.js';
import {
  FAST_CADENCE_FLAGS,
  startServeChild,
  type ServeChild,
  type ServeExit,
} from '../harness/serve-child.js';
import { SERVICE_POLICY, tokensFile } from './helpers.js';

export interface ServeProcess extends Omit<ServeChild, 'stop'> {
  /** SIGTERM; resolves with the exit code and the time to exit (ms). SIGKILL after `killAfterMs` (40 s). */
  terminate(killAfterMs?: number): Promise<ServeExit>;
}

export async function startServeProcess(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ServeProcess> {
  const child = await startServeChild({
    cli: 'tsx',
    args,
    env,
    startTimeoutMs: 120_000, // tsx start-up is slow on a loaded 2-core machine
    keepStderr: 400_000,
  });
  return { ...child, terminate: (killAfterMs = 40_000) => child.stop(killAfterMs) };
}

export type Cleanups = Array<() => Promise<unknown>>;

/** Cleanups that run after each test of the calling file, last pushed first; a failing one does not stop the rest. */
export function cleanupsAfterEach(): Cleanups {
  const cleanups: Cleanups = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });
  return cleanups;
}

/** The shared Prometheus of the test run (started by the global setup). */
export const prom = () => ({ prometheusUrl: inject('prometheusUrl'), sdDir: inject('prometheusSdDir') });

/** A simulated cluster under SERVICE_POLICY with traffic flowing, and a kubeconfig file pointing at it. */
export async function scenarioWithKubeconfig(
  cleanups: Cleanups,
): Promise<{ s: Scenario; kubeconfig: string }> {
  const s = await startScenario({ metrics: prom(), policy: SERVICE_POLICY });
  cleanups.push(() => s.close());
  const kubeconfig = s.kube.writeKubeconfig(mkdtempSync(path.join(os.tmpdir(), 'meshshift-kc-')));
  await s.waitForTraffic();
  return { s, kubeconfig };
}

/**
 * `meshshift serve --role all` on the Redis named by `redisFlags`, with policy time compressed 20× and fast
 * ticks, locks and reconciles; terminated (SIGKILL after 5 s) by the cleanups.
 */
export async function startServeAll(
  cleanups: Cleanups,
  redisFlags: string[],
  prefix: string,
  kubeconfig: string,
  env: NodeJS.ProcessEnv = {},
): Promise<ServeProcess> {
  const p = await startServeProcess(
    [
      '--role',
      'all',
      ...redisFlags,
      '--prefix',
      prefix,
      '--kubeconfig',
      kubeconfig,
      '--prometheus',
      prom().prometheusUrl,
      '--tokens-file',
      tokensFile(),
      '--time-scale',
      '0.05',
      '--lock-ttl',
      '3s',
      ...FAST_CADENCE_FLAGS,
      '--log-level',
      'info',
    ],
    env,
  );
  cleanups.push(() => p.terminate(5000));
  return p;
}

/** Mean and 95 % confidence half-width (t-distribution, n ≤ 30 approximated) of a sample. */
export function meanCi(xs: number[]): { mean: number; ci: number; max: number; n: number } {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  const t = n >= 30 ? 1.96 : ([12.71, 4.3, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23][n - 2] ?? 2.09);
  return { mean, ci: (t * sd) / Math.sqrt(n), max: Math.max(...xs), n };
}
