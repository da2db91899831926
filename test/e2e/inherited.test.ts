/**
 * A route that already splits traffic (80/20, as in the public VM-migration demo) is judged before it grows:
 * meshshift analyses the weight it found before its first write, and a failing target is rolled back from there.
 */
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { EngineEvent } from '../../src/engine/history.js';
import type { BackendBehavior } from '../../src/sim/mesh/index.js';
import { startScenario, type Scenario, type ScenarioOptions } from '../../src/sim/scenario.js';

const prom = () => ({ prometheusUrl: inject('prometheusUrl'), sdDir: inject('prometheusSdDir') });
const scenarios: Scenario[] = [];
afterEach(async () => {
  for (const s of scenarios.splice(0)) await s.close();
});

async function inherited(k8s: Partial<BackendBehavior> | undefined, route: Partial<ScenarioOptions> = {}) {
  const s = await startScenario({
    ...route,
    metrics: prom(),
    policy: 'default',
    rps: 600,
    seed: { initialTargetWeight: 20 },
    ...(k8s ? { k8s } : {}),
  });
  scenarios.push(s);
  await s.waitForTraffic();
  const { result, events } = await s.run({ timeScale: 0.05 });
  return { s, result, events };
}

const firstIndex = (events: EngineEvent[], f: (e: EngineEvent) => boolean) => events.findIndex(f);

describe('an inherited split', () => {
  it('is analysed at 20 % before the first write, then grows from the first step above it', async () => {
    const { s, result, events } = await inherited(undefined);
    expect(result.phase, result.reason).toBe('completed');
    const preflight = events.find((e) => e.type === 'preflight');
    expect(preflight?.type === 'preflight' && preflight.initialWeight).toBe(20);
    const firstPass = firstIndex(events, (e) => e.type === 'verdict' && e.verdict.outcome === 'pass');
    const firstWrite = firstIndex(events, (e) => e.type === 'weight');
    expect(firstPass).toBeGreaterThanOrEqual(0);
    expect(firstPass).toBeLessThan(firstWrite);
    const v = events[firstPass]!;
    expect(v.type === 'verdict' && v.verdict.weight).toBe(20);
    expect(s.weightWrites()).toEqual([25, 50, 100]);
  });

  it.each([
    { name: 'VirtualService', route: {} },
    {
      name: 'HTTPRoute (80/20 backendRefs), ambient',
      route: { routeKind: 'HTTPRoute', dataPlane: 'ambient' } as const,
    },
  ])(
    'rolls back from 20 % without ever writing a higher weight when the containers already fail there: $name',
    async ({ route }) => {
      const { s, result, events } = await inherited({ errorRate: 0.2 }, route);
      expect(result.phase).toBe('rolledBack');
      expect(result.reason).toMatch(/at 20 %/);
      const preflight = events.find((e) => e.type === 'preflight');
      expect(preflight?.type === 'preflight' && preflight.initialWeight).toBe(20);
      expect(s.weightWrites()).toEqual([0]);
    },
  );
});
