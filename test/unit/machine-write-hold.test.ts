/**
 * Forward writes hold, rollbacks insist: a step's weight write that fails for infrastructure reasons holds the
 * current weight (still guarded), is retried with capped backoff and pauses after writeFailureGrace; it never
 * rolls back for the API alone. A write refused for good pauses at once with the reason.
 */
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { runConfig } from '../../src/engine/config.js';
import type { EngineEvent } from '../../src/engine/history.js';
import { inspect, reasonOf } from '../../src/engine/vocabulary.js';
import { KubeApiError } from '../../src/mesh/kube/errors.js';
import { MigrationRunner } from '../../src/runner/runner.js';
import { MemorySnapshotStore } from '../../src/runner/store.js';
import { FAST_POLICY, FakeMesh, FakeMetrics, advance, healthy, testPlan, type SignalFn } from './fakes.js';

function setup(signals: SignalFn = healthy, policy = FAST_POLICY) {
  const clock = new SimulatedClock();
  clock.set(1_700_000_000_000);
  const mesh = new FakeMesh(clock);
  const metrics = new FakeMetrics(clock, mesh, signals);
  const events: EngineEvent[] = [];
  const plan = testPlan(policy);
  const store = new MemorySnapshotStore();
  const runner = new MigrationRunner({ plan, mesh, metrics, clock, store, onEvent: (e) => events.push(e) });
  /** Phase, weight and reason as every interface shows them (from the persisted snapshot). */
  const now = async () => {
    const s = inspect(await store.load(runner.id), runConfig(plan).config);
    return {
      phase: runner.snapshot().phase,
      weight: s.context.weight,
      reason: reasonOf(s),
      context: s.context,
    };
  };
  return { clock, mesh, events, runner, now };
}

const rollbacks = (events: EngineEvent[]) =>
  events.filter((e) => e.type === 'phase' && e.phase === 'rollingBack');

describe('a forward write that fails for the API', () => {
  it('holds the weight, retries with capped backoff and goes on once the API answers; no rollback', async () => {
    const t = setup();
    await t.runner.start();
    await advance(t.clock, 20_000); // 10 % written and baking
    expect(t.mesh.writes).toEqual([10]);
    t.mesh.failWrites = 6; // the write of 50 % fails six times (1 + 2 + 4 + 8 + 16 + 30 s of backoff)
    await advance(t.clock, 30_000);
    const held = await t.now();
    expect(held.phase).toBe('shifting');
    expect(held.weight).toBe(10);
    expect(held.reason).toMatch(/^holding at 10 %: the write of 50 % failed \d× \(API server unavailable\)/);
    const delays: number[] = [];
    let last = 0;
    for (let i = 0; i < 120; i++) {
      await advance(t.clock, 1000);
      const hold = (await t.now()).context.writeHold;
      const a = hold?.attempts ?? 0;
      if (a > last) delays.push(hold!.retryAt - t.clock.now());
      last = Math.max(last, a);
    }
    expect(delays.length).toBeGreaterThan(0);
    expect(Math.max(...delays)).toBeLessThanOrEqual(30_000);
    await advance(t.clock, 5 * 60_000);
    const r = await t.runner.done;
    expect(r.phase).toBe('completed');
    expect(t.mesh.writes).toEqual([10, 50, 100]);
    expect(rollbacks(t.events)).toEqual([]);
    // Each failed attempt is in the history (and on Slack): numbered, with the weight held and the error.
    const retries = t.events.filter((e) => e.type === 'writeRetry');
    expect(retries.map((e) => e.attempt)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(retries[0]).toMatchObject({ weight: 50, held: 10, error: 'API server unavailable' });
  });

  it('pauses with the reason after writeFailureGrace; RESUME tries again and the migration completes', async () => {
    const t = setup(healthy, `${FAST_POLICY}\nwriteFailureGrace: 2m`);
    await t.runner.start();
    await advance(t.clock, 20_000);
    t.mesh.failWrites = 1_000;
    await advance(t.clock, 100_000);
    expect(t.runner.snapshot().phase).toBe('shifting'); // still inside the grace: held, retried
    await advance(t.clock, 60_000);
    const paused = await t.now();
    expect(paused.phase).toBe('paused');
    expect(paused.weight).toBe(10);
    expect(paused.reason).toMatch(
      /^weight write to 50 % failing for 2 min \(\d+ attempts; last: API server unavailable\); holding at 10 % — RESUME to try again, ABORT to roll back$/,
    );
    expect(t.mesh.weight).toBe(10);
    t.mesh.failWrites = 0;
    expect(t.runner.command('RESUME', 'alice').accepted).toBe(true);
    await advance(t.clock, 5 * 60_000);
    expect((await t.runner.done).phase).toBe('completed');
    expect(rollbacks(t.events)).toEqual([]);
  });

  it('is still guarded: a regression seen while the write is held rolls back', async () => {
    let broken = false;
    const t = setup(() => ({ target: { requests: 1000, errors: broken ? 300 : 0 } }));
    await t.runner.start();
    await advance(t.clock, 20_000);
    t.mesh.failWrites = 1_000;
    await advance(t.clock, 30_000);
    expect(t.runner.snapshot().phase).toBe('shifting');
    broken = true;
    await advance(t.clock, 30_000);
    const s = t.runner.snapshot();
    expect(s.phase).toBe('rollingBack');
    expect(s.context.rollback?.cause).toBe('regression');
    t.mesh.failWrites = 0;
    await advance(t.clock, 60_000);
    expect((await t.runner.done).phase).toBe('rolledBack');
    expect(t.mesh.weight).toBe(0);
  });
});

describe('a forward write refused for good', () => {
  it.each([
    [403, 'virtualservices.networking.istio.io "pcs" is forbidden: User "meshshift" cannot patch'],
    [404, 'virtualservices.networking.istio.io "pcs" not found'],
    [422, 'spec.http[0].route[1].weight: Invalid value: 150'],
  ])('%i pauses at once with the reason, without retrying', async (code, message) => {
    const t = setup();
    await t.runner.start();
    await advance(t.clock, 20_000);
    t.mesh.failWrites = 1;
    t.mesh.writeError = () => new KubeApiError(`patch virtualservices/shop/pcs: ${message}`, code);
    await advance(t.clock, 20_000);
    const s = await t.now();
    expect(s.phase).toBe('paused');
    expect(s.reason).toContain(`weight write to 50 % refused: patch virtualservices/shop/pcs: ${message}`);
    expect(s.context.writeHold).toBeUndefined();
    expect(t.mesh.failWrites).toBe(0);
    expect(rollbacks(t.events)).toEqual([]);
  });

  it('control: 429 and 500 are not refusals (held and retried)', async () => {
    for (const code of [429, 500]) {
      const t = setup();
      await t.runner.start();
      await advance(t.clock, 20_000);
      t.mesh.failWrites = 1;
      t.mesh.writeError = () => new KubeApiError(`patch virtualservices/shop/pcs: HTTP ${code}`, code);
      const seen = new Set<string>();
      for (let i = 0; i < 30; i++) {
        await advance(t.clock, 1000);
        const n = await t.now();
        seen.add(n.context.writeHold ? `held ${n.phase}` : n.phase);
      }
      expect([...seen]).toContain('held shifting');
      expect([...seen]).not.toContain('paused');
      await advance(t.clock, 5 * 60_000);
      expect((await t.runner.done).phase).toBe('completed');
    }
  });
});

describe('policy writeFailureGrace', () => {
  it('defaults to 10 minutes; a bad value is refused naming the field', () => {
    expect(testPlan(FAST_POLICY).policy.writeFailureGrace).toBe(600_000);
    expect(testPlan(`${FAST_POLICY}\nwriteFailureGrace: 90s`).policy.writeFailureGrace).toBe(90_000);
    expect(() => testPlan(`${FAST_POLICY}\nwriteFailureGrace: soon`)).toThrow(
      /spec\.policy\.writeFailureGrace: expected a positive duration such as "30s"/,
    );
  });
});
