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
import { RedisMigrationStore, type HistoryEntry } from '../src/store/store.js';
import { seedMigrationScenario } from '../src/sim/istio-fixtures.js';
import type { ScenarioFixture } from '../src/sim/scenario-fixture.js';
import { startKubeApiServer } from '../src/sim/kube/index.js';
import { startPrometheus } from '../src/sim/prometheus.js';
import { startRedis } from '../src/sim/redis.js';
import { planYamlFor } from '../src/sim/scenario.js';
import { startIstioExporter } from './service/exporter.js';
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

interface Row {
  migrations: number;
  reachedShifting: number;
  secondsToAllShifting: number | null;
  windowSeconds: number;
  rssMaxMB: number;
  rssHwmMB: number;
  rssIdleMB: number;
  /** With --memory-limit: the cgroup's limit, Node's default heap limit inside it, its peak and OOM kills. */
  cgroup?: { limitMB: number; heapLimitMB: number; peakMB: number | null; oomKills: number | null };
  /** V8 heap in use at the window's end (the worker's own meshshift_process_nodejs_heap_size_used_bytes). */
  heapUsedMB: number;
  cpuPercentOneCore: number;
  machineCpuBusyPercent: number;
  promQueriesPerTickWorker: number;
  promQueriesPerTickServer: number;
  analysesPerSecond: number;
  expectedAnalysesPerSecond: number;
  verdictsPerMigrationMin: number;
  verdictsPerMigrationExpected: number;
  migrationsMissingATick: number;
  maxGapSeconds: number;
  maxLagSeconds: number;
  verdictOutcomes: Record<string, number>;
  phasesAtEnd: Record<string, number>;
  workerJobs: number;
  exporterSeries: number;
  note?: string;
}

async function fetchText(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return res.text();
}

async function runOne(n: number): Promise<Row> {
  log(`N=${n}: starting Redis, Kubernetes API test server, exporter, Prometheus`);
  const cleanups: Array<() => Promise<unknown>> = [];
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'meshshift-sbench-'));
  cleanups.push(() => rm(tmp, { recursive: true, force: true }));
  try {
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

    const prefix = 'bench';
    const cg =
      memoryLimit === undefined ? undefined : memoryCgroup(`meshshift-bench-${process.pid}`, memoryLimit);
    if (cg) cleanups.unshift(async () => cg.remove());
    const spawnWorker = () =>
      startWorkerChild(workerCmd, [
        '--redis',
        redis.url,
        '--prefix',
        prefix,
        '--kubeconfig',
        kubeconfig,
        '--prometheus',
        prom.url,
        '--log-level',
        'info',
        ...workerFlags,
      ]);
    const heapLimit = cg ? heapLimitIn(cg) : undefined;
    const worker = await (cg ? cg.around(spawnWorker) : spawnWorker());
    cleanups.unshift(() => worker.stop());
    await sleep(2000);
    const idle = procSample(worker.pid);

    // Submit through MigrationService, as POST /v1/migrations does (its own Redis connections, in this process).
    const redisConn = connectRedis(redis.url, 'bench-submit');
    cleanups.unshift(() => redisConn.quit().catch(() => undefined));
    const store = new RedisMigrationStore(redisConn, prefix);
    const queue = new MigrationQueue(redisOptions(redis.url), prefix);
    cleanups.unshift(() => queue.close().catch(() => undefined));
    const service = new MigrationService({ store, queue, logger: silentLogger, timeScale: 1 });
    const t0 = Date.now();
    for (let i = 0; i < n; i += 50)
      await Promise.all(
        fixtures.slice(i, i + 50).map((f) => service.submit(planYamlFor(f, POLICY), 'bench')),
      );
    log(`N=${n}: submitted in ${((Date.now() - t0) / 1000).toFixed(1)} s; waiting until all are shifting`);

    let phases: Record<string, number> = {};
    let allShiftingAt: number | undefined;
    let peakRss = idle.rssBytes;
    for (let lastLog = 0; Date.now() - t0 < readyTimeoutMs;) {
      phases = await store.countByPhase();
      peakRss = Math.max(peakRss, procSample(worker.pid).rssBytes);
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
    await sleep(intervalS * 1000 + 2000);

    // ── the measurement window ──
    const promMetricsUrl = `${prom.url}/metrics`;
    const queryFilter = /handler="\/api\/v1\/query"/;
    const w0 = {
      proc: procSample(worker.pid),
      machine: machineCpu(),
      worker: await fetchText(`${worker.url}/metrics`),
      prom: await fetchText(promMetricsUrl),
    };
    const samples: ProcSample[] = [w0.proc];
    const windowEnd = w0.proc.at + seconds * 1000;
    while (Date.now() < windowEnd) {
      await sleep(Math.min(1000, Math.max(0, windowEnd - Date.now())));
      samples.push(procSample(worker.pid));
    }
    const w1 = {
      proc: procSample(worker.pid),
      machine: machineCpu(),
      worker: await fetchText(`${worker.url}/metrics`),
      prom: await fetchText(promMetricsUrl),
    };
    samples.push(w1.proc);
    const span = (w1.proc.at - w0.proc.at) / 1000;
    const ticks = span / intervalS;
    const delta = (name: string, a: string, b: string, f?: RegExp) =>
      metricSum(b, name, f) - metricSum(a, name, f);

    // ── per-migration analysis cadence, from the histories ──
    const ids = await store.ids();
    let minVerdicts = Infinity;
    let maxGapMs = 0;
    let missing = 0;
    const outcomes: Record<string, number> = {};
    const expected = Math.floor(span / intervalS);
    for (let i = 0; i < ids.length; i += 100) {
      const hs = await Promise.all(
        ids.slice(i, i + 100).map(async (id) => expandRuns(await store.history(id))),
      );
      for (const h of hs) {
        const ats = h.filter((e) => e.type === 'verdict').map((e) => Number(e.at));
        let inWindow = 0;
        let prev: number | undefined;
        let migrationGap = 0;
        for (const e of h) {
          if (e.type !== 'verdict') continue;
          const at = Number(e.at);
          if (at >= w0.proc.at && at <= w1.proc.at) {
            inWindow++;
            const o = String((e as { outcome?: unknown }).outcome);
            outcomes[o] = (outcomes[o] ?? 0) + 1;
            if (prev !== undefined) migrationGap = Math.max(migrationGap, at - prev);
          }
          if (at <= w1.proc.at) prev = at;
        }
        // Time since the last verdict at the window's end also counts as a gap (a migration that stopped ticking).
        const lastAt = ats.filter((a) => a <= w1.proc.at).at(-1);
        migrationGap = Math.max(migrationGap, w1.proc.at - (lastAt ?? w0.proc.at));
        maxGapMs = Math.max(maxGapMs, migrationGap);
        minVerdicts = Math.min(minVerdicts, inWindow);
        if (migrationGap > 1.5 * intervalS * 1000) missing++;
      }
    }
    const phasesAtEnd = await store.countByPhase();
    const mb = (b: number) => Math.round((b / 1024 / 1024) * 10) / 10;
    const r1 = (x: number) => Math.round(x * 10) / 10;
    const row: Row = {
      migrations: n,
      reachedShifting: reached,
      secondsToAllShifting: allShiftingAt !== undefined ? r1((allShiftingAt - t0) / 1000) : null,
      windowSeconds: r1(span),
      rssMaxMB: mb(Math.max(...samples.map((s) => s.rssBytes))),
      rssHwmMB: mb(w1.proc.hwmBytes),
      rssIdleMB: mb(idle.rssBytes),
      ...(cg && heapLimit !== undefined
        ? {
            cgroup: {
              limitMB: mb(cg.limitBytes),
              heapLimitMB: mb(heapLimit),
              peakMB: ((p) => (p === null ? null : mb(p)))(cg.peakBytes()),
              oomKills: cg.oomKills(),
            },
          }
        : {}),
      heapUsedMB: mb(metricSum(w1.worker, 'meshshift_process_nodejs_heap_size_used_bytes')),
      cpuPercentOneCore: r1(((w1.proc.cpuSeconds - w0.proc.cpuSeconds) / span) * 100),
      machineCpuBusyPercent: r1(
        ((w1.machine.busy - w0.machine.busy) / (w1.machine.total - w0.machine.total)) * 100,
      ),
      promQueriesPerTickWorker: r1(
        delta('meshshift_prometheus_query_duration_seconds_count', w0.worker, w1.worker) / ticks,
      ),
      promQueriesPerTickServer: r1(
        delta('prometheus_http_requests_total', w0.prom, w1.prom, queryFilter) / ticks,
      ),
      analysesPerSecond: r1(delta('meshshift_verdicts_total', w0.worker, w1.worker) / span),
      expectedAnalysesPerSecond: r1(n / intervalS),
      verdictsPerMigrationMin: minVerdicts === Infinity ? 0 : minVerdicts,
      verdictsPerMigrationExpected: expected,
      migrationsMissingATick: missing,
      maxGapSeconds: r1(maxGapMs / 1000),
      maxLagSeconds: r1(Math.max(0, maxGapMs / 1000 - intervalS)),
      verdictOutcomes: outcomes,
      phasesAtEnd,
      workerJobs: delta('meshshift_worker_jobs_total', w0.worker, w1.worker),
      exporterSeries: exporter.series,
      ...(note ? { note } : {}),
    };
    void peakRss;
    log(`N=${n}: ${JSON.stringify(row)}`);
    return row;
  } finally {
    for (const c of cleanups) await c().catch(() => undefined);
  }
}

function table(rows: Row[]): string {
  const head = [
    'N',
    'shifting',
    'RSS max MB',
    'RSS idle MB',
    'RSS peak MB',
    'pod limit / heap limit / cgroup peak MB, OOM kills',
    'heap used MB',
    'CPU % 1 core',
    'machine busy %',
    'queries/tick (worker)',
    'queries/tick (prom)',
    'analyses/s (expected)',
    'min verdicts (exp.)',
    'missed a tick',
    'max lag s',
  ];
  const body = rows.map((r) => [
    String(r.migrations),
    `${r.reachedShifting}`,
    String(r.rssMaxMB),
    String(r.rssIdleMB),
    String(r.rssHwmMB),
    r.cgroup
      ? `${r.cgroup.limitMB} / ${r.cgroup.heapLimitMB} / ${r.cgroup.peakMB ?? '?'}, ${r.cgroup.oomKills ?? '?'}`
      : 'none',
    String(r.heapUsedMB),
    String(r.cpuPercentOneCore),
    String(r.machineCpuBusyPercent),
    String(r.promQueriesPerTickWorker),
    String(r.promQueriesPerTickServer),
    `${r.analysesPerSecond} (${r.expectedAnalysesPerSecond})`,
    `${r.verdictsPerMigrationMin} (${r.verdictsPerMigrationExpected})`,
    String(r.migrationsMissingATick),
    String(r.maxLagSeconds),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [fmt(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(fmt)].join('\n');
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

/**
 * History compacts a run of identical passing verdicts to its first and latest entry (the latest carries the
 * run's length): spread the run's verdicts evenly between the two again, so that counts are exact and a gap
 * inside a run shows as the run's average spacing.
 */
function expandRuns(h: HistoryEntry[]): HistoryEntry[] {
  const out: HistoryEntry[] = [];
  for (const e of h) {
    if (!e.run || e.run.length < 3) {
      out.push(e);
      continue;
    }
    const { length, since } = e.run;
    const step = (e.at - since) / (length - 1);
    for (let k = 1; k < length - 1; k++) out.push({ ...e, at: Math.round(since + k * step) });
    out.push(e);
  }
  return out;
}
