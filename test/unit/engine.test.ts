import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { advance as step } from '../../src/engine/advance.js';
import { runConfig } from '../../src/engine/config.js';
import type { EngineEvent } from '../../src/engine/history.js';
import { initialSnapshot, inspect, possibleCommands } from '../../src/engine/vocabulary.js';
import { silentLogger } from '../../src/log/logger.js';
import { MigrationRunner } from '../../src/runner/runner.js';
import { MemorySnapshotStore } from '../../src/runner/store.js';
import { FAST_POLICY, FakeMesh, FakeMetrics, advance, healthy, testPlan, type SignalFn } from './fakes.js';

function setup(signals: SignalFn = healthy, initialWeight = 0) {
  const clock = new SimulatedClock();
  clock.set(1_700_000_000_000);
  const mesh = new FakeMesh(clock);
  mesh.weight = initialWeight;
  const metrics = new FakeMetrics(clock, mesh, signals);
  const plan = testPlan(FAST_POLICY);
  const events: EngineEvent[] = [];
  const saved: { phase: string; at: number }[] = [];
  const store = new MemorySnapshotStore();
  const recording = {
    load: (id: string) => store.load(id),
    save: async (id: string, s: unknown) => {
      saved.push({ phase: JSON.stringify((s as { value: unknown }).value), at: clock.now() });
      await store.save(id, s);
    },
  };
  const runner = new MigrationRunner({
    plan,
    mesh,
    metrics,
    clock,
    store: recording,
    onEvent: (e) => events.push(e),
  });
  return { clock, mesh, metrics, plan, events, saved, runner };
}

describe('a decided rollback is a promise kept', () => {
  it('keeps retrying with capped backoff while the API fails, visibly, then lands 100 % source', async () => {
    const t = setup((w) => ({ target: { requests: 1000, errors: w >= 50 ? 300 : 0 } }));
    await t.runner.start();
    await advance(t.clock, 40_000); // 10 % baked, 50 % written
    t.mesh.failWrites = 12; // the API is down for the first 12 rollback attempts (~1 s … 30 s backoff)
    await advance(t.clock, 30_000);
    let s = t.runner.snapshot();
    expect(s.phase).toBe('rollingBack');
    expect(t.mesh.weight).toBe(50);
    expect(s.context.rollback?.attempts).toBeGreaterThan(0);
    const retries = t.events.filter((e) => e.type === 'rollbackRetry');
    expect(retries.length).toBeGreaterThan(0);
    const delays = retries.map((e) => (e.type === 'rollbackRetry' ? e.retryAt - e.at : 0));
    expect(Math.max(...delays)).toBeLessThanOrEqual(30_000);
    await advance(t.clock, 10 * 60_000);
    s = t.runner.snapshot();
    expect(s.phase).toBe('rolledBack'); // never `failed`: nothing leaves traffic on the containers
    expect(t.mesh.weight).toBe(0);
    expect(t.events.some((e) => e.type === 'phase' && e.phase === 'failed')).toBe(false);
  });

  it('is persisted (rollingBack) before the first rollback write', async () => {
    const t = setup();
    await t.runner.start();
    await advance(t.clock, 5000);
    expect(t.runner.command('ABORT', 'carol', 'customer complaint').accepted).toBe(true);
    const r = await t.runner.done;
    expect(r.phase).toBe('aborted');
    const write = t.events.find((e) => e.type === 'weight' && e.rollback);
    const pending = t.saved.findIndex((s) => s.phase.includes('rollingBack'));
    expect(pending).toBeGreaterThanOrEqual(0);
    expect(t.saved[pending]!.at).toBeLessThanOrEqual(write!.at);
    expect(t.saved[pending]!.phase).toContain('due');
  });
});

describe('an inherited split is judged before it grows', () => {
  it('analyses the weight found in the cluster before its first write, then continues above it', async () => {
    const t = setup(healthy, 20);
    await t.runner.start();
    await advance(t.clock, 5 * 60_000);
    expect((await t.runner.done).phase).toBe('completed');
    expect(t.mesh.writes).toEqual([50, 100]);
    const firstVerdict = t.events.findIndex((e) => e.type === 'verdict');
    const firstWrite = t.events.findIndex((e) => e.type === 'weight');
    expect(firstVerdict).toBeGreaterThanOrEqual(0);
    expect(firstVerdict).toBeLessThan(firstWrite);
    const v = t.events[firstVerdict]!;
    expect(v.type === 'verdict' && v.verdict.weight).toBe(20);
  });

  it('rolls back from the inherited weight without ever writing a higher one when the containers fail there', async () => {
    const t = setup(() => ({ target: { requests: 1000, errors: 200 } }), 20);
    await t.runner.start();
    await advance(t.clock, 60_000);
    const r = await t.runner.done;
    expect(r.phase).toBe('rolledBack');
    expect(t.mesh.writes).toEqual([0]);
    expect(r.reason).toMatch(/at 20 %/);
  });
});

describe('engine step', () => {
  const plan = testPlan(FAST_POLICY);
  const { config } = runConfig(plan);
  const deps = (clock: SimulatedClock, mesh: FakeMesh) => ({
    mesh,
    metrics: new FakeMetrics(clock, mesh, healthy),
    clock,
    log: silentLogger,
  });

  it('applies ABORT first and alone; the other queued commands are reported as superseded', async () => {
    const clock = new SimulatedClock();
    clock.set(1_700_000_000_000);
    const mesh = new FakeMesh(clock);
    const first = await step(deps(clock, mesh), { id: 'u', plan, start: true });
    expect(first.phase).toBe('shifting');
    expect(first.possible).toEqual(['PROMOTE', 'PAUSE', 'ABORT']);
    const r = await step(deps(clock, mesh), {
      id: 'u',
      plan,
      snapshot: first.snapshot,
      commands: [
        { type: 'PAUSE', by: 'a' },
        { type: 'ABORT', by: 'b' },
        { type: 'PROMOTE', by: 'c' },
      ],
    });
    const cmds = r.events.filter((e) => e.type === 'command');
    expect(cmds.map((e) => e.type === 'command' && [e.command, e.accepted])).toEqual([
      ['PAUSE', false],
      ['PROMOTE', false],
      ['ABORT', true],
    ]);
    // Persisted before the write: the step that accepted ABORT stops at `rollingBack`, due now.
    expect(r.phase).toBe('rollingBack');
    expect(r.nextWakeAt).toBeLessThanOrEqual(clock.now());
    expect(mesh.weight).toBe(10);
    const done = await step(deps(clock, mesh), { id: 'u', plan, snapshot: r.snapshot });
    expect(done.phase).toBe('aborted');
    expect(done.terminal).toBe(true);
    expect(done.possible).toEqual([]);
    expect(mesh.weight).toBe(0);
  });

  it('ABORT before anything was written ends at once, without a write', async () => {
    const clock = new SimulatedClock();
    clock.set(1_700_000_000_000);
    const mesh = new FakeMesh(clock);
    const r = await step(deps(clock, mesh), {
      id: 'u',
      plan,
      commands: [{ type: 'ABORT', by: 'dave' }],
      start: true,
    });
    expect(r.phase).toBe('aborted');
    expect(r.context.rollback).toMatchObject({ cause: 'abort', by: 'dave' });
    expect(mesh.writes).toEqual([]);
  });

  it('says what is possible in each state, asked of the machine', () => {
    expect(possibleCommands(inspect(initialSnapshot(config, 0), config))).toEqual(['ABORT']);
  });
});

describe('policy second: a failed mTLS step is retried, then reported, never rolled back', () => {
  const plan = {
    ...testPlan(FAST_POLICY),
    mtls: { peerAuthentication: 'default', tightenAfterCompletion: true },
  };
  function mtls(failures: number) {
    let calls = 0;
    return {
      calls: () => calls,
      step: {
        preflightMtls: async () => ({
          ok: true,
          checks: [],
          alreadyStrict: false,
          requests: 1000,
          mutualTlsRatio: 1,
        }),
        tightenMtls: async () => {
          if (++calls <= failures) throw new Error('HTTP 500 from the API server');
          return { changed: true, from: 'PERMISSIVE' as const, mode: 'STRICT' as const, attempts: 1 };
        },
      },
    };
  }
  async function run(failures: number, dataPlane: 'sidecar' | 'ambient' = 'sidecar') {
    const clock = new SimulatedClock();
    clock.set(1_700_000_000_000);
    const mesh = new FakeMesh(clock);
    const m = mtls(failures);
    const events: EngineEvent[] = [];
    const runner = new MigrationRunner({
      plan: { ...plan, dataPlane },
      mesh,
      metrics: new FakeMetrics(clock, mesh, healthy),
      clock,
      mtls: m.step,
      onEvent: (e) => events.push(e),
    });
    await runner.start();
    await advance(clock, 10 * 60_000);
    return { r: await runner.done, calls: m.calls(), mesh, events };
  }

  it('a transient failure is retried and the PeerAuthentication ends STRICT', async () => {
    const { r, calls, mesh } = await run(2);
    expect(r.phase).toBe('completed');
    expect(calls).toBe(3);
    expect(r.context.mtls).toMatch(/PERMISSIVE → STRICT/);
    expect(mesh.weight).toBe(100);
  });

  it('in ambient the step is skipped with the reason: no PeerAuthentication call at all', async () => {
    const { r, calls, events } = await run(0, 'ambient');
    expect(r.phase).toBe('completed');
    expect(calls).toBe(0);
    expect(r.context.mtls).toMatch(
      /mTLS step skipped: in ambient, ztunnel already carries pod traffic over mutual TLS/,
    );
    expect(events.filter((e) => e.type === 'mtls')).toEqual([
      expect.objectContaining({ ok: true, changed: false }),
    ]);
  });

  it('a lasting failure is reported after five attempts; the traffic migration stays completed', async () => {
    const { r, calls, mesh } = await run(99);
    expect(r.phase).toBe('completed');
    expect(calls).toBe(5);
    expect(r.context.mtls).toMatch(/mTLS not tightened after 5 attempts: HTTP 500/);
    expect(mesh.weight).toBe(100);
  });
});
