/** The controller's pure parts: kstatus conditions, status mirroring, Events from history, annotation commands. */
import { describe, expect, it } from 'vitest';
import { clearCommandPatch, commandRequestOf, requesterOf } from '../../src/controller/commands.js';
import { eventForEntry } from '../../src/controller/events.js';
import type { VerdictRecord } from '../../src/engine/history.js';
import { planTextOf } from '../../src/controller/reconciler.js';
import { conditionsFor, settleConditions } from '../../src/controller/status.js';
import { stepLabel } from '../../src/engine/step-label.js';
import type { MigrationPlanObject } from '../../src/controller/types.js';

const obj = (
  annotations?: Record<string, string>,
  managedFields?: MigrationPlanObject['metadata']['managedFields'],
) =>
  ({
    apiVersion: 'meshshift.io/v1alpha1',
    kind: 'MigrationPlan',
    metadata: {
      name: 'a',
      namespace: 'shop',
      uid: 'u',
      resourceVersion: '7',
      ...(annotations ? { annotations } : {}),
      ...(managedFields ? { managedFields } : {}),
    },
    spec: { namespace: 'shop' },
  }) as MigrationPlanObject;

describe('status', () => {
  it('steps count the weights reached', () => {
    const steps = [1, 5, 10, 25, 50, 100];
    expect(stepLabel({ phase: 'pending', weight: 0, steps })).toBe('0/6');
    expect(stepLabel({ phase: 'shifting', weight: 10, steps })).toBe('3/6');
    expect(stepLabel({ phase: 'completed', weight: 100, steps })).toBe('6/6');
    // After a rollback: the step it was rolled back from, said so (the weight is 0 again).
    expect(stepLabel({ phase: 'rolledBack', weight: 0, steps, stepsReached: 2 })).toBe('2/6 (rolled back)');
  });

  it('kstatus: Ready only when completed; Reconciling while running; Stalled when finished badly', () => {
    expect(conditionsFor({ phase: 'completed', weight: 100 }).map((c) => `${c.type}=${c.status}`)).toEqual([
      'Ready=True',
    ]);
    expect(conditionsFor({ phase: 'shifting', weight: 5 }).map((c) => `${c.type}=${c.status}`)).toEqual([
      'Ready=False',
      'Reconciling=True',
    ]);
    const rb = conditionsFor({ phase: 'rolledBack', weight: 0, reason: 'error rate 0.2 > 0.01' });
    expect(rb.map((c) => `${c.type}=${c.status}/${c.reason}`)).toEqual([
      'Ready=False/RolledBack',
      'Stalled=True/RolledBack',
    ]);
    expect(rb[1]!.message).toContain('error rate 0.2 > 0.01');
  });

  it('transition times move only when a condition changes status', () => {
    const first = settleConditions(conditionsFor({ phase: 'shifting', weight: 1 }), undefined, 1, 1000);
    const same = settleConditions(conditionsFor({ phase: 'shifting', weight: 5 }), first, 1, 2000);
    expect(same[0]!.lastTransitionTime).toBe(first[0]!.lastTransitionTime);
    const done = settleConditions(conditionsFor({ phase: 'completed', weight: 100 }), same, 1, 3000);
    expect(done[0]!.lastTransitionTime).toBe(new Date(3000).toISOString());
  });
});

describe('Events from history', () => {
  const weight0 = { type: 'weight', at: 1, weight: 0, previous: 10, wrote: true, attempts: 1 } as const;
  const verdict = (outcome: 'pass' | 'inconclusive', summary: string): VerdictRecord => ({
    type: 'verdict',
    at: 1,
    outcome,
    weight: 5,
    summary,
    checks: [],
  });
  it('tells the story and leaves passing verdicts out', () => {
    expect(
      eventForEntry({ type: 'weight', at: 1, weight: 5, previous: 1, wrote: true, attempts: 1 }),
    ).toMatchObject({
      type: 'Normal',
      reason: 'WeightChanged',
    });
    expect(eventForEntry({ ...weight0, rollback: true })).toMatchObject({
      type: 'Warning',
    });
    expect(eventForEntry(verdict('pass', ''))).toBeUndefined();
    expect(eventForEntry(verdict('inconclusive', 'too few requests'))).toMatchObject({
      reason: 'AnalysisInconclusive',
      note: 'at 5 %: too few requests',
    });
    expect(
      eventForEntry({
        type: 'finished',
        at: 1,
        phase: 'rolledBack',
        weight: 0,
        reason: 'p99 failed',
        durationMs: 1,
      }),
    ).toMatchObject({
      reason: 'RolledBack',
      note: 'rolledBack: p99 failed',
    });
  });
});

describe('annotation commands', () => {
  it('parses the command, its reason and who set it (managedFields)', () => {
    const o = obj({ 'meshshift.io/command': 'Promote', 'meshshift.io/command-reason': 'ok' }, [
      { manager: 'kubectl-client-side-apply', time: '2026-01-01T00:00:00Z', fieldsV1: { 'f:spec': {} } },
      {
        manager: 'kubectl-annotate',
        time: '2026-01-01T00:01:00Z',
        fieldsV1: { 'f:metadata': { 'f:annotations': { 'f:meshshift.io/command': {} } } },
      },
    ]);
    expect(commandRequestOf(o)).toEqual({
      ok: true,
      type: 'PROMOTE',
      reason: 'ok',
      by: 'kubernetes:kubectl-annotate',
      raw: 'Promote',
    });
    expect(requesterOf(undefined)).toBeUndefined();
    expect(commandRequestOf(obj())).toBeUndefined();
    const bad = commandRequestOf(obj({ 'meshshift.io/command': 'rollback' }));
    expect(bad).toMatchObject({ ok: false });
    expect(bad!.ok ? '' : bad!.message).toMatch(/use one of promote, pause, resume, abort/);
  });

  it('clears the annotations guarded by the resourceVersion it read', () => {
    expect(clearCommandPatch(obj({ 'meshshift.io/command': 'abort' }))).toEqual({
      metadata: {
        resourceVersion: '7',
        annotations: { 'meshshift.io/command': null, 'meshshift.io/command-reason': null },
      },
    });
  });

  it('the plan text keeps name and spec, and drops server-owned metadata', () => {
    const text = planTextOf(obj({ 'kubectl.kubernetes.io/last-applied-configuration': '{}' }));
    expect(text).toContain('name: a');
    expect(text).not.toContain('last-applied');
    expect(text).not.toContain('resourceVersion');
  });
});
