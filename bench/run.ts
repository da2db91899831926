/**
 * `npm run bench`: the scenario matrix × policies × seeds on the e2e harness with ONE real Prometheus
 * (1 s scrape); every run gets its own namespace so series never mix. Prints a table, writes
 * bench/results/results-<date>.json and bench/results/chart-<date>.svg.
 *
 *   npm run bench -- --quick
 *   npm run bench -- --runs 3 --scenarios healthy,error-5x --policies default,flagger-defaults
 *   npm run bench -- --policies default,tuned=bench/candidates/default-tuned.yaml --scenarios error-5x
 *
 * Flags: --runs N (seeds per cell, default 2), --scenarios a,b, --policies x,y (names from policies/ or
 * label=path to an inline spec), --time-scale F (default 0.05), --parallel N (default 2; the metrics-outage
 * scenario always runs alone because it stops Prometheus), --chart-scenario S (default error-20x),
 * --seed-base N, --out DIR, --quick (1 run of healthy + error-20x with default and flagger-defaults).
 *
 * Re-print a table from a results file: node --import tsx bench/summarize.ts bench/results/results-….json
 * Candidate policies for tuning live in bench/candidates/ (inline specs, see their headers).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startPrometheus } from '../src/sim/prometheus.js';
import {
  DEFAULT_POLICIES,
  SCENARIOS,
  parsePolicyRef,
  scenarioByName,
  type PolicyRef,
  type RunRow,
  type ScenarioDef,
} from './matrix.js';
import { formatTable, renderSvg, summarize, targetChecks } from './report.js';
import { resolvePolicySpec, runOne, type BenchPrometheus } from './run-one.js';

export interface BenchOptions {
  runs: number;
  scenarios: ScenarioDef[];
  policies: PolicyRef[];
  timeScale: number;
  parallel: number;
  chartScenario: string;
  seedBase: number;
  outDir: string;
  log?: (line: string) => void;
}

export interface BenchResult {
  date: string;
  machine: { cpus: number; cpuModel: string; node: string; platform: string; loadavgAtStart: number[] };
  options: {
    runs: number;
    scenarios: string[];
    policies: string[];
    timeScale: number;
    parallel: number;
    seeds: number[];
  };
  wallMs: number;
  summary: ReturnType<typeof summarize>;
  checks: string[];
  runs: RunRow[];
}

interface Job {
  scenario: ScenarioDef;
  policy: PolicyRef;
  seed: number;
  timeline: boolean;
  estimateMs: number;
}

function estimateMs(policy: PolicyRef, timeScale: number): number {
  try {
    const spec = resolvePolicySpec(policy);
    return spec.steps.length * spec.stepDuration * timeScale;
  } catch {
    return 0;
  }
}

/** Every (scenario, policy, seed) of the run; the first seed of the chart scenario records its timeline. */
function planJobs(o: BenchOptions, seeds: number[]): Job[] {
  const jobs: Job[] = [];
  for (const scenario of o.scenarios)
    for (const policy of o.policies)
      for (const seed of seeds)
        jobs.push({
          scenario,
          policy,
          seed,
          timeline: scenario.name === o.chartScenario && seed === seeds[0],
          estimateMs: estimateMs(policy, o.timeScale),
        });
  return jobs;
}

/** Runs the jobs on `o.parallel` lanes, longest first; exclusive scenarios (the outage) alone at the end. */
async function runJobs(
  o: BenchOptions,
  prom: BenchPrometheus,
  jobs: Job[],
  log: (line: string) => void,
): Promise<RunRow[]> {
  const shared = jobs.filter((j) => !j.scenario.exclusive).sort((a, b) => b.estimateMs - a.estimateMs);
  const exclusive = jobs.filter((j) => j.scenario.exclusive);
  const rows: RunRow[] = [];
  const exec = async (j: Job) => {
    const t0 = Date.now();
    let row: RunRow;
    try {
      row = await runOne({
        scenario: j.scenario,
        policy: j.policy,
        seed: j.seed,
        timeScale: o.timeScale,
        prom,
        timeline: j.timeline,
      });
    } catch (err) {
      log(`! ${j.scenario.name} × ${j.policy.label} seed ${j.seed}: ${(err as Error).message}`);
      return;
    }
    rows.push(row);
    log(
      `[${rows.length}/${jobs.length}] ${j.scenario.name} × ${j.policy.label} seed ${j.seed}: ${row.outcome}` +
        `${row.detectionMs !== null ? ` after ${(row.detectionMs / 1000).toFixed(1)} s` : ''}, harmed ${row.harmed}, ` +
        `weights ${row.weights.join(',')} (${((Date.now() - t0) / 1000).toFixed(0)} s)${row.reason ? ` — ${row.reason}` : ''}`,
    );
    await writeFile(path.join(o.outDir, 'partial.json'), JSON.stringify(rows, null, 1)).catch(
      () => undefined,
    );
  };
  const queue = [...shared];
  const lanes = Array.from({ length: Math.max(1, o.parallel) }, async () => {
    for (let j = queue.shift(); j; j = queue.shift()) await exec(j);
  });
  await Promise.all(lanes);
  for (const j of exclusive) await exec(j);
  const order = (r: RunRow) =>
    SCENARIOS.findIndex((s) => s.name === r.scenario) * 1000 +
    o.policies.findIndex((p) => p.label === r.policy) * 100 +
    (r.seed - o.seedBase);
  return rows.sort((a, b) => order(a) - order(b));
}

export async function runBench(o: BenchOptions, prom: BenchPrometheus): Promise<BenchResult> {
  const log = o.log ?? ((l: string) => console.log(l));
  const seeds = Array.from({ length: o.runs }, (_, i) => o.seedBase + i);
  const started = Date.now();
  const rows = await runJobs(o, prom, planJobs(o, seeds), log);
  const summary = summarize(rows);
  const reference = o.policies.find((p) => p.label === 'flagger-defaults')?.label ?? 'flagger-defaults';
  const checks = o.policies
    .filter((p) => p.label !== reference)
    .flatMap((p) => targetChecks(summary, p.label, reference));
  const cpus = os.cpus();
  return {
    date: new Date(started).toISOString(),
    machine: {
      cpus: cpus.length,
      cpuModel: cpus[0]?.model ?? 'unknown',
      node: process.version,
      platform: `${os.type()} ${os.release()}`,
      loadavgAtStart: os.loadavg(),
    },
    options: {
      runs: o.runs,
      scenarios: o.scenarios.map((s) => s.name),
      policies: o.policies.map((p) => p.label),
      timeScale: o.timeScale,
      parallel: o.parallel,
      seeds,
    },
    wallMs: Date.now() - started,
    summary,
    checks,
    runs: rows,
  };
}

export async function writeResults(res: BenchResult, outDir: string): Promise<{ json: string; svg: string }> {
  await mkdir(outDir, { recursive: true });
  const stamp = res.date.replace(/[:.]/g, '-');
  const json = path.join(outDir, `results-${stamp}.json`);
  const svg = path.join(outDir, `chart-${stamp}.svg`);
  await writeFile(json, JSON.stringify(res, null, 1) + '\n');
  const charted = res.runs.filter((r) => r.timeline && r.timeline.length > 0);
  await writeFile(
    svg,
    renderSvg(
      charted,
      `meshshift bench ${res.date.slice(0, 10)} — ${charted[0]?.scenario ?? 'no charted run'}, time scale ${res.options.timeScale}`,
    ) + '\n',
  );
  return { json, svg };
}

function parseCli(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string' },
      scenarios: { type: 'string' },
      policies: { type: 'string' },
      'time-scale': { type: 'string' },
      parallel: { type: 'string' },
      'chart-scenario': { type: 'string' },
      'seed-base': { type: 'string' },
      out: { type: 'string' },
      quick: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  });
  if (values.help) {
    console.log(
      'usage: npm run bench -- [--quick] [--runs N] [--scenarios a,b] [--policies x,y|label=spec.yaml] ' +
        '[--time-scale F] [--parallel N] [--chart-scenario S] [--seed-base N] [--out DIR]\n' +
        `scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}`,
    );
    process.exit(0);
  }
  const num = (v: string | undefined, d: number, what: string) => {
    if (v === undefined) return d;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${what} must be a positive number, got ${v}`);
    return n;
  };
  const list = (v: string | undefined) =>
    v
      ?.split(',')
      .map((x) => x.trim())
      .filter(Boolean);
  const quick = values.quick === true;
  const scenarioNames =
    list(values.scenarios) ?? (quick ? ['healthy', 'error-20x'] : SCENARIOS.map((s) => s.name));
  const policyArgs =
    list(values.policies) ?? (quick ? ['default', 'flagger-defaults'] : [...DEFAULT_POLICIES]);
  return {
    runs: Math.round(num(values.runs, quick ? 1 : 2, 'runs')),
    scenarios: scenarioNames.map(scenarioByName),
    policies: policyArgs.map(parsePolicyRef),
    timeScale: num(values['time-scale'], 0.05, 'time-scale'),
    parallel: Math.round(num(values.parallel, 2, 'parallel')),
    chartScenario: values['chart-scenario'] ?? 'error-20x',
    seedBase: Math.round(num(values['seed-base'], 1001, 'seed-base')),
    outDir: path.resolve(values.out ?? 'bench/results'),
  };
}

async function main(): Promise<void> {
  const opts = parseCli(process.argv.slice(2));
  await mkdir(opts.outDir, { recursive: true });
  for (const p of opts.policies) resolvePolicySpec(p); // fail fast on a bad policy
  console.log(
    `meshshift bench: ${opts.scenarios.length} scenarios × ${opts.policies.length} policies × ${opts.runs} seeds, ` +
      `time scale ${opts.timeScale}, ${opts.parallel} in parallel, ${os.cpus().length} CPUs`,
  );
  const prom = await startPrometheus({ scrapeIntervalSeconds: 1 });
  let res: BenchResult;
  try {
    res = await runBench(opts, prom);
  } finally {
    await prom.close();
  }
  console.log('');
  console.log(formatTable(res.summary));
  console.log('');
  for (const c of res.checks) console.log(`  ${c}`);
  const files = await writeResults(res, opts.outDir);
  console.log(
    `\n${res.runs.length} runs in ${(res.wallMs / 60_000).toFixed(1)} min; wrote ${files.json} and ${files.svg}`,
  );
  console.log(
    'outcomes: C completed, R rolled back, P paused (recorded, then aborted by the bench), A aborted, F failed, T timeout',
  );
}

const isMain =
  import.meta.url === `file://${process.argv[1] ?? ''}` || process.argv[1]?.endsWith('bench/run.ts');
if (isMain) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err instanceof Error ? (err.stack ?? err.message) : err);
      process.exit(1);
    },
  );
}
