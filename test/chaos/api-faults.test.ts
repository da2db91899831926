import { describe, expect, it } from 'vitest';
import {
  checkApiFaultInvariants,
  healToWriteMs,
  holds,
  rollbackSlackLagMs,
  type ApiFaultInput,
} from '../../bench/chaos-api-faults.js';
import type { FaultedRequest, MigrationObservation } from '../../bench/chaos-invariants.js';

const S = 1000;
/** A migration aborted at 10 s, its rollback written at `writeAt` (none when undefined). */
const aborted = (
  writeAt: number | undefined,
  extra: MigrationObservation['history'] = [],
): MigrationObservation => ({
  id: 'm-1',
  namespace: 'ns-1',
  steps: [1, 5, 10],
  phase: writeAt === undefined ? 'rollingBack' : 'aborted',
  storeWeight: writeAt === undefined ? 5 : 0,
  clusterWeight: writeAt === undefined ? 5 : 0,
  clusterWrites: [
    { at: 1 * S, weight: 1 },
    { at: 5 * S, weight: 5 },
    ...(writeAt === undefined ? [] : [{ at: writeAt, weight: 0 }]),
  ],
  history: [
    { type: 'weight', at: 1 * S, weight: 1 },
    { type: 'weight', at: 5 * S, weight: 5 },
    { type: 'phase', at: 10 * S, phase: 'rollingBack' },
    ...extra,
    ...(writeAt === undefined ? [] : [{ type: 'phase', at: writeAt, phase: 'aborted' }]),
  ],
});
const hung = (start: number, end: number): FaultedRequest => ({
  namespace: 'ns-1',
  method: 'PATCH',
  start,
  end,
  kind: 'hang',
});
const input = (over: Partial<ApiFaultInput>): ApiFaultInput => ({
  migrations: [],
  faulted: [],
  windows: [],
  slack: [],
  submits: [],
  created: new Map(),
  observedAt: 1000 * S,
  ...over,
});
const retry = (at: number, attempt: number) => ({ type: 'rollbackRetry', at, attempt });
const post = (at: number, attempt: number) => ({
  channel: 'ns-1',
  at,
  text: `:rotating_light: *Rollback write failed* (attempt ${attempt}): boom`,
});

describe('rollback retries in history and Slack within 30 s', () => {
  it('holds when each failed request is followed by a rollbackRetry entry that reaches Slack', () => {
    const m = aborted(80 * S, [retry(35 * S, 1)]);
    const i = input({
      migrations: [m],
      faulted: [hung(11 * S, 21 * S), hung(21 * S, 35 * S)],
      windows: [{ kind: 'kube-hang-rollback', from: 9 * S, to: 60 * S }],
      slack: [post(37 * S, 1)],
    });
    expect(checkApiFaultInvariants(i)).toEqual([]);
    expect(rollbackSlackLagMs(i.migrations, i.slack)).toEqual([2 * S]);
    expect(healToWriteMs(m, i)).toBe(20 * S);
  });

  it('flags a failed request with no entry, unless the rollback landed within 30 s', () => {
    const silent = input({ migrations: [aborted(80 * S)], faulted: [hung(11 * S, 21 * S)] });
    expect(checkApiFaultInvariants(silent).map((v) => v.invariant)).toEqual([
      'rollback retries in history and Slack within 30 s',
    ]);
    const recovered = input({ migrations: [aborted(40 * S)], faulted: [hung(11 * S, 21 * S)] });
    expect(checkApiFaultInvariants(recovered)).toEqual([]);
  });

  it('flags an entry that never reached Slack or reached it late', () => {
    const m = aborted(80 * S, [retry(35 * S, 1), retry(60 * S, 2)]);
    const v = checkApiFaultInvariants(input({ migrations: [m], slack: [post(70 * S, 1)] }));
    expect(v.map((x) => x.detail)).toEqual([
      expect.stringMatching(/attempt 1 .*reached Slack after 35000 ms/),
      expect.stringMatching(/attempt 2 .*never reached Slack/),
    ]);
  });
});

describe('heal → rollback write ≤ 30 s + one write', () => {
  const held = (writeAt: number | undefined, kind = 'kube-hang') =>
    input({
      migrations: [aborted(writeAt, [retry(35 * S, 1)])],
      faulted: [hung(11 * S, 35 * S)],
      windows: [{ kind, from: 9 * S, to: 50 * S }],
      slack: [post(36 * S, 1)],
    });
  it('measures from the heal of the API fault that held the rollback up; 40 s is the bound', () => {
    expect(checkApiFaultInvariants(held(90 * S))).toEqual([]);
    expect(checkApiFaultInvariants(held(91 * S)).map((v) => v.detail)).toEqual([
      'rollback written 41000 ms after the API healed',
    ]);
  });
  it('does not judge a rollback whose last fault was not the API’s', () => {
    expect(checkApiFaultInvariants(held(120 * S, 'redis-restart'))).toEqual([]);
  });
  it('flags a rollback still unwritten long after the API healed', () => {
    expect(checkApiFaultInvariants(held(undefined)).map((v) => v.detail)).toEqual([
      expect.stringMatching(/still not written 950000 ms after the API healed/),
    ]);
  });
});

describe('no migration created by a request answered 5xx', () => {
  const sub = (outcome: number | 'timeout') => ({ namespace: 'ns-9', sentAt: 0, outcome, probe: true });
  it('flags a migration that only a 503 could have created', () => {
    const v = checkApiFaultInvariants(input({ submits: [sub(503)], created: new Map([['ns-9', 1]]) }));
    expect(v.map((x) => x.invariant)).toEqual(['no migration created by a request answered 5xx']);
  });
  it('holds when a 201 (or an unanswered request) accounts for it', () => {
    for (const second of [201, 'timeout'] as const) {
      const i = input({ submits: [sub(503), sub(second)], created: new Map([['ns-9', 1]]) });
      expect(checkApiFaultInvariants(i)).toEqual([]);
    }
    expect(checkApiFaultInvariants(input({ submits: [sub(503)], created: new Map() }))).toEqual([]);
  });
});

describe('holds', () => {
  it('one hold per weight, from the first failed write to the weight written or the pause', () => {
    const w = (at: number, weight: number) => ({ type: 'weight', at, weight });
    const wr = (at: number, weight: number, attempt: number) => ({ type: 'writeRetry', at, weight, attempt });
    const m: MigrationObservation = {
      ...aborted(undefined),
      phase: 'paused',
      history: [
        w(1 * S, 1),
        wr(10 * S, 5, 1),
        { type: 'verdict', at: 12 * S },
        wr(20 * S, 5, 2),
        w(25 * S, 5),
        wr(40 * S, 10, 1),
        { type: 'phase', at: 70 * S, phase: 'paused' },
      ],
    };
    expect(holds([m], 100 * S)).toEqual([
      { migration: 'm-1', weight: 5, ms: 15 * S, attempts: 2, ended: 'written' },
      { migration: 'm-1', weight: 10, ms: 30 * S, attempts: 1, ended: 'paused' },
    ]);
  });
});
