/**
 * Kubernetes Events (events.k8s.io/v1) on the MigrationPlan, one per story beat in its history: weight changes,
 * failed or inconclusive verdicts with their reason, pauses, approvals, rollbacks, commands and completion. Event
 * names derive from the history entry's id, so a controller that restarts (or a new leader) re-creating the same
 * Event gets AlreadyExists instead of a duplicate.
 */
import * as k8s from '@kubernetes/client-node';
import type { StoredRecord } from '../engine/history.js';
import { KubeApiError, toKubeError } from '../mesh/kube/errors.js';
import { CRD_GROUP, CRD_KIND, CRD_VERSION } from './crd-schema.js';

export const REPORTING_CONTROLLER = 'meshshift.io/controller';
const EVENTS_GROUP = 'events.k8s.io';
const EVENTS_PLURAL = 'events';

export interface EventSpec {
  type: 'Normal' | 'Warning';
  reason: string;
  action: string;
  note: string;
}

const pct = (v: number): string => `${v} %`;
const because = (reason: string | undefined): string => (reason ? `: ${reason}` : '');

const normal = (reason: string, action: string, note: string): EventSpec => ({
  type: 'Normal',
  reason,
  action,
  note,
});
/** A Warning event (also the controller's own: invalid specs, refused commands). */
export const warning = (reason: string, action: string, note: string): EventSpec => ({
  type: 'Warning',
  reason,
  action,
  note,
});

type Entry<T extends StoredRecord['type']> = Extract<StoredRecord, { type: T }>;

/** The Event for one history entry, or undefined when it is not part of the story (passing verdicts, …). */
export function eventForEntry(e: StoredRecord): EventSpec | undefined {
  switch (e.type) {
    case 'submitted':
      return normal('Submitted', 'Submit', `submitted by ${e.by}`);
    case 'started':
      return normal('Started', 'Start', `steps ${JSON.stringify(e.steps)}`);
    case 'weight':
      return e.rollback
        ? warning('RolledBackWeight', 'Rollback', `weight ${pct(e.previous)} → ${pct(e.weight)} (rollback)`)
        : e.reason
          ? warning('SteppedBack', 'StepBack', `weight ${pct(e.previous)} → ${pct(e.weight)}: ${e.reason}`)
          : normal('WeightChanged', 'Shift', `weight ${pct(e.previous)} → ${pct(e.weight)} on the target`);
    case 'verdict':
      if (e.outcome === 'pass') return undefined;
      return warning(
        e.outcome === 'fail' ? 'AnalysisFailed' : 'AnalysisInconclusive',
        'Analyse',
        `at ${pct(e.weight)}: ${e.summary || e.outcome}`,
      );
    case 'phase':
      return phaseEvent(e);
    case 'command':
      return e.accepted
        ? normal('CommandAccepted', e.command, `${e.command} by ${e.by ?? 'unknown'}`)
        : warning('CommandRefused', e.command, `${e.command} refused: ${e.refused ?? ''}`);
    case 'finished':
      return finishedEvent(e);
    case 'takeover':
      return normal('WorkerTakeover', 'Takeover', e.text);
    default:
      return undefined;
  }
}

function phaseEvent(e: Entry<'phase'>): EventSpec | undefined {
  if (e.phase === 'paused')
    return warning('Paused', 'Pause', `paused at ${pct(e.weight)}${because(e.reason)}`);
  if (e.phase === 'awaitingApproval')
    return normal('AwaitingApproval', 'Gate', `waiting for promote at ${pct(e.weight)}`);
  if (e.phase === 'rollingBack')
    return warning('RollingBack', 'Rollback', `rolling back${because(e.reason)}`);
  return undefined;
}

function finishedEvent(e: Entry<'finished'>): EventSpec {
  if (e.phase === 'completed') return normal('Completed', 'Complete', 'all traffic is on the target (100 %)');
  return warning(
    e.phase === 'aborted' ? 'Aborted' : e.phase === 'failed' ? 'Failed' : 'RolledBack',
    'Finish',
    `${e.phase}${because(e.reason)}`,
  );
}

/** A note fits the API server's 1 kB limit. */
const clip = (s: string): string => (Buffer.byteLength(s) <= 1000 ? s : `${s.slice(0, 990)}…`);

export interface Regarding {
  name: string;
  namespace: string;
  uid: string;
  resourceVersion?: string;
}

export class EventRecorder {
  private readonly api: k8s.CustomObjectsApi;
  constructor(
    kc: k8s.KubeConfig,
    private readonly instance: string,
  ) {
    this.api = kc.makeApiClient(k8s.CustomObjectsApi);
  }

  /** Creates the Event named `key` (idempotent: an existing one is left as it is). */
  async record(obj: Regarding, key: string, ev: EventSpec, at = Date.now()): Promise<void> {
    const name = `${obj.name}.${key}`
      .toLowerCase()
      .replace(/[^a-z0-9.-]/g, '-')
      .slice(0, 253);
    const body = {
      apiVersion: `${EVENTS_GROUP}/v1`,
      kind: 'Event',
      metadata: { name, namespace: obj.namespace },
      regarding: {
        apiVersion: `${CRD_GROUP}/${CRD_VERSION}`,
        kind: CRD_KIND,
        name: obj.name,
        namespace: obj.namespace,
        uid: obj.uid,
      },
      eventTime: new Date(at).toISOString().replace('Z', '000Z'),
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: this.instance,
      type: ev.type,
      reason: ev.reason,
      action: ev.action,
      note: clip(ev.note),
    };
    try {
      await this.api.createNamespacedCustomObject({
        group: EVENTS_GROUP,
        version: 'v1',
        namespace: obj.namespace,
        plural: EVENTS_PLURAL,
        body,
      });
    } catch (err) {
      const e = toKubeError(err, `create Event ${name}`);
      if (e instanceof KubeApiError && e.code === 409) return;
      throw e;
    }
  }
}
