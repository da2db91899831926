/**
 * Regressions injected into the container side, judged by the real gate on a real Prometheus.
 * Figures (detection time, failed requests) are printed for the closing note and the README.
 */
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { EngineEvent } from '../../src/engine/history.js';
import { startScenario, type Scenario, type ScenarioOptions } from '../../src/sim/scenario.js';

const prom = () => ({ prometheusUrl: inject('prometheusUrl'), sdDir: inject('prometheusSdDir') });
const scenarios: Scenario[] = [];
afterEach(async () => {
  for (const s of scenarios.splice(0)) await s.close();
});

interface RegressionRun {
  phase: string;
  writes: number[];
  detectionMs: number;
  failedServed: number;
  injectedAtWeight: number;
  reason?: string;
}

/** Runs a migration and injects `behavior` into the k8s backend once the target weight reaches `atWeight`. */
async function regressionRun(
  policy: string,
  atWeight: number,
  behavior: Parameters<Scenario['sim']['setBehavior']>[1],
  rps = 600,
  route: Partial<ScenarioOptions> = {},
): Promise<RegressionRun> {
  const s = await startScenario({ metrics: prom(), policy, rps, ...route });
  scenarios.push(s);
  await s.waitForTraffic();
  let injectedAt = 0;
  let errorsAtInjection = 0;
  let rollbackAt = 0;
  let errorsAtRollback = 0;
  const { result } = await s.run({
    timeScale: 0.05,
    onEvent: (e: EngineEvent) => {
      if (e.type === 'weight' && !e.rollback && e.weight >= atWeight && !injectedAt) {
        injectedAt = Date.now();
        errorsAtInjection = s.sim.stats().k8s!.errors + s.sim.stats().k8s!.slow;
        s.sim.setBehavior('k8s', behavior);
      }
      if (e.type === 'weight' && e.rollback && !rollbackAt) {
        rollbackAt = e.at;
        errorsAtRollback = s.sim.stats().k8s!.errors + s.sim.stats().k8s!.slow;
      }
    },
  });
  return {
    phase: result.phase,
    writes: s.weightWrites(),
    detectionMs: rollbackAt ? rollbackAt - injectedAt : NaN,
    failedServed: errorsAtRollback - errorsAtInjection,
    injectedAtWeight: atWeight,
    ...(result.reason ? { reason: result.reason } : {}),
  };
}

describe('regressions roll back to 100 % VM', () => {
  it('error-rate regression at 10 % rolls back in one write, with the reason', async () => {
    const r = await regressionRun('default', 10, { errorRate: 0.2 });
    console.log(
      `[figures] default, 20 % errors from 10 %: detection→rollback ${r.detectionMs} ms, failed requests served ${r.failedServed}, writes ${r.writes.join(',')}`,
    );
    expect(r.phase).toBe('rolledBack');
    expect(r.writes.at(-1)).toBe(0);
    expect(Math.max(...r.writes)).toBeLessThanOrEqual(25);
    expect(r.reason).toMatch(/error-rate|error rate/);
    expect(r.detectionMs).toBeLessThan(10_000);
  });

  it('on an HTTPRoute in ambient (waypoint metrics): an error-rate regression at 10 % rolls back in one write', async () => {
    const r = await regressionRun('default', 10, { errorRate: 0.2 }, 600, {
      routeKind: 'HTTPRoute',
      dataPlane: 'ambient',
    });
    console.log(
      `[figures] HTTPRoute/ambient, 20 % errors from 10 %: detection→rollback ${r.detectionMs} ms, failed requests served ${r.failedServed}, writes ${r.writes.join(',')}`,
    );
    expect(r.phase).toBe('rolledBack');
    expect(r.writes.at(-1)).toBe(0);
    expect(r.writes.filter((w) => w === 0)).toHaveLength(1);
    expect(Math.max(...r.writes)).toBeLessThanOrEqual(25);
    expect(r.reason).toMatch(/error-rate|error rate/);
  });

  it('p99-latency-only regression (p50 unchanged) rolls back', async () => {
    const r = await regressionRun('default', 1, { latency: { p50Ms: 20, p99Ms: 240 } }, 900);
    console.log(
      `[figures] default, p99 ×3 from 1 %: rolled back at ${Math.max(...r.writes)} %, detection ${r.detectionMs} ms; ${r.reason}`,
    );
    expect(r.phase).toBe('rolledBack');
    expect(r.reason).toMatch(/^p(50|99)(-vs-source)? failed/); // a latency check, not errors
    expect(r.writes.at(-1)).toBe(0);
    expect(Math.max(...r.writes)).toBeLessThan(100);
  });

  it('default policy serves fewer failed requests than flagger-defaults on the same regression', async () => {
    const mine = await regressionRun('default', 10, { errorRate: 0.05 });
    const flagger = await regressionRun('flagger-defaults', 10, { errorRate: 0.05 });
    console.log(
      `[figures] 5 % errors from 10 %: default ${mine.failedServed} failed requests / ${mine.detectionMs} ms; flagger-defaults ${flagger.failedServed} failed requests / ${flagger.detectionMs} ms`,
    );
    expect(mine.phase).toBe('rolledBack');
    expect(flagger.phase).toBe('rolledBack');
    expect(mine.failedServed).toBeLessThan(flagger.failedServed);
  });
});
