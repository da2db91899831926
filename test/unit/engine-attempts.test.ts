/**
 * The engine's attempt deadline: a write that hangs (it only ends when its signal aborts) is cut at the attempt
 * deadline, which always fits in the effect timeout, and comes back to the machine as a failed attempt — counted,
 * recorded as `rollbackRetry`, retried ≤ 30 s after it started — instead of a cancelled effect that throws.
 */
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { advance, type Advanced, type AdvanceInput } from '../../src/engine/advance.js';
import { AttemptTimeoutError, attemptDeadline, withAttemptDeadline } from '../../src/engine/attempt.js';
import { silentLogger } from '../../src/log/logger.js';
import type { SetWeightOptions } from '../../src/mesh/types.js';
import type { ResolvedPlan } from '../../src/plan/load.js';
import { FAST_POLICY, FakeMesh, FakeMetrics, healthy, testPlan } from './fakes.js';

/** A mesh whose writes hang while `hanging` (as a wedged API server: only the caller's abort ends them). */
class HangingMesh extends FakeMesh {
  hanging = false;
  hung = 0;
  override async setWeight(plan: ResolvedPlan, weight: number, opts: SetWeightOptions) {
    if (!this.hanging) return super.setWeight(plan, weight, opts);
    this.hung++;
    return new Promise<never>((_, reject) => {
      opts.signal?.addEventListener('abort', () => reject(opts.signal!.reason as Error), { once: true });
    });
  }
}

function world() {
  const clock = new SimulatedClock();
  clock.set(1_700_000_000_000);
  const mesh = new HangingMesh(clock);
  const metrics = new FakeMetrics(clock, mesh, healthy);
  const plan = testPlan(FAST_POLICY);
  const deps = { mesh, metrics, clock, log: silentLogger, effectTimeoutMs: 400 };
  let snapshot: unknown;
  const step = async (more: Partial<AdvanceInput> = {}): Promise<Advanced> => {
    const r = await advance(deps, { id: 'm1', plan, snapshot, ...more });
    snapshot = r.snapshot;
    return r;
  };
  return { clock, mesh, step };
}

describe('the attempt deadline', () => {
  it('is at most half the effect timeout, so two effects of one step fit in it', () => {
    expect(attemptDeadline(60_000)).toBe(25_000);
    expect(attemptDeadline(30_000)).toBe(15_000);
    expect(attemptDeadline(60_000, 40_000)).toBe(30_000);
  });

  it('cuts a hung call with AttemptTimeoutError and aborts its signal; the caller’s abort passes through', async () => {
    let seen: AbortSignal | undefined;
    const hang = (s: AbortSignal) => ((seen = s), new Promise<never>(() => undefined));
    const t0 = performance.now();
    const cut = await withAttemptDeadline('write', 50, new AbortController().signal, hang).catch((e) => e);
    expect(cut).toBeInstanceOf(AttemptTimeoutError);
    expect((cut as Error).message).toBe(
      "write: no result within 0.05 s (the engine's attempt deadline); cancelled",
    );
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(seen?.aborted).toBe(true);
    const caller = new AbortController();
    const p = withAttemptDeadline('write', 10_000, caller.signal, hang).catch((e) => e);
    caller.abort(new Error('lost the lease'));
    expect(((await p) as Error).message).toBe('lost the lease');
  });
});

describe('a rollback whose write hangs', () => {
  it('fails each attempt at the deadline as an engine attempt (rollbackRetry 1, 2, 3), then lands once healed', async () => {
    const { clock, mesh, step } = world();
    let r = await step({ start: true });
    expect(r.weight).toBe(10);
    r = await step({ commands: [{ type: 'ABORT', by: 'carol' }] });
    expect(r.phase).toBe('rollingBack');
    mesh.hanging = true;
    const retries: number[] = [];
    for (let i = 0; i < 3; i++) {
      clock.set(Math.max(clock.now(), r.nextWakeAt!));
      r = await step(); // resolves: the hung write is a failed attempt, not an effect timeout that throws
      expect(r.phase).toBe('rollingBack');
      for (const e of r.events) {
        if (e.type !== 'rollbackRetry') continue;
        retries.push(e.attempt);
        expect(e.error).toMatch(/attempt deadline/);
        expect(e.retryAt - e.at).toBeLessThanOrEqual(30_000);
      }
    }
    expect(retries).toEqual([1, 2, 3]);
    expect(mesh.hung).toBe(3);
    expect(r.context.rollback?.attempts).toBe(3);
    mesh.hanging = false;
    clock.set(Math.max(clock.now(), r.nextWakeAt!));
    r = await step();
    expect(r).toMatchObject({ phase: 'aborted', weight: 0 });
    expect(mesh.weight).toBe(0);
  });
});
