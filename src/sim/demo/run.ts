/**
 * `meshshift demo`: a simulated cluster and mesh in-process, a real migration with the default policy, then a
 * second one with an injected regression that rolls back, told as a story (one line per step; see story.ts).
 * Uses the real Prometheus when the binary is on PATH.
 */
import {
  PROMETHEUS_INSTALL_HINT,
  findPrometheusBinary,
  startPrometheus,
  type PrometheusServer,
} from '../prometheus.js';
import { startScenario, type Scenario } from '../scenario.js';
import { eventPrinter, renderEvent } from '../../runner/render.js';
import { bold, dim, green, red, yellow } from '../../term/style.js';
import type { EngineEvent } from '../../engine/history.js';
import {
  initialStory,
  storyStep,
  summaryLines,
  type MigrationSummary,
  type StoryEvent,
  type StoryOptions,
  type Style,
} from './story.js';

export interface DemoOptions {
  prometheusBin?: string;
  output: 'text' | 'json';
  /** Print every analysis, not only one line per step. */
  verbose?: boolean;
  /** Policy time compression; the default policy's 2-minute bakes become 6 s. */
  timeScale?: number;
}

const say = (s: string) => process.stdout.write(`${s}\n`);
const STYLE: Style = { bold, dim, red, green, yellow };

/** A fault injected once the target reaches `atWeight` %. */
interface Fault {
  atWeight: number;
  errorRate: number;
  description: string;
}

interface MigrationRun {
  ok: boolean;
  summary: MigrationSummary;
}

async function runMigration(
  scenario: Scenario,
  title: string,
  opts: DemoOptions & { timeScale: number; explained: string[] },
  fault?: Fault,
): Promise<MigrationRun> {
  const json = opts.output === 'json';
  const printJson = eventPrinter('json', process.stdout);
  // Each kind of inconclusive analysis is explained once in the whole demo, not once per migration.
  const story = { ...initialStory(), explained: opts.explained };
  const storyOpts: StoryOptions = {
    style: STYLE,
    ...(opts.verbose ? { verbose: true, analysisLine: (e) => renderEvent(e) } : {}),
  };
  let durationMs = 0;
  const tell = (e: StoryEvent): void => {
    if (e.type === 'finished') durationMs = e.durationMs;
    const lines = storyStep(story, e, storyOpts);
    if (!json) for (const line of lines) say(line);
    else if (e.type !== 'fault') printJson(e);
  };
  const sim = scenario.sim;
  // The simulator serves traffic before the migration starts: count only what happens during it.
  const before = sim.stats();
  let injectedAt = 0;
  let failedAtInjection = 0;
  let rollbackAt = 0;
  let failedAtRollback = 0;
  const { result } = await scenario.run({
    timeScale: opts.timeScale,
    onEvent: (e: EngineEvent) => {
      tell(e);
      if (fault && e.type === 'weight' && !e.rollback && e.weight >= fault.atWeight && !injectedAt) {
        injectedAt = e.at;
        failedAtInjection = sim.stats().k8s?.errors ?? 0;
        sim.setBehavior('k8s', { errorRate: fault.errorRate });
        tell({ type: 'fault', at: Date.now(), description: fault.description });
      }
      if (e.type === 'weight' && e.rollback && !rollbackAt) {
        rollbackAt = e.at;
        failedAtRollback = sim.stats().k8s?.errors ?? 0;
      }
    },
  });
  const stats = sim.stats();
  const side = (name: string) => ({
    requests: (stats[name]?.requests ?? 0) - (before[name]?.requests ?? 0),
    errors: (stats[name]?.errors ?? 0) - (before[name]?.errors ?? 0),
  });
  const summary: MigrationSummary = {
    title,
    phase: result.phase,
    ...(result.reason ? { reason: result.reason } : {}),
    durationMs,
    reached: story.reached,
    steps: story.steps,
    source: side('vm'),
    target: side('k8s'),
  };
  if (fault) {
    summary.fault = {
      description: fault.description,
      ...(rollbackAt && injectedAt
        ? { detectMs: rollbackAt - injectedAt, failedRequests: failedAtRollback - failedAtInjection }
        : {}),
    };
  }
  return { ok: result.phase === (fault ? 'rolledBack' : 'completed'), summary };
}

/** The real Prometheus when its binary is there; else undefined, said once (the demo and the playground). */
export async function startMetrics(title = 'meshshift demo'): Promise<PrometheusServer | undefined> {
  try {
    findPrometheusBinary();
    const prom = await startPrometheus({ scrapeIntervalSeconds: 1 });
    say(`${bold(title)} — real Prometheus at ${prom.url} (scrape every 1 s)`);
    return prom;
  } catch (err) {
    // Each message once: the error names the install command when the binary is missing.
    const why = (err as Error).message.split('\n')[0] ?? '';
    const hint = why.includes(PROMETHEUS_INSTALL_HINT)
      ? ''
      : ` (install it with: ${PROMETHEUS_INSTALL_HINT})`;
    say(`${bold(title)} — ${red('Prometheus not available')}: ${why}`);
    say(`  reading the simulator's counters through the same gate interface instead${hint}`);
    return undefined;
  }
}

export async function runDemo(opts: DemoOptions): Promise<number> {
  const started = Date.now();
  const o = { ...opts, timeScale: opts.timeScale ?? 0.05, explained: [] as string[] };
  if (opts.prometheusBin) process.env.PROMETHEUS_BIN = opts.prometheusBin;
  const prom = await startMetrics();
  say(
    dim(
      `policy "default" on a compressed time scale (×${o.timeScale}): the same decisions, in seconds instead of minutes`,
    ),
  );
  const metrics = prom ? { prometheusUrl: prom.url, sdDir: prom.sdDir } : ('simulator' as const);
  const runs: MigrationRun[] = [];
  const scenarios: Scenario[] = [];
  try {
    // Both simulated meshes start now: Prometheus discovers new targets in batches (every 5 s), so the second
    // one is already visible when the first migration ends.
    const healthy = await startScenario({ metrics, namespace: 'shop', policy: 'default', rps: 600 });
    scenarios.push(healthy);
    const broken = await startScenario({ metrics, namespace: 'shop-2', policy: 'default', rps: 600 });
    scenarios.push(broken);

    // 1. A healthy migration.
    const f = healthy.fixture;
    say(
      `\n${bold('1/2 healthy containers')}: ${f.service} VMs (ServiceEntry ${f.serviceEntry}) → Deployment ${f.deployment}, 600 req/s of simulated gRPC`,
    );
    await healthy.waitForTraffic(30_000);
    runs.push(await runMigration(healthy, 'healthy', o));
    await healthy.close();

    // 2. The same migration, but the containers start failing once they take 5 % of the traffic.
    say(
      `\n${bold('2/2 broken containers')}: the same service; at 5 % the containers start failing 20 % of requests`,
    );
    await broken.waitForTraffic(30_000);
    const fault: Fault = {
      atWeight: 5,
      errorRate: 0.2,
      description: 'the containers now fail 20 % of requests',
    };
    runs.push(await runMigration(broken, 'regression', o, fault));
  } finally {
    for (const sc of scenarios) await sc.close();
    await prom?.close();
  }
  const ok = runs.length === 2 && runs.every((r) => r.ok);
  if (o.output === 'text') {
    say(`\n${bold('summary')}`);
    for (const r of runs) for (const line of summaryLines(r.summary, STYLE)) say(`  ${line}`);
    const took = `in ${((Date.now() - started) / 1000).toFixed(1)} s`;
    say(ok ? green(`demo finished as expected ${took}`) : red(`demo did not finish as expected ${took}`));
  }
  return ok ? 0 : 1;
}
