import { SimulatedClock, createActor } from 'xstate';
import type { MigrationInput } from '../../src/machine/types.js';
import { describe, expect, it } from 'vitest';
import { migrationMachine } from '../../src/machine/migration.js';
import { nextWakeAt, phaseOf } from '../../src/engine/vocabulary.js';
import { countFailures } from '../../src/gate/judge.js';
import { MigrationRunner } from '../../src/runner/runner.js';
import { MemorySnapshotStore } from '../../src/runner/store.js';
import type { EngineEvent } from '../../src/engine/history.js';
import { PreflightError, preflightRetry, type PreflightCheck } from '../../src/mesh/types.js';
import { FAST_POLICY, FakeMesh, FakeMetrics, advance, healthy, testPlan } from './fakes.js';

function setup(policy = FAST_POLICY, signals = healthy) {
  const clock = new SimulatedClock();
  clock.set(1_700_000_000_000);
  const mesh = new FakeMesh(clock);
  const metrics = new FakeMetrics(clock, mesh, signals);
  const events: EngineEvent[] = [];
  const store = new MemorySnapshotStore();
  const plan = testPlan(policy);
  const runner = new MigrationRunner({ plan, mesh, metrics, clock, store, onEvent: (e) => events.push(e) });
  return { clock, mesh, metrics, events, store, plan, runner };
}

describe('migration machine, driven by the runner on a simulated clock', () => {
  it('walks every step and completes at 100 % target', async () => {
    const t = setup();
    await t.runner.start();
    await advance(t.clock, 5 * 60_000);
    const r = await t.runner.done;
    expect(r.phase).toBe('completed');
    expect(t.mesh.writes).toEqual([10, 50, 100]);
    // stepDuration 30 s and interval 10 s: each step bakes ≥ 30 s with passing analyses.
    const weights = t.events.filter((e) => e.type === 'weight').map((e) => (e as { at: number }).at);
    expect(weights[1]! - weights[0]!).toBeGreaterThanOrEqual(30_000);
  });

  it('rolls back to 0 on the first significant error-rate failure and records why', async () => {
    const t = setup(FAST_POLICY, (w) => ({ target: { requests: 1000, errors: w >= 50 ? 200 : 0 } }));
    await t.runner.start();
    await advance(t.clock, 5 * 60_000);
    const r = await t.runner.done;
    expect(r.phase).toBe('rolledBack');
    expect(t.mesh.writes).toEqual([10, 50, 0]);
    expect(r.reason).toMatch(/error-rate failed 1× in a row at 50 %: error rate 20\.00 %/);
  });

  it('a failure at 100 % steps back to the previous weight once, saying why; it completes if it passes there', async () => {
    let failAt100 = true;
    const t = setup(FAST_POLICY, (w) => ({
      target: { requests: 1000, errors: w >= 100 && failAt100 ? 200 : 0 },
    }));
    await t.runner.start();
    for (let i = 0; i < 300 && t.mesh.writes.length < 4; i++) await advance(t.clock, 1000);
    const s = t.runner.snapshot();
    expect(t.mesh.writes).toEqual([10, 50, 100, 50]);
    expect(s.context.stepBack?.reason).toMatch(
      /error-rate failed at 100 %: error rate 20\.00 %.*back to 50 %/,
    );
    const back = t.events.find((e) => e.type === 'weight' && e.weight === 50 && e.previous === 100);
    expect(back).toMatchObject({ reason: s.context.stepBack?.reason });
    // The 100 % stretch is set aside until 50 % is in place again.
    const aside = s.context.stepBack!.setAside;
    expect(aside.to).toBe(back!.at);
    expect(aside.from).toBeLessThan(aside.to);
    failAt100 = false;
    await advance(t.clock, 5 * 60_000);
    const r = await t.runner.done;
    expect(r.phase).toBe('completed');
    expect(t.mesh.writes).toEqual([10, 50, 100, 50, 100]);
  });

  it('a second failure at 100 % rolls back', async () => {
    const t = setup(FAST_POLICY, (w) => ({ target: { requests: 1000, errors: w >= 100 ? 200 : 0 } }));
    await t.runner.start();
    await advance(t.clock, 8 * 60_000);
    const r = await t.runner.done;
    expect(r.phase).toBe('rolledBack');
    expect(t.mesh.writes).toEqual([10, 50, 100, 50, 100, 0]);
    expect(r.reason).toMatch(/error-rate failed 1× in a row at 100 %/);
  });

  it('needs two consecutive latency failures (failureThreshold 2); one blip is forgiven', async () => {
    let n = 0;
    const t = setup(FAST_POLICY, () => ({
      target: { requests: 1000, errors: 0, latencyMs: { p99: ++n === 2 ? 900 : 80 } },
    }));
    await t.runner.start();
    await advance(t.clock, 5 * 60_000);
    expect((await t.runner.done).phase).toBe('completed');
  });

  it('pauses (never promotes) after inconclusive analyses and keeps the weight', async () => {
    const t = setup(FAST_POLICY, () => ({ target: { requests: 5, errors: 0 } }));
    await t.runner.start();
    await advance(t.clock, 2 * 60_000);
    const s = t.runner.snapshot();
    expect(s.phase).toBe('paused');
    expect(s.context.pauseReason).toMatch(/3 inconclusive analysis windows in a row/);
    expect(t.mesh.writes).toEqual([10]);
  });

  it('the first window after a weight change may be inconclusive without counting toward a pause', async () => {
    // Window 30 s, pause after 2 inconclusive: the analyses at +10 s and +20 s still see mostly old traffic.
    const events: EngineEvent[] = [];
    const lastWrite = () => [...events].reverse().find((e) => e.type === 'weight')?.at ?? 0;
    const t = setup(FAST_POLICY.replace('inconclusiveLimit: 3', 'inconclusiveLimit: 2'), (_w, now) => ({
      target: { requests: now - lastWrite() >= 30_000 ? 1000 : 5, errors: 0 },
    }));
    const runner = new MigrationRunner({
      plan: t.plan,
      mesh: t.mesh,
      metrics: t.metrics,
      clock: t.clock,
      onEvent: (e) => events.push(e),
    });
    await runner.start();
    await advance(t.clock, 5 * 60_000);
    expect((await runner.done).phase).toBe('completed');
  });

  it('metrics unavailable is inconclusive, never a pass', async () => {
    const t = setup(FAST_POLICY, () => new Error('connect ECONNREFUSED 127.0.0.1:9'));
    await t.runner.start();
    await advance(t.clock, 2 * 60_000);
    expect(t.runner.snapshot().phase).toBe('paused');
    expect(t.mesh.writes).toEqual([10]);
    const verdicts = t.events.filter((e) => e.type === 'verdict');
    expect(verdicts.every((v) => v.type === 'verdict' && v.verdict.outcome === 'inconclusive')).toBe(true);
  });

  it('never advances on stale data: once metrics go away, the weight stays where it is', async () => {
    let down = false;
    const t = setup(FAST_POLICY, () =>
      down ? new Error('Prometheus down') : { target: { requests: 1000, errors: 0 } },
    );
    await t.runner.start();
    await advance(t.clock, 25_000); // two passes at 10 %, bake (30 s) not over yet
    down = true;
    await advance(t.clock, 120_000);
    expect(t.mesh.writes).toEqual([10]);
    expect(t.runner.snapshot().phase).toBe('paused');
  });

  it('PAUSE holds, RESUME continues, PROMOTE skips the bake, ABORT rolls back and wins', async () => {
    const t = setup();
    await t.runner.start();
    await advance(t.clock, 1000);
    expect(t.runner.command('PAUSE', 'alice').accepted).toBe(true);
    await advance(t.clock, 120_000);
    expect(t.runner.snapshot().phase).toBe('paused');
    expect(t.mesh.writes).toEqual([10]);
    expect(t.runner.command('PROMOTE', 'bob')).toMatchObject({
      accepted: false,
      reason: expect.stringMatching(/possible now: resume, abort/),
    });
    expect(t.runner.command('RESUME', 'alice').accepted).toBe(true);
    await advance(t.clock, 1000);
    expect(t.runner.command('PROMOTE', 'bob').accepted).toBe(true);
    await advance(t.clock, 1000);
    expect(t.mesh.writes).toEqual([10, 50]);
    expect(t.runner.command('ABORT', 'carol', 'customer complaint').accepted).toBe(true);
    const r = await t.runner.done;
    expect(r.phase).toBe('aborted');
    expect(r.context.rollback).toMatchObject({ cause: 'abort', by: 'carol', reason: 'customer complaint' });
    expect(t.mesh.weight).toBe(0);
    expect(t.runner.command('PROMOTE', 'bob').accepted).toBe(false);
  });

  it('waits at an approval gate, still guarding, until PROMOTE', async () => {
    const t = setup(FAST_POLICY + '\napprovals: [{ atWeight: 50 }]');
    await t.runner.start();
    await advance(t.clock, 3 * 60_000);
    expect(t.runner.snapshot().phase).toBe('awaitingApproval');
    expect(t.mesh.writes).toEqual([10, 50]);
    const before = t.metrics.calls;
    const phases = t.events.length;
    await advance(t.clock, 60_000);
    expect(t.metrics.calls).toBeGreaterThan(before); // analyses continue during the wait
    // … without the phase flickering between shifting and awaitingApproval
    expect(t.events.slice(phases).filter((e) => e.type === 'phase')).toEqual([]);
    expect(t.runner.snapshot().phase).toBe('awaitingApproval');
    t.runner.command('PROMOTE', 'lead');
    await advance(t.clock, 2 * 60_000);
    expect((await t.runner.done).phase).toBe('completed');
  });

  it('a regression while waiting for approval still rolls back', async () => {
    let bad = false;
    const t = setup(FAST_POLICY + '\napprovals: [{ atWeight: 50 }]', () => ({
      target: { requests: 1000, errors: bad ? 500 : 0 },
    }));
    await t.runner.start();
    await advance(t.clock, 3 * 60_000);
    expect(t.runner.snapshot().phase).toBe('awaitingApproval');
    bad = true;
    await advance(t.clock, 30_000);
    expect((await t.runner.done).phase).toBe('rolledBack');
    expect(t.mesh.weight).toBe(0);
  });

  it('pauses on drift instead of overwriting someone else’s weights; RESUME overwrites', async () => {
    const t = setup();
    await t.runner.start();
    await advance(t.clock, 1000);
    t.mesh.weight = 33; // someone edits the VirtualService by hand
    await advance(t.clock, 60_000);
    const s = t.runner.snapshot();
    expect(s.phase).toBe('paused');
    expect(s.context.pauseReason).toMatch(/drift: found 33, expected 10/);
    expect(t.mesh.weight).toBe(33);
    t.runner.command('RESUME', 'alice');
    await advance(t.clock, 1000);
    expect(t.mesh.weight).toBe(50);
  });

  it('a preflight that found something wrong changes no weight and ends at once, tried once', async () => {
    const t = setup();
    t.mesh.preflightOk = false;
    await t.runner.start();
    // no clock advance: a retry would never come, and `done` would not resolve
    const r = await Promise.race([
      t.runner.done,
      new Promise<never>((_, no) => setTimeout(() => no(new Error('preflight was retried')), 2000)),
    ]);
    expect(r.phase).toBe('failed');
    expect(r.reason).toMatch(/MESH_EXTERNAL/);
    expect(t.mesh.writes).toEqual([]);
    expect(t.events.filter((e) => e.type === 'preflight')).toHaveLength(1);
  });

  it('a transient preflight failure (API or Prometheus blip) is tried again, not final', async () => {
    const t = setup();
    t.mesh.preflightOk = false;
    t.mesh.preflightUnavailable = true;
    await t.runner.start();
    await advance(t.clock, 2000);
    expect(t.runner.snapshot().phase).toBe('preflight');
    t.mesh.preflightOk = true;
    await advance(t.clock, 5 * 60_000);
    expect((await t.runner.done).phase).toBe('completed');
    expect(t.mesh.writes).toEqual([10, 50, 100]);
  });

  it('survives a restart: a new runner resumes from the persisted snapshot without redoing steps', async () => {
    const t = setup();
    await t.runner.start();
    await advance(t.clock, 45_000);
    expect(t.mesh.writes).toEqual([10, 50]);
    t.runner.stop();
    await advance(t.clock, 5000);
    const saved = (await t.store.load('unit')) as { value: unknown };
    expect(JSON.stringify(saved).length).toBeLessThan(4000);
    const again = new MigrationRunner({
      plan: t.plan,
      mesh: t.mesh,
      metrics: t.metrics,
      clock: t.clock,
      store: t.store,
    });
    await again.start();
    await advance(t.clock, 3 * 60_000);
    expect((await again.done).phase).toBe('completed');
    expect(t.mesh.writes).toEqual([10, 50, 100]);
  });
});

describe('machine internals', () => {
  it('counts failures per check, once per window, and trips at that check’s threshold', () => {
    const v = (outcome: 'pass' | 'fail' | 'inconclusive', at: number) => ({
      outcome,
      at,
      weight: 10,
      summary: '',
      checks: [{ name: 'p99', outcome, failureThreshold: 2, message: '' }],
    });
    const W = 30_000;
    let f = countFailures({}, v('fail', 0), W);
    expect(f.tripped).toBeUndefined();
    f = countFailures(f.failures, v('fail', 10_000), W); // same window: not new evidence
    expect(f.tripped).toBeUndefined();
    expect(f.failures.p99).toEqual({ count: 1, at: 0 });
    f = countFailures(f.failures, v('inconclusive', 20_000), W); // missing data keeps the streak
    f = countFailures(f.failures, v('fail', 30_000), W);
    expect(f.tripped?.name).toBe('p99');
    expect(countFailures(f.failures, v('pass', 40_000), W).failures.p99!.count).toBe(0);
  });

  it('snapshot is JSON and restorable; nextWakeAt is undefined while an actor runs', () => {
    const input: MigrationInput = {
      config: {
        steps: [100],
        stepDurationMs: 1,
        intervalMs: 1,
        windowMs: 1,
        minPassesPerStep: 1,
        inconclusiveLimit: 1,
        inconclusiveAction: 'pause',
        approvals: [],
      },
      now: 0,
    };
    const actor = createActor(migrationMachine, { input });
    actor.start();
    const persisted = JSON.parse(JSON.stringify(actor.getPersistedSnapshot())) as unknown;
    const restored = createActor(migrationMachine, { snapshot: persisted as never, input });
    restored.start();
    expect(phaseOf(restored.getSnapshot())).toBe('pending');
    expect(nextWakeAt(restored.getSnapshot())).toBeUndefined();
  });
});

describe('preflight while a dependency is down', () => {
  it('waits out an unavailable Prometheus (transient checks) instead of failing after a few tries', async () => {
    const clock = new SimulatedClock();
    clock.set(1_700_000_000_000);
    const mesh = new FakeMesh(clock);
    let down = true;
    const metrics = new FakeMetrics(clock, mesh, healthy);
    metrics.recentRequests = async () => {
      if (down) throw new Error('Prometheus at http://127.0.0.1:9: network error');
      return 1000;
    };
    const runner = new MigrationRunner({ plan: testPlan(FAST_POLICY), mesh, metrics, clock });
    await runner.start();
    await advance(clock, 3 * 60_000); // far longer than the four tries a failing check gets
    expect(runner.snapshot().phase).toBe('preflight');
    down = false;
    await advance(clock, 5 * 60_000);
    expect((await runner.done).phase).toBe('completed');
    expect(mesh.writes).toEqual([10, 50, 100]);
  });

  it('no traffic seen yet (evidence missing, nothing wrong) gets a few tries, then ends the migration', async () => {
    const clock = new SimulatedClock();
    clock.set(1_700_000_000_000);
    const mesh = new FakeMesh(clock);
    const metrics = new FakeMetrics(clock, mesh, healthy);
    let seen = 0;
    metrics.recentRequests = async () => seen;
    const events: EngineEvent[] = [];
    const runner = new MigrationRunner({
      plan: testPlan(FAST_POLICY),
      mesh,
      metrics,
      clock,
      onEvent: (e) => events.push(e),
    });
    await runner.start();
    await advance(clock, 60_000);
    const r = await runner.done;
    expect(r.phase).toBe('failed');
    expect(r.reason).toMatch(/observability.*Prometheus has no istio_requests_total/);
    expect(events.filter((e) => e.type === 'preflight')).toHaveLength(4);

    const again = new MigrationRunner({ plan: testPlan(FAST_POLICY), mesh, metrics, clock });
    await again.start();
    await advance(clock, 2000);
    seen = 1000; // the first scrape arrives
    await advance(clock, 5 * 60_000);
    expect((await again.done).phase).toBe('completed');
  });
});

describe('preflightRetry: the one place a failed preflight is judged', () => {
  const c = (over: Partial<PreflightCheck>): PreflightCheck => ({
    id: 'x',
    ok: false,
    message: 'm',
    ...over,
  });
  it('waits out what is unavailable, confirms missing evidence, stops on anything found wrong', () => {
    expect(preflightRetry([c({ ok: true }), c({ transient: true }), c({ transient: true })])).toBe('wait');
    expect(preflightRetry([c({ transient: true }), c({ awaiting: true })])).toBe('wait');
    expect(preflightRetry([c({ ok: true }), c({ awaiting: true })])).toBe('confirm');
    expect(preflightRetry([c({ transient: true }), c({ awaiting: true }), c({})])).toBe('stop');
    expect(preflightRetry([c({})])).toBe('stop');
    const report = {
      ok: false,
      checks: [c({})],
      initialWeight: 0,
      selectors: { source: {}, target: {} },
      istioVersion: 'v1',
    };
    expect(new PreflightError(report).retry).toBe('stop');
  });
});
