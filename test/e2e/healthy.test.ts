import { afterEach, describe, expect, inject, it } from 'vitest';
import { startScenario, type Scenario } from '../../src/sim/scenario.js';

const prom = () => ({ prometheusUrl: inject('prometheusUrl'), sdDir: inject('prometheusSdDir') });
let s: Scenario | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

describe('end to end with real Prometheus', () => {
  it('healthy migration completes at 100 % target, one write per step', async () => {
    s = await startScenario({ metrics: prom(), policy: 'default' });
    await s.waitForTraffic();
    const started = Date.now();
    const { result, events } = await s.run({ timeScale: 0.05 });
    console.log(
      `healthy run: ${((Date.now() - started) / 1000).toFixed(1)} s, ${events.filter((e) => e.type === 'verdict').length} analyses`,
    );
    expect(result.phase, result.reason).toBe('completed');
    expect(s.weightWrites()).toEqual([1, 5, 10, 25, 50, 100]);
    const vs = s.kube.get({
      group: 'networking.istio.io',
      plural: 'virtualservices',
      namespace: s.fixture.namespace,
      name: s.fixture.virtualService,
    });
    const route = (vs!.spec as { http: Array<{ route: Array<{ weight: number }> }> }).http[0]!.route;
    expect(route.map((r) => r.weight)).toEqual([0, 100]);
    await s.sim.waitForWeights((w) => w.k8s === 100, 5000);
  });
});
