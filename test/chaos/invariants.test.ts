import { describe, expect, it } from 'vitest';
import {
  checkInvariants,
  figures,
  stepViolation,
  type MigrationObservation,
} from '../../bench/chaos-invariants.js';
import { mulberry32 } from '../../src/sim/random.js';

const STEPS = [1, 5, 10, 25, 50, 100];
const mig = (over: Partial<MigrationObservation> = {}): MigrationObservation => ({
  id: 'm-1',
  namespace: 'ns-1',
  steps: STEPS,
  phase: 'completed',
  storeWeight: 100,
  clusterWeight: 100,
  clusterWrites: STEPS.map((weight, i) => ({ at: i, weight })),
  history: STEPS.map((weight, i) => ({ type: 'weight', at: i, weight })),
  ...over,
});

describe('stepViolation', () => {
  it('accepts the steps in order, a prefix, and a prefix then a rollback', () => {
    expect(stepViolation(STEPS, STEPS)).toBeUndefined();
    expect(stepViolation(STEPS, [1, 5])).toBeUndefined();
    expect(stepViolation(STEPS, [1, 5, 10, 0, 0])).toBeUndefined();
    expect(stepViolation(STEPS, [])).toBeUndefined();
  });

  it('names a step written twice, a skipped step and a write after the rollback', () => {
    expect(stepViolation(STEPS, [1, 5, 5, 10])).toMatch(/step 5 % written twice/);
    expect(stepViolation(STEPS, [1, 10])).toMatch(/expected 5 %, got 10 %/);
    expect(stepViolation(STEPS, [1, 5, 0, 10])).toMatch(/10 % written after the rollback/);
    expect(stepViolation(STEPS, [1, 5, 5, 10], true)).toBeUndefined(); // a reported no-op re-apply
  });
});

describe('checkInvariants', () => {
  it('holds for a clean run', () => {
    expect(checkInvariants([mig()], [], [])).toEqual([]);
  });

  it('reports each broken invariant with the migration', () => {
    const v = checkInvariants(
      [
        mig({
          phase: 'failed',
          storeWeight: 5,
          clusterWeight: 5,
          clusterWrites: [1, 5].map((weight, at) => ({ at, weight })),
        }),
        mig({ id: 'm-2', namespace: 'ns-2', phase: 'shifting', storeWeight: 25, clusterWeight: 10 }),
      ],
      [
        { at: 1, namespace: 'ns-1', writerPid: 10, holderPid: 11 },
        { at: 2, namespace: 'ns-1', writerPid: 10, holderPid: 'none' },
        { at: 3, namespace: 'ns-1', writerPid: 10, holderPid: 10 },
        { at: 4, namespace: 'ns-1', writerPid: 10, holderPid: 'unknown' },
      ],
      [
        { id: 'm-1', type: 'PAUSE', token: 'chaos-1', sentAt: 0, outcome: 'timeout' },
        { id: 'm-1', type: 'PAUSE', token: 'chaos-2', sentAt: 0, outcome: 202 },
        { id: 'm-1', type: 'PAUSE', token: 'chaos-3', sentAt: 0, outcome: 409 },
      ],
    );
    expect(v.map((x) => `${x.invariant} ${x.migration}`)).toEqual([
      'ends visibly m-1',
      'ends visibly m-2',
      'cluster = store m-2',
      'no write by a non-holder m-1',
      'no write by a non-holder m-1',
      'no command lost m-1',
    ]);
  });

  it('catches a ghost command: applied although its request failed', () => {
    const history = [{ type: 'command', at: 5, command: 'PAUSE', accepted: true, reason: 'chaos-1' }];
    const v = checkInvariants(
      [mig({ history: [...mig().history, ...history] })],
      [],
      [{ id: 'm-1', type: 'PAUSE', token: 'chaos-1', sentAt: 0, outcome: 'timeout' }],
    );
    expect(v).toEqual([
      {
        invariant: 'no command applied after its request failed',
        migration: 'm-1',
        detail: 'PAUSE (chaos-1) answered timeout but was applied',
      },
    ]);
  });
});

describe('no rollback for API errors alone', () => {
  it('flags a migration rolled back because its weight write failed; a regression rollback is fine', () => {
    const api = mig({
      phase: 'rolledBack',
      storeWeight: 0,
      clusterWeight: 0,
      clusterWrites: [1, 5, 0].map((weight, at) => ({ at, weight })),
      history: [1, 5].map((weight, at) => ({ type: 'weight', at, weight })),
      reason:
        'could not set weight: gave up: set weight 10 % on VirtualService ns-1/pcs after 6 attempts: get virtualservices/ns-1/pcs: HTTP 500',
    });
    const regression = mig({
      ...api,
      id: 'm-2',
      namespace: 'ns-2',
      reason: 'error-rate failed 1× in a row at 5 %',
    });
    expect(checkInvariants([api, regression], [], [])).toEqual([
      { invariant: 'no rollback for API errors alone', migration: 'm-1', detail: api.reason },
    ]);
  });
});

describe('figures', () => {
  it('measures rollback pending time, counting one still pending up to the end', () => {
    const f = figures(
      [
        mig({
          history: [
            { type: 'phase', at: 100, phase: 'rollingBack' },
            { type: 'phase', at: 400, phase: 'aborted' },
          ],
        }),
        mig({
          id: 'm-2',
          phase: 'rollingBack',
          history: [
            { type: 'phase', at: 1000, phase: 'rollingBack' },
            { type: 'takeover', at: 1, sinceMs: 2500 },
          ],
        }),
      ],
      2000,
    );
    expect(f.longestRollbackPendingMs).toBe(1000);
    expect(f.stillRollingBack).toBe(1);
    expect(f.takeoversMs).toEqual([2500]);
    expect(f.endPhases).toEqual({ completed: 1, rollingBack: 1 });
  });

  it('seeded schedules repeat', () => {
    const a = mulberry32(7);
    const b = mulberry32(7);
    expect([a(), a(), a()]).toEqual([b(), b(), b()]);
  });
});
