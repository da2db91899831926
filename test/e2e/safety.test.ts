/** When the gate cannot judge, meshshift holds: it never promotes on missing data. */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { EngineEvent } from '../../src/engine/history.js';
import { startPrometheus, type PrometheusServer } from '../../src/sim/prometheus.js';
import { startScenario, type Scenario } from '../../src/sim/scenario.js';

const prom = () => ({ prometheusUrl: inject('prometheusUrl'), sdDir: inject('prometheusSdDir') });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});
const track = (s: Scenario) => (cleanups.push(() => s.close()), s);

describe('no data, no promotion', () => {
  it('low traffic: waiting (or missing evidence) pauses the migration, never promotes', async () => {
    // The default policy with a 6-minute maxBake (18 s at this time scale), so the wait for traffic ends in time.
    const spec = readFileSync('policies/default.yaml', 'utf8').split(/^spec:\n/m)[1]!;
    const policy = spec.replace(/maxBake: \S+/, 'maxBake: 6m');
    const s = track(await startScenario({ metrics: prom(), policy, rps: 4 }));
    await s.waitForTraffic();
    let pausedReason: string | undefined;
    const { result, events } = await s.run({
      timeScale: 0.05,
      onEvent: (e: EngineEvent, runner) => {
        if (e.type === 'phase' && e.phase === 'paused' && !pausedReason) {
          pausedReason = e.reason;
          // Hold a little longer to show the weight stays put, then abort.
          setTimeout(() => runner.command('ABORT', 'e2e', 'low traffic'), 3000);
        }
      },
    });
    // The sequential method may take the early steps on the few requests they get; it never promotes unjudged.
    expect(pausedReason).toMatch(
      /inconclusive analysis windows in a row at \d+ %|held \S+ at \d+ % waiting for the evidence to promote, the policy's maxBake/,
    );
    expect(s.weightWrites()).not.toContain(100);
    expect(s.weightWrites().at(-1)).toBe(0);
    expect(result.phase).toBe('aborted');
    const verdicts = events.filter((e) => e.type === 'verdict');
    expect(verdicts.length).toBeGreaterThan(3);
    expect(verdicts.some((e) => e.type === 'verdict' && e.verdict.weight === 100)).toBe(false);
  });

  it('Prometheus stopped mid-run: the weight holds (paused, still guarding); after a restart RESUME completes', async () => {
    const own: PrometheusServer = await startPrometheus({ scrapeIntervalSeconds: 1 });
    cleanups.push(() => own.close());
    const s = track(
      await startScenario({
        metrics: { prometheusUrl: own.url, sdDir: own.sdDir },
        policy: 'default',
        rps: 600,
      }),
    );
    await s.waitForTraffic(30_000);
    let stoppedAt = 0;
    let writesAtStop: number[] = [];
    const { result } = await s.run({
      timeScale: 0.05,
      onEvent: (e: EngineEvent, runner) => {
        if (e.type === 'weight' && e.weight === 10 && !stoppedAt) {
          stoppedAt = Date.now();
          void own.stop().then(() => (writesAtStop = s.weightWrites()));
        }
        if (e.type === 'phase' && e.phase === 'paused' && stoppedAt) {
          // Prometheus back; an operator resumes.
          setTimeout(
            () => void own.start().then(() => setTimeout(() => runner.command('RESUME', 'e2e'), 3000)),
            2000,
          );
        }
      },
    });
    expect(writesAtStop.at(-1)).toBe(10);
    const writes = s.weightWrites();
    // Nothing above 10 % was written while Prometheus was down; afterwards the migration finished.
    expect(writes.slice(0, writes.indexOf(10) + 1)).toEqual([1, 5, 10]);
    expect(result.phase, result.reason).toBe('completed');
    expect(writes.at(-1)).toBe(100);
    // A pause takes as many independent windows as a rollback (default: 6 × 6 s here), then a full run: allow 4 min.
  }, 240_000);
});
