/**
 * MigrationPlan lifecycle through kubectl-style calls: delete mid-migration (finalizer: one rollback write, then
 * the object goes), a spec edit mid-flight refused visibly, and annotation commands (promote at a gate, abort).
 */
import * as k8s from '@kubernetes/client-node';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { SERVICE_POLICY } from '../service/helpers.js';
import {
  MP,
  applyPlan,
  condition,
  controllerEnv,
  eventsFor,
  getPlan,
  planObject,
  waitPlan,
  type ControllerEnv,
} from './helpers.js';

const prom = () => ({ prometheusUrl: inject('prometheusUrl'), sdDir: inject('prometheusSdDir') });
const MERGE = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
let env: ControllerEnv | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

const annotate = (e: ControllerEnv, name: string, annotations: Record<string, string>) =>
  e.custom.patchNamespacedCustomObject(
    { ...MP, namespace: e.ns, name, body: { metadata: { annotations } } },
    MERGE,
  );

describe('MigrationPlan lifecycle', () => {
  it('deleting an active MigrationPlan rolls traffic back in one write, then the object goes', async () => {
    env = await controllerEnv(prom(), { prefix: 'ctl-delete' });
    const e = env;
    await applyPlan(e, planObject(e, 'deleted'));
    await waitPlan(e, 'deleted', (o) => (o?.status?.weight ?? 0) >= 5);
    const before = e.s.weightWrites().length;
    await e.custom.deleteNamespacedCustomObject({ ...MP, namespace: e.ns, name: 'deleted' });
    const marked = getPlan(e, 'deleted');
    expect(marked?.metadata.deletionTimestamp).toBeTruthy(); // held by the finalizer
    await waitPlan(e, 'deleted', (o) => o === undefined, 30_000);
    const after = e.s.weightWrites().slice(before);
    // At most one forward write already in flight when the ABORT arrived, then exactly one rollback write to 0.
    expect(after.filter((w) => w === 0)).toEqual([0]);
    expect(after.at(-1)).toBe(0);
    expect(eventsFor(e, 'deleted').map((x) => x.reason)).toContain('Aborted');
  });

  it('a spec edit mid-flight is refused visibly; promote at a gate and abort work through annotations', async () => {
    const policy = `${SERVICE_POLICY}approvals:\n  - atWeight: 5\n`;
    env = await controllerEnv(prom(), { prefix: 'ctl-commands', scenario: { policy } });
    const e = env;
    await applyPlan(e, planObject(e, 'gated'));
    await waitPlan(e, 'gated', (o) => o?.status?.phase === 'awaitingApproval');
    expect(getPlan(e, 'gated')!.status!.possible).toContain('PROMOTE');

    // Edit the spec of the running migration: refused, visibly (condition + Event), not applied.
    await e.custom.patchNamespacedCustomObject(
      { ...MP, namespace: e.ns, name: 'gated', body: { spec: { notify: { slackChannel: '#elsewhere' } } } },
      MERGE,
    );
    const refused = await waitPlan(
      e,
      'gated',
      (o) => condition(o, 'SpecApplied')?.status === 'False',
      10_000,
    );
    expect(condition(refused, 'SpecApplied')).toMatchObject({ reason: 'SpecChangeRefused' });
    expect(condition(refused, 'SpecApplied')!.message).toMatch(/generation 2\).*keeps running generation 1/);
    expect(eventsFor(e, 'gated').map((x) => x.reason)).toContain('SpecChangeRefused');

    // kubectl annotate mp/gated meshshift.io/command=promote
    await annotate(e, 'gated', {
      'meshshift.io/command': 'promote',
      'meshshift.io/command-reason': 'looks good',
    });
    await waitPlan(e, 'gated', (o) => (o?.status?.weight ?? 0) >= 10);
    expect(getPlan(e, 'gated')!.metadata.annotations?.['meshshift.io/command']).toBeUndefined(); // consumed
    // A command the migration cannot take now is refused with an Event, not queued.
    await annotate(e, 'gated', { 'meshshift.io/command': 'resume' });
    await waitPlan(
      e,
      'gated',
      () => eventsFor(e, 'gated').some((x) => x.reason === 'CommandRefused'),
      10_000,
    );
    // kubectl annotate mp/gated meshshift.io/command=abort
    await annotate(e, 'gated', { 'meshshift.io/command': 'abort' });
    const aborted = await waitPlan(e, 'gated', (o) => o?.status?.phase === 'aborted', 30_000);
    expect(aborted!.status!.weight).toBe(0);
    expect(condition(aborted, 'Stalled')).toMatchObject({ status: 'True', reason: 'Aborted' });
    expect(e.s.weightWrites()[0]).toBe(1);
    expect(e.s.weightWrites()).toContain(10);
    expect(e.s.weightWrites().at(-1)).toBe(0);
    const reasons = eventsFor(e, 'gated').map((x) => x.reason);
    expect(reasons.filter((r) => r === 'CommandAccepted').length).toBe(2); // promote, abort: once each
  });
});
