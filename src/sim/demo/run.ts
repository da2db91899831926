/**
 * `meshshift demo`: a simulated cluster and mesh in-process, a real migration with the default policy, then a
 * second one with an injected regression that rolls back. Uses the real Prometheus when the binary is on PATH.
 */
import {
  PROMETHEUS_INSTALL_HINT,
  findPrometheusBinary,
  startPrometheus,
  type PrometheusServer,
} from '../prometheus.js';
import { startScenario, type Scenario } from '../scenario.js';
import { eventPrinter } from '../../cli/run.js';
import { bold, dim, green, red } from '../../cli/render.js';
import type { RunnerEvent } from '../../runner/events.js';

export interface DemoOptions {
  prometheusBin?: string;
  output: 'text' | 'json';
  /** Policy time compression; the default policy's 2-minute bakes become 6 s. */
  timeScale?: number;
}

const say = (s: string) => process.stdout.write(`${s}\n`);

export async function runDemo(opts: DemoOptions): Promise<number> {
  const timeScale = opts.timeScale ?? 0.05;
  if (opts.prometheusBin) process.env.PROMETHEUS_BIN = opts.prometheusBin;
  let prom: PrometheusServer | undefined;
  try {
    findPrometheusBinary();
    prom = await startPrometheus({ scrapeIntervalSeconds: 1 });
    say(`${bold('meshshift demo')} — real Prometheus at ${prom.url} (scrape every 1 s)`);
  } catch (err) {
    say(
      `${bold('meshshift demo')} — ${red('Prometheus not available')}: ${(err as Error).message.split('\n')[0]}`,
    );
    say(
      `  reading the simulator's counters through the same gate interface instead (install it with: ${PROMETHEUS_INSTALL_HINT})`,
    );
  }
  say(
    dim(
      `policy "default" on a compressed time scale (×${timeScale}): the same decisions, in seconds instead of minutes\n`,
    ),
  );

  const metrics = prom ? { prometheusUrl: prom.url, sdDir: prom.sdDir } : ('simulator' as const);
  const results: string[] = [];
  let scenario: Scenario | undefined;
  try {
    // 1. A healthy migration.
    scenario = await startScenario({ metrics, namespace: 'shop', policy: 'default', rps: 600 });
    say(
      `${bold('1/2 healthy container')}: ${scenario.fixture.service} VMs (ServiceEntry ${scenario.fixture.serviceEntry}) → Deployment ${scenario.fixture.deployment}, 600 req/s of simulated gRPC traffic`,
    );
    say(dim('   waiting for Prometheus to see the VM traffic (observability first)…'));
    await scenario.waitForTraffic(30_000);
    const print = eventPrinter(opts.output, process.stdout);
    const first = await scenario.run({ timeScale, onEvent: print });
    results.push(`healthy run: ${first.result.phase} (writes ${scenario.weightWrites().join(' → ')} %)`);
    await scenario.close();
    scenario = undefined;

    // 2. The same migration, but the containers start failing once they take 10 % of the traffic.
    scenario = await startScenario({ metrics, namespace: 'shop-2', policy: 'default', rps: 600 });
    say(
      `\n${bold('2/2 broken container')}: the same service; at 10 % the containers start failing 20 % of requests`,
    );
    await scenario.waitForTraffic(30_000);
    const s = scenario;
    let injectedAt = 0;
    let failedAtInjection = 0;
    let rollbackAt = 0;
    let failedAtRollback = 0;
    const second = await s.run({
      timeScale,
      onEvent: (e: RunnerEvent) => {
        print(e);
        if (e.type === 'weight' && !e.rollback && e.weight >= 10 && !injectedAt) {
          injectedAt = Date.now();
          failedAtInjection = s.sim.stats().k8s?.errors ?? 0;
          s.sim.setBehavior('k8s', { errorRate: 0.2 });
          if (opts.output === 'text') say(red('   ⚡ injected: containers now fail 20 % of requests'));
        }
        if (e.type === 'weight' && e.rollback && !rollbackAt) {
          rollbackAt = e.at;
          failedAtRollback = s.sim.stats().k8s?.errors ?? 0;
        }
      },
    });
    results.push(
      `regression run: ${second.result.phase} ${rollbackAt ? `${rollbackAt - injectedAt} ms after the regression started, ${failedAtRollback - failedAtInjection} failed requests served by the containers` : ''}`,
    );
    say(`\n${bold('summary')}`);
    for (const r of results) say(`  • ${r}`);
    const ok = first.result.phase === 'completed' && second.result.phase === 'rolledBack';
    say(ok ? green('demo finished as expected') : red('demo did not finish as expected'));
    return ok ? 0 : 1;
  } finally {
    await scenario?.close();
    await prom?.close();
  }
}
