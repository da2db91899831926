/**
 * npm run bench:decisions — closed-loop decisions benchmark in virtual time on a real Prometheus.
 *
 *   --quick                 a few cells, one seed each (runs inside npm test)
 *   --seeds N               seeds per scenario × policy (default 20)
 *   --healthy-seeds N       seeds for the default policy on the healthy family (default 400: a 95 % Wilson
 *                           upper bound ≤ 1 % needs ≥ 381 clean runs)
 *   --scenarios a,b         --policies a,b     --concurrency N (lanes, one Prometheus each; default 3)
 *   --policy-seeds p=N,…    seeds for some policies (e.g. cautious=2: its migrations are 45 minutes long)
 *   --out DIR               results.json, summary.md and charts/<scenario>.svg (default bench/decisions/results)
 *   --merge DIR,DIR         no runs: one report (into --out) from the results.json of earlier runs; a later
 *                           DIR replaces the runs it repeats (scenario, policy, seed) and adds the rest
 *   --from-seed N           first seed (default 1): add seeds to an earlier run, then --merge
 *   --routes a,b            virtualservice (Istio VirtualService, sidecars) and/or httproute-ambient (Gateway API
 *                           HTTPRoute in ambient mode, waypoint metrics; the default policy only, labelled
 *                           "default @httproute"). Default: both with --quick, virtualservice otherwise
 *
 * Harm (per run): the expected excess bad requests (errors, or > 100 ms, beyond the VMs' rates) the regressed
 * containers serve within 2 h of the migration's start, the same window for every policy: the weights served
 * while the run lasts, then its final state until the horizon (a promoted bad build keeps serving 100 %, a
 * rolled-back one 0 %, a paused one its last weight). See harm.ts. The harm ratio is n/a where flagger-defaults
 * harms less than one expected request on the same seeds.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runPlan, type PlannedRun } from './lanes.js';
import { renderSvg } from './chart.js';
import { formatTable, summarize, targetChecks } from './report.js';
import { formatVille } from './ville.js';
import { BENCH_ROUTES, routePolicyLabel, type BenchRoute, type RunRow } from './results.js';
import { SCENARIOS, scenarioByName } from './scenarios.js';

const POLICIES = ['default', 'cautious', 'flagger-defaults', 'argo-defaults'];

interface Args {
  quick: boolean;
  seeds: number;
  healthySeeds: number;
  scenarios: string[];
  policies: string[];
  concurrency: number;
  out: string;
  /** Seeds per policy where it differs from `seeds` (e.g. fewer for the slow cautious policy). */
  policySeeds: Record<string, number>;
  /** First seed: a later run adds seeds to an earlier one (then --merge). */
  fromSeed: number;
  routes: BenchRoute[];
}

/** A bad flag: said in one line, exit 1. */
class UsageError extends Error {}

/** A flag's value as a whole number ≥ `min`. */
function count(name: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new UsageError(`${name} must be a whole number ≥ ${min}, got "${value}"`);
  return n;
}

function routes(value: string[]): BenchRoute[] {
  for (const r of value)
    if (!BENCH_ROUTES.includes(r as BenchRoute))
      throw new UsageError(`--routes: "${r}" is not one of ${BENCH_ROUTES.join(', ')}`);
  return value as BenchRoute[];
}

function parseArgs(argv: string[]): Args {
  const get = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const quick = argv.includes('--quick');
  const list = (name: string, def: string[]) => get(name)?.split(',').filter(Boolean) ?? def;
  return {
    quick,
    seeds: Number(get('--seeds') ?? (quick ? 1 : 20)),
    healthySeeds: Number(get('--healthy-seeds') ?? (quick ? 1 : 400)),
    fromSeed: count('--from-seed', get('--from-seed'), 1, 1),
    scenarios: list(
      '--scenarios',
      quick ? ['healthy', 'errors-20x', 'errors-2x'] : SCENARIOS.map((s) => s.name),
    ),
    policies: list('--policies', quick ? ['default', 'flagger-defaults'] : POLICIES),
    concurrency: Number(get('--concurrency') ?? (quick ? 2 : 3)),
    routes: routes(list('--routes', quick ? [...BENCH_ROUTES] : ['virtualservice'])),
    out: path.resolve(get('--out') ?? 'bench/decisions/results'),
    policySeeds: Object.fromEntries(
      list('--policy-seeds', []).map((x) => {
        const [name, n] = x.split('=');
        return [name!, Number(n)];
      }),
    ),
  };
}

export function planRuns(a: Args): PlannedRun[] {
  const runs: PlannedRun[] = [];
  for (const route of a.routes) {
    const vs = route === 'virtualservice';
    // The HTTPRoute lane checks the same engine on the other route kind: the default policy, the usual seeds.
    const policies = vs ? a.policies : a.policies.filter((p) => p === 'default');
    for (const name of a.scenarios) {
      const scenario = scenarioByName(name);
      for (const policy of policies) {
        const seeds = a.policySeeds[policy] ?? a.seeds;
        const n =
          vs && policy === 'default' && scenario.family === 'healthy'
            ? Math.max(seeds, a.healthySeeds)
            : seeds;
        const label = routePolicyLabel(policy, route);
        for (let seed = a.fromSeed; seed < a.fromSeed + n; seed++)
          runs.push({ scenario, policy: { label, policy }, seed, ...(vs ? {} : { route }) });
      }
    }
  }
  return runs;
}

/** The weight timeline reduced to its corners (a step line needs only the points where the weight changes). */
export function corners(timeline: RunRow['timeline']): RunRow['timeline'] {
  return timeline.filter(
    (p, i) =>
      i === 0 ||
      i === timeline.length - 1 ||
      p.weight !== timeline[i - 1]!.weight ||
      p.weight !== timeline[i + 1]!.weight,
  );
}

/** Runs per policy a chart shows. */
const CHART_SEEDS = 40;

/**
 * The runs the charts draw: the CHART_SEEDS lowest seeds of each scenario × policy, whatever seed the run started
 * from (held-out runs start at 7001 and up; a fixed "seed ≤ 40" drew them empty).
 */
export function chartedRuns(rows: readonly RunRow[]): Set<RunRow> {
  const cells = new Map<string, RunRow[]>();
  for (const r of rows) {
    const key = `${r.scenario}\u0000${r.policy}`;
    const cell = cells.get(key) ?? [];
    cell.push(r);
    cells.set(key, cell);
  }
  return new Set(
    [...cells.values()].flatMap((c) => [...c].sort((a, b) => a.seed - b.seed).slice(0, CHART_SEEDS)),
  );
}

/** A run as results.json keeps it (the charts' runs with their timeline, the rest without). */
function compactRun(r: RunRow, charted: boolean): RunRow {
  return {
    ...r,
    // A healthy run that did not complete is a failure to diagnose: it keeps the verdict's power note and
    // burstiness; the many rollbacks of regression cells keep their first line.
    reason: r.outcome === 'completed' ? '' : r.reason.slice(0, r.family === 'healthy' ? 800 : 240),
    timeline: charted ? corners(r.timeline) : [],
  };
}

interface ReportMeta {
  title: string;
  wallMs: number;
  args: unknown;
}

function writeReport(rows: readonly RunRow[], out: string, meta: ReportMeta): void {
  const cells = summarize(rows);
  const table = formatTable(cells);
  const targets = targetChecks(cells);
  mkdirSync(path.join(out, 'charts'), { recursive: true });
  // A chart shows the first CHART_SEEDS runs per policy: enough to see the spread.
  const charted = chartedRuns(rows);
  for (const name of [...new Set(rows.map((r) => r.scenario))]) {
    const shown = rows
      .filter((r) => r.scenario === name && charted.has(r))
      .sort((a, b) => a.policy.localeCompare(b.policy));
    writeFileSync(path.join(out, 'charts', `${name}.svg`), renderSvg(shown, name));
  }
  writeFileSync(
    path.join(out, 'results.json'),
    // Summary fields indented; one line per run (thousands of them), a completed run's reason (always the last
    // passing verdict) left out: the file stays small enough to keep in the repository.
    JSON.stringify(
      { generatedAt: new Date().toISOString(), args: meta.args, wallMs: meta.wallMs, cells, targets },
      null,
      1,
    ).replace(/\n}$/, ',\n "runs": [\n') +
      rows.map((r) => JSON.stringify(compactRun(r, charted.has(r)))).join(',\n') +
      '\n ]\n}\n',
  );
  const md = [
    `# Decisions benchmark (${meta.title}, ${rows.length} runs, ${Math.round(meta.wallMs / 1000)} s wall)`,
    '',
    '```',
    table,
    '```',
    '',
    '## Targets (default policy)',
    '',
    ...targets.map((t) => `- ${t.met === null ? 'n/a' : t.met ? '[x]' : '[ ]'} ${t.target}: ${t.figure}`),
    '',
    formatVille(rows),
  ].join('\n');
  writeFileSync(path.join(out, 'summary.md'), md);
  console.log(md);
  console.log(`results in ${out}`);
}

/** `--merge a,b`: one report from the results.json of several runs (e.g. the healthy family run apart). */
function merge(dirs: string[], out: string): void {
  const sets = dirs.map((d) => {
    const file = path.join(d, 'results.json');
    if (!existsSync(file))
      throw new UsageError(`--merge: ${file} does not exist (write it with --out ${d} first)`);
    const set = JSON.parse(readFileSync(file, 'utf8')) as { args: unknown; wallMs?: number; runs?: RunRow[] };
    if (!Array.isArray(set.runs)) throw new UsageError(`--merge: ${file} has no "runs" (not a results file)`);
    return { ...set, runs: set.runs };
  });
  // A later set replaces the runs it repeats (same scenario, policy and seed) and adds the others.
  const byRun = new Map<string, RunRow>();
  for (const set of sets) for (const r of set.runs) byRun.set(`${r.scenario}|${r.policy}|${r.seed}`, r);
  const rows = [...byRun.values()];
  const wallMs = sets.reduce((sum, s) => sum + (s.wallMs ?? 0), 0);
  writeReport(rows, out, {
    title: `full run, merged from ${dirs.length} result sets`,
    wallMs,
    args: sets.map((s) => s.args),
  });
}

async function main() {
  const argv = process.argv.slice(2);
  const mergeAt = argv.indexOf('--merge');
  const a = parseArgs(argv);
  if (mergeAt >= 0) {
    const value = argv[mergeAt + 1];
    const dirs = value && !value.startsWith('--') ? value.split(',').filter(Boolean) : [];
    if (!dirs.length) throw new UsageError('--merge needs a comma-separated list of result directories');
    return merge(dirs, a.out);
  }
  const planned = planRuns(a);
  const started = Date.now();
  console.log(`decisions bench: ${planned.length} runs on ${a.concurrency} lanes`);
  const rows: RunRow[] = await runPlan(planned, a.concurrency, (done, total) => {
    if (done % 50 === 0 || done === total)
      console.log(`  ${done}/${total} runs, ${Math.round((Date.now() - started) / 1000)} s`);
  });
  writeReport(rows, a.out, {
    title: a.quick ? 'quick run' : 'full run',
    wallMs: Date.now() - started,
    args: a,
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    console.error(err instanceof UsageError ? `bench:decisions: ${err.message}` : err);
    process.exit(1);
  });
}
