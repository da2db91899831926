/**
 * Service benchmark (issue 3): how many concurrent migrations ONE worker process drives with a real Prometheus
 * answering, at what CPU and RSS, and how many Prometheus queries it issues per analysis tick as migrations grow.
 *
 *   node --import tsx bench/service-bench.ts [--migrations 10,100,1000] [--seconds 60] [--interval 10]
 *        [--concurrency N] [--tick-align 1s] [--batch-window 50ms] [--ready-timeout 240] [--out bench/results]
 *        [--policy default|absolute-30m|NAME] [--node-arg=--cpu-prof …] [--memory-limit 512Mi]
 *        [--scrape-interval 1]
 *
 * For each N: a fresh real Redis, one Kubernetes API test server seeded with N scenarios (namespaces
 * bench-0000…), ONE synthetic Istio metrics exporter for all N services × {vm, k8s} (bench/service/exporter.ts),
 * a real Prometheus scraping it every --scrape-interval seconds (1 by default; Istio's sample Prometheus: 15),
 * and ONE `meshshift serve --role worker` CHILD process (so its CPU and RSS come cleanly from /proc/<pid>). This
 * process submits the N plans through MigrationService (as the API would), waits until all are `shifting`, lets
 * one interval pass, then measures over --seconds:
 *   - worker RSS (max of 1 s samples, and VmHWM) and CPU % of one core (/proc/<pid>/stat);
 *   - Prometheus queries per analysis interval, counted twice: by the worker
 *     (meshshift_prometheus_query_duration_seconds_count) and by Prometheus itself
 *     (prometheus_http_requests_total{handler="/api/v1/query"}, read from its /metrics so we add none);
 *   - analyses per second (meshshift_verdicts_total) and, from every migration's history, the verdicts each
 *     one got in the window and the largest gap between two consecutive verdicts (lag = gap − interval;
 *     "missed a tick" = migrations with a gap above 1.5 × interval). The effective cadence is interval + job
 *     time rounded up to --tick-align, so ~1 verdict fewer than window/interval is normal.
 * --memory-limit runs the worker in a memory cgroup with that hard limit, as its pod's limit would (root, Linux):
 * Node sizes its default heap from it (bench/service/cgroup.ts), so "Node's default flags" mean what they mean in
 * a pod; the row then gives the limit, the heap limit Node chose inside it, the cgroup's peak and OOM kills.
 * The worker runs compiled JavaScript (dist/ if fresh, else a tsc build in a temp dir; --tsx for the sources).
 * The policy is `policies/default.yaml` (the judge users get: the sequential method, whose evidence each
 * migration keeps in memory) unless --policy names another; `absolute-30m` is the old window-method policy
 * with 30-minute steps. Default's first step lasts 3 minutes, so migrations stay at 1 % while measured.
 * Prints a table and writes bench/results/service-<date>.json.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { silentLogger } from '../src/log/logger.js';
import { connectRedis, MigrationQueue, redisOptions } from '../src/worker/queue.js';
import { MigrationService } from '../src/service/service.js';
import { RedisMigrationStore } from '../src/store/store.js';
import { seedMigrationScenario } from '../src/sim/istio-fixtures.js';
import type { ScenarioFixture } from '../src/sim/scenario-fixture.js';
import { startKubeApiServer } from '../src/sim/kube/index.js';
import { startPrometheus } from '../src/sim/prometheus.js';
import { startRedis } from '../src/sim/redis.js';
import { planYamlFor } from '../src/sim/scenario.js';
import { startIstioExporter } from './service/exporter.js';
import { verdictCadence } from './service/cadence.js';
import { table, type Row } from './service/row.js';
import { memoryCgroup, parseMemoryLimit, type MemoryCgroup } from './service/cgroup.js';
import {
  machineCpu,
  metricSum,
  procSample,
  startWorkerChild,
  workerEntry,
  type ProcSample,
} from './service/proc.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PREFIX = 'bench';
const log = (s: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${s}\n`);

const { values: argv } = parseArgs({
  options: {
    migrations: { type: 'string', default: '10,100,1000' },
    seconds: { type: 'string', default: '60' },
    interval: { type: 'string', default: '10' },
    concurrency: { type: 'string' },
    'tick-align': { type: 'string' },
    'batch-window': { type: 'string' },
    'ready-timeout': { type: 'string', default: '240' },
    out: { type: 'string', default: path.join(root, 'bench/results') },
    tsx: { type: 'boolean', default: false },
    policy: { type: 'string', default: 'default' },
    'node-arg': { type: 'string', multiple: true, default: [] },
    'memory-limit': { type: 'string' },
    'scrape-interval': { type: 'string', default: '1' },
  },
});
const sizes = argv.migrations.split(',').map((s) => Number(s.trim()));
const seconds = Number(argv.seconds);
const intervalS = Number(argv.interval);
const readyTimeoutMs = Number(argv['ready-timeout']) * 1000;
const scrapeS = Number(argv['scrape-interval']);
if (!(Number.isInteger(scrapeS) && scrapeS >= 1))
  throw new Error('--scrape-interval: whole seconds ≥ 1, e.g. 15');
const memoryLimit = argv['memory-limit'] === undefined ? undefined : parseMemoryLimit(argv['memory-limit']);
if (sizes.some((n) => !Number.isInteger(n) || n < 1) || !(seconds > 0) || !(intervalS > 0))
  throw new Error('usage: --migrations 10,100,1000 --seconds 60 --interval 10');
const workerFlags = [
  ...(argv.concurrency ? ['--concurrency', argv.concurrency] : []),
  ...(argv['tick-align'] ? ['--tick-align', argv['tick-align']] : []),
  ...(argv['batch-window'] ? ['--batch-window', argv['batch-window']] : []),
];

/** Absolute SLOs only, healthy synthetic traffic: every analysis passes; 30 min steps keep all N shifting. */
const ABSOLUTE_30M = `
steps: [1, 5, 10, 25, 50, 100]
stepDuration: 30m
analysis:
  interval: ${intervalS}s
  window: 1m
  minRequests: 50
  minPassesPerStep: 2
  inconclusiveLimit: 1000
slo:
  errorRate:
    max: 0.01
  latency:
    p99:
      maxMs: 500
`;
const POLICY = argv.policy === 'absolute-30m' ? ABSOLUTE_30M : argv.policy;

async function fetchText(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return res.text();
}

type Cleanups = Array<() => Promise<unknown>>;

/** Redis, the Kubernetes API test server seeded with N scenarios, the exporter, Prometheus and the worker child. */
async function startWorld(n: number, tmp: string, cleanups: Cleanups) {
  const redis = await startRedis();
  cleanups.unshift(() => redis.close());
  const kube = await startKubeApiServer();
  cleanups.unshift(() => kube.close());
  const fixtures: ScenarioFixture[] = [];
  for (let i = 0; i < n; i++)
    fixtures.push(seedMigrationScenario(kube, { namespace: `bench-${String(i).padStart(4, '0')}` }));
  const kubeconfig = kube.writeKubeconfig(tmp);
  const exporter = await startIstioExporter(fixtures.map((f) => f.host));
  cleanups.unshift(() => exporter.close());
  const prom = await startPrometheus({ scrapeIntervalSeconds: scrapeS });
  cleanups.unshift(() => prom.close());
  await prom.addTarget('istio-bench', exporter.target);
  const last = fixtures[fixtures.length - 1]!.host;
  await prom.waitForSeries(
    `sum(increase(istio_requests_total{destination_service="${last}",destination_version="vm"}[${Math.max(10, 3 * scrapeS)}s])) > 0`,
    60_000,
  );
  log(`N=${n}: Prometheus scrapes ${exporter.series} series; starting the worker child`);
  const cg =
    memoryLimit === undefined ? undefined : memoryCgroup(`meshshift-bench-${process.pid}`, memoryLimit);
  if (cg) cleanups.unshift(async () => cg.remove());
  const spawnWorker = () =>
    startWorkerChild(workerCmd, [
      ...['--redis', redis.url, '--prefix', PREFIX, '--kubeconfig', kubeconfig],
      ...['--prometheus', prom.url, '--log-level', 'info', ...workerFlags],
    ]);
  const heapLimit = cg ? heapLimitIn(cg) : undefined;
  const worker = await (cg ? cg.around(spawnWorker) : spawnWorker());
  cleanups.unshift(() => worker.stop());
  return { redis, fixtures, exporter, prom, cg, heapLimit, worker };
}
type World = Awaited<ReturnType<typeof startWorld>>;

/** Submits the N plans through MigrationService, as POST /v1/migrations does, and waits until all are shifting. */
async function submitAll(n: number, w: World, cleanups: Cleanups) {
  const redisConn = connectRedis(w.redis.url, 'bench-submit');
  cleanups.unshift(() => redisConn.quit().catch(() => undefined));
  const store = new RedisMigrationStore(redisConn, PREFIX);
  const queue = new MigrationQueue(redisOptions(w.redis.url), PREFIX);
  cleanups.unshift(() => queue.close().catch(() => undefined));
  const service = new MigrationService({ store, queue, logger: silentLogger, timeScale: 1 });
  const t0 = Date.now();
  for (let i = 0; i < n; i += 50)
    await Promise.all(
      w.fixtures.slice(i, i + 50).map((f) => service.submit(planYamlFor(f, POLICY), 'bench')),
    );
  log(`N=${n}: submitted in ${((Date.now() - t0) / 1000).toFixed(1)} s; waiting until all are shifting`);
  let phases: Record<string, number> = {};
  let allShiftingAt: number | undefined;
  for (let lastLog = 0; Date.now() - t0 < readyTimeoutMs;) {
    phases = await store.countByPhase();
    if ((phases.shifting ?? 0) >= n) {
      allShiftingAt = Date.now();
      break;
    }
    if (Date.now() - lastLog > 10_000) {
      lastLog = Date.now();
      log(`N=${n}:   phases ${JSON.stringify(phases)}`);
    }
    await sleep(1000);
  }
  const reached = phases.shifting ?? 0;
  let note: string | undefined;
  if (allShiftingAt === undefined) {
    note = `only ${reached}/${n} shifting after ${readyTimeoutMs / 1000} s (${JSON.stringify(phases)}); measured anyway`;
    log(`N=${n}: ${note}`);
  } else
    log(`N=${n}: all shifting after ${((allShiftingAt - t0) / 1000).toFixed(1)} s; warm-up one interval`);
  return { store, t0, allShiftingAt, reached, note };
}

/** The worker's process, the machine's CPU, and both /metrics pages at one instant. */
async function snapshot(w: World) {
  return {
    proc: procSample(w.worker.pid),
    machine: machineCpu(),
    worker: await fetchText(`${w.worker.url}/metrics`),
    prom: await fetchText(`${w.prom.url}/metrics`),
  };
}

/** The measurement window: snapshots at both ends and the worker's RSS every second between. */
async function measureWindow(w: World) {
  const w0 = await snapshot(w);
  const samples: ProcSample[] = [w0.proc];
  const windowEnd = w0.proc.at + seconds * 1000;
  while (Date.now() < windowEnd) {
    await sleep(Math.min(1000, Math.max(0, windowEnd - Date.now())));
    samples.push(procSample(w.worker.pid));
  }
  const w1 = await snapshot(w);
  samples.push(w1.proc);
  return { w0, w1, samples };
}

/** Bytes in MiB (2^20; the row fields named MB have always held MiB). */
const mb = (b: number) => Math.round((b / 1024 / 1024) * 10) / 10;
const r1 = (x: number) => Math.round(x * 10) / 10;

/** With --memory-limit: the pod's limit, Node's heap limit inside it, the cgroup's peak and OOM kills. */
function cgroupCells(w: World): Pick<Row, 'cgroup'> {
  const { cg, heapLimit } = w;
  if (!cg || heapLimit === undefined) return {};
  const peak = cg.peakBytes();
  return {
    cgroup: {
      limitMB: mb(cg.limitBytes),
      heapLimitMB: mb(heapLimit),
      peakMB: peak === null ? null : mb(peak),
      oomKills: cg.oomKills(),
    },
  };
}

async function runOne(n: number): Promise<Row> {
  log(`N=${n}: starting Redis, Kubernetes API test server, exporter, Prometheus`);
  const cleanups: Cleanups = [];
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'meshshift-sbench-'));
  cleanups.push(() => rm(tmp, { recursive: true, force: true }));
  try {
    const w = await startWorld(n, tmp, cleanups);
    await sleep(2000);
    const idle = procSample(w.worker.pid);
    const sub = await submitAll(n, w, cleanups);
    await sleep(intervalS * 1000 + 2000);
    const { w0, w1, samples } = await measureWindow(w);
    const span = (w1.proc.at - w0.proc.at) / 1000;
    const ticks = span / intervalS;
    const delta = (name: string, a: string, b: string, f?: RegExp) =>
      metricSum(b, name, f) - metricSum(a, name, f);
    const c = await verdictCadence(sub.store, w0.proc.at, w1.proc.at, intervalS);
    const row: Row = {
      migrations: n,
      reachedShifting: sub.reached,
      secondsToAllShifting: sub.allShiftingAt !== undefined ? r1((sub.allShiftingAt - sub.t0) / 1000) : null,
      windowSeconds: r1(span),
      rssMaxMB: mb(Math.max(...samples.map((s) => s.rssBytes))),
      rssHwmMB: mb(w1.proc.hwmBytes),
      rssIdleMB: mb(idle.rssBytes),
      ...cgroupCells(w),
      heapUsedMB: mb(metricSum(w1.worker, 'meshshift_process_nodejs_heap_size_used_bytes')),
      cpuPercentOneCore: r1(((w1.proc.cpuSeconds - w0.proc.cpuSeconds) / span) * 100),
      machineCpuBusyPercent: r1(
        ((w1.machine.busy - w0.machine.busy) / (w1.machine.total - w0.machine.total)) * 100,
      ),
      promQueriesPerTickWorker: r1(
        delta('meshshift_prometheus_query_duration_seconds_count', w0.worker, w1.worker) / ticks,
      ),
      promQueriesPerTickServer: r1(
        delta('prometheus_http_requests_total', w0.prom, w1.prom, /handler="\/api\/v1\/query"/) / ticks,
      ),
      analysesPerSecond: r1(delta('meshshift_verdicts_total', w0.worker, w1.worker) / span),
      expectedAnalysesPerSecond: r1(n / intervalS),
      verdictsPerMigrationMin: c.minVerdicts === Infinity ? 0 : c.minVerdicts,
      verdictsPerMigrationExpected: Math.floor(span / intervalS),
      migrationsMissingATick: c.missing,
      maxGapSeconds: r1(c.maxGapMs / 1000),
      maxLagSeconds: r1(Math.max(0, c.maxGapMs / 1000 - intervalS)),
      verdictOutcomes: c.outcomes,
      phasesAtEnd: await sub.store.countByPhase(),
      workerJobs: delta('meshshift_worker_jobs_total', w0.worker, w1.worker),
      exporterSeries: w.exporter.series,
      ...(sub.note ? { note: sub.note } : {}),
    };
    log(`N=${n}: ${JSON.stringify(row)}`);
    return row;
  } finally {
    for (const c of cleanups) await c().catch(() => undefined);
  }
}

/** The heap limit Node gives a process with default flags inside the cgroup (a probe spawned there). */
function heapLimitIn(cg: MemoryCgroup): number {
  const out = cg.around(() =>
    execFileSync(process.execPath, ['-p', 'require("v8").getHeapStatistics().heap_size_limit'], {
      encoding: 'utf8',
    }),
  );
  return Number(out.trim());
}

const started = new Date();
const built = workerEntry(root, argv.tsx);
// --node-arg: Node flags for the worker only (e.g. --cpu-prof, which NODE_OPTIONS does not allow).
const workerCmd = { ...built, args: [...argv['node-arg'], ...built.args] };
const { entry } = workerCmd;
log(`worker entry: ${entry}; sizes ${sizes.join(', ')}; window ${seconds} s; interval ${intervalS} s`);
const rows: Row[] = [];
const errors: Array<{ migrations: number; error: string }> = [];
for (const n of sizes) {
  try {
    rows.push(await runOne(n));
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    log(`N=${n}: FAILED: ${msg}`);
    errors.push({ migrations: n, error: msg });
  }
}
const result = {
  date: started.toISOString(),
  machine: {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memGB: Math.round(os.totalmem() / 1024 ** 3),
    node: process.version,
    loadavgAtStart: os.loadavg(),
  },
  options: {
    migrations: sizes,
    seconds,
    intervalSeconds: intervalS,
    workerEntry: entry,
    workerFlags,
    scrapeIntervalSeconds: scrapeS,
    ...(memoryLimit !== undefined ? { memoryLimitBytes: memoryLimit } : {}),
    policy: POLICY.trim(),
  },
  rows,
  errors,
};
await mkdir(argv.out, { recursive: true });
const file = path.join(argv.out, `service-${started.toISOString().replace(/[:.]/g, '-')}.json`);
await writeFile(file, JSON.stringify(result, null, 2) + '\n');
process.stdout.write(
  `\nmeshshift service benchmark, ${result.date}, ${result.machine.cpus} CPUs (${result.machine.cpuModel})\n`,
);
process.stdout.write(`${table(rows)}\n`);
if (errors.length) process.stdout.write(`errors: ${JSON.stringify(errors)}\n`);
process.stdout.write(`results: ${path.relative(process.cwd(), file)}\n`);
process.exit(errors.length ? 1 : 0);
