/** Shared wiring for the service tests: real Redis, real Prometheus, the Kubernetes API test server, workers. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { FAST_CADENCE_FLAGS, startServeChild, type ServeChild } from '../harness/serve-child.js';
import path from 'node:path';
import { startService, type RunningService, type ServeOptions } from '../../src/serve/start.js';
import { FileTokenStore } from '../../src/auth/tokens.js';
import { silentLogger } from '../../src/log/logger.js';
import type { HistoryEntry } from '../../src/store/store.js';
import type { Clock } from '../../src/engine/clock.js';

/**
 * The service tests judge the service (jobs, locks, history), not the gate: an inline policy with the default's
 * steps and timing but only absolute SLOs, so CPU contention on a 2-core CI box cannot fail a healthy run.
 */
export const SERVICE_POLICY = `
steps: [1, 5, 10, 25, 50, 100]
stepDuration: 2m
analysis:
  interval: 10s
  window: 1m
  minRequests: 50
  minPassesPerStep: 2
  inconclusiveLimit: 6
slo:
  errorRate:
    max: 0.01
  latency:
    p99:
      maxMs: 500
`;

export const TOKEN = 'test-token-0123456789abcdef';
export const OTHER_TOKEN = 'other-token-0123456789abcdef';

export function tokensFile(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshshift-tokens-'));
  const f = path.join(dir, 'tokens');
  writeFileSync(f, `# test tokens\nalice:${TOKEN}\nbob:${OTHER_TOKEN}\n`);
  return f;
}

export function serveOptions(
  redisUrl: string,
  prefix: string,
  extra: Partial<ServeOptions> = {},
): ServeOptions {
  return {
    role: 'api',
    redis: redisUrl,
    prefix,
    host: '127.0.0.1',
    port: 0,
    concurrency: 20,
    lockTtlMs: 3000,
    maxPerNamespace: 0,
    maxConcurrent: 0,
    timeScale: 0.05,
    tickAlignMs: 100,
    batchWindowMs: 20,
    reconcileEveryMs: 2000,
    logLevel: 'warn',
    // The API's 2 s answer budget is tested with child processes (redis-down.test.ts); in-process tests share
    // their CPU with everything else and get more room.
    requestTimeoutMs: 10_000,
    ...extra,
  };
}

export async function startApi(
  redisUrl: string,
  prefix: string,
  extra: Partial<ServeOptions> = {},
  deps: { clock?: Clock } = {},
): Promise<RunningService> {
  return startService(serveOptions(redisUrl, prefix, extra), {
    logger: silentLogger,
    tokens: new FileTokenStore(tokensFile()),
    ...deps,
  });
}

export interface WorkerProcess extends Omit<ServeChild, 'stop'> {
  /** SIGTERM (SIGKILL after 15 s) and wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `meshshift serve --role worker` as a child process (real CLI, real Redis/Kubernetes/Prometheus). */
export async function startWorkerProcess(args: {
  redisUrl: string;
  prefix: string;
  kubeconfig: string;
  prometheusUrl: string;
  lockTtl?: string;
  extra?: string[];
}): Promise<WorkerProcess> {
  const child = await startServeChild({
    cli: 'tsx',
    args: [
      '--role',
      'worker',
      '--redis',
      args.redisUrl,
      '--prefix',
      args.prefix,
      '--kubeconfig',
      args.kubeconfig,
      '--prometheus',
      args.prometheusUrl,
      '--lock-ttl',
      args.lockTtl ?? '3s',
      ...FAST_CADENCE_FLAGS,
      '--log-level',
      'info',
      ...(args.extra ?? []),
    ],
    startTimeoutMs: 120_000, // tsx start-up is slow on a loaded 2-core machine
  });
  return { ...child, stop: async () => (await child.stop(15_000)).code };
}

export async function http(
  base: string,
  method: string,
  p: string,
  opts: { token?: string; body?: string; type?: string } = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${base}${p}`, {
    method,
    headers: {
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...(opts.body !== undefined ? { 'content-type': opts.type ?? 'application/yaml' } : {}),
    },
    ...(opts.body !== undefined ? { body: opts.body } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

export interface MigrationState {
  migration: { id: string; phase: string; weight: number; reason?: string; seq: number };
  history: HistoryEntry[];
}

export async function getMigration(base: string, id: string): Promise<MigrationState> {
  const r = await http(base, 'GET', `/v1/migrations/${id}`);
  if (r.status !== 200) throw new Error(`GET ${id}: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json as unknown as MigrationState;
}

export async function waitFor(
  base: string,
  id: string,
  pred: (s: MigrationState) => boolean,
  timeoutMs = 90_000,
): Promise<MigrationState> {
  const deadline = Date.now() + timeoutMs;
  let last: MigrationState | undefined;
  while (Date.now() < deadline) {
    try {
      last = await getMigration(base, id);
    } catch (err) {
      // 503: the API's Redis connection is reconnecting (it fails fast instead of hanging): ask again.
      if (!/: 503 /.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    if (pred(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `timed out; last state ${JSON.stringify(last?.migration)}; history tail ${JSON.stringify(last?.history.slice(-8))}`,
  );
}

export const TERMINAL = ['completed', 'rolledBack', 'aborted', 'failed'];

/** Target weights meshshift reports writing (not rollbacks), in history order. */
export function historyWeights(h: HistoryEntry[]): number[] {
  return h.flatMap((e) => (e.type === 'weight' && !e.rollback ? [e.weight] : []));
}

export async function workerJobs(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = /meshshift_worker_jobs_total\{outcome="committed"\} (\d+)/.exec(text);
  return m ? Number(m[1]) : 0;
}
