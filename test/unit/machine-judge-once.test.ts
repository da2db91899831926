/**
 * One decision per analysis: the guards of an analysis' result (rollback? pause? advance?) and the action that
 * records it all ask the judge about the same verdict in the same context; it is evaluated once.
 */
import { SimulatedClock } from 'xstate';
import { describe, expect, it, vi } from 'vitest';
import type * as JudgeModule from '../../src/gate/judge.js';
import type { Verdict } from '../../src/gate/types.js';
import { MigrationRunner } from '../../src/runner/runner.js';
import { FAST_POLICY, FakeMesh, FakeMetrics, advance, healthy, testPlan, type SignalFn } from './fakes.js';

/** Every call of judge(), by the verdict it judged. */
const judged = vi.hoisted(() => new Map<object, number>());

vi.mock('../../src/gate/judge.js', async (importOriginal) => {
  const real = await importOriginal<typeof JudgeModule>();
  return {
    ...real,
    judge: (...args: Parameters<typeof real.judge>) => {
      judged.set(args[2], (judged.get(args[2]) ?? 0) + 1);
      return real.judge(...args);
    },
  };
});

function setup(signals: SignalFn = healthy, policy = FAST_POLICY) {
  judged.clear();
  const clock = new SimulatedClock();
  clock.set(1_700_000_000_000);
  const mesh = new FakeMesh(clock);
  const metrics = new FakeMetrics(clock, mesh, signals);
  const runner = new MigrationRunner({ plan: testPlan(policy), mesh, metrics, clock });
  return { clock, mesh, runner };
}

/** How many times each analysis was judged, in order. */
const perAnalysis = () => [...judged.values()];

describe('the judge, once per analysis', () => {
  it('judges an analysis that holds once (five guards and the action used to ask six times)', async () => {
    const t = setup();
    await t.runner.start();
    // Up to the first analysis at 10 %: a pass, not baked yet → hold (the last of the result's branches).
    for (let i = 0; i < 120 && t.runner.snapshot().context.analyses === 0; i++) await advance(t.clock, 1000);
    expect(t.runner.snapshot().context.analyses).toBe(1);
    expect((t.runner.snapshot().context.lastVerdict as Verdict | undefined)?.outcome).toBe('pass');
    expect(t.mesh.writes).toEqual([10]);
    expect(perAnalysis()).toEqual([1]);
  });

  it('judges every analysis of a whole migration once: holds, advances, the last step', async () => {
    const t = setup();
    await t.runner.start();
    await advance(t.clock, 5 * 60_000);
    const r = await t.runner.done;
    expect(r.phase).toBe('completed');
    const analyses = t.runner.snapshot().context.analyses;
    expect(analyses).toBeGreaterThan(5);
    expect(perAnalysis()).toEqual(Array.from({ length: analyses }, () => 1));
  });

  it('judges once on the way to a rollback', async () => {
    const t = setup((w) => ({ target: { requests: 1000, errors: w >= 50 ? 200 : 0 } }));
    await t.runner.start();
    await advance(t.clock, 5 * 60_000);
    expect((await t.runner.done).phase).toBe('rolledBack');
    expect(perAnalysis().length).toBeGreaterThan(1);
    expect(perAnalysis().every((n) => n === 1)).toBe(true);
  });

  it('judges once on the way to a pause, and while guarding the held weight', async () => {
    const t = setup(() => ({ target: { requests: 5, errors: 0 } }));
    await t.runner.start();
    await advance(t.clock, 2 * 60_000);
    const s = t.runner.snapshot();
    expect(s.phase).toBe('paused');
    const beforeGuarding = s.context.analyses;
    await advance(t.clock, 60_000); // paused: still analysed, only a rollback could follow
    expect(t.runner.snapshot().context.analyses).toBeGreaterThan(beforeGuarding);
    expect(perAnalysis()).toEqual(Array.from({ length: t.runner.snapshot().context.analyses }, () => 1));
  });
});
