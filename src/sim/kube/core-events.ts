/**
 * core/v1 Events as a view of the events.k8s.io/v1 store: kube-apiserver keeps one store and serves it under both
 * APIs, and `kubectl describe` reads core/v1 (`fieldSelector=involvedObject.name=…,involvedObject.kind=…`).
 * Here the core/v1 view is read-only (get, list, watch; discovery says so): everything that writes Events
 * (meshshift's controller, client-go's new recorder) uses events.k8s.io/v1.
 */
import { isRecord, type UnknownRecord } from './json.js';
import type { KubeObject } from './types.js';

/** Fields a core/v1 Event field selector may name (kube's event field set). */
export const CORE_EVENT_FIELDS = [
  'involvedObject.kind',
  'involvedObject.namespace',
  'involvedObject.name',
  'involvedObject.uid',
  'involvedObject.apiVersion',
  'involvedObject.resourceVersion',
  'involvedObject.fieldPath',
  'reason',
  'reportingComponent',
  'source',
  'type',
] as const;

const copyIf = (out: UnknownRecord, key: string, value: unknown): void => {
  if (value !== undefined && value !== null) out[key] = value;
};

/** An events.k8s.io/v1 Event as core/v1 serves it (kube's conversion). */
export function toCoreEvent(ev: KubeObject): KubeObject {
  const source = isRecord(ev.deprecatedSource)
    ? ev.deprecatedSource
    : typeof ev.reportingController === 'string'
      ? { component: ev.reportingController }
      : {};
  const out: KubeObject = {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: ev.metadata,
    involvedObject: ev.regarding ?? {},
    source,
    firstTimestamp: ev.deprecatedFirstTimestamp ?? null,
    lastTimestamp: ev.deprecatedLastTimestamp ?? null,
    eventTime: ev.eventTime ?? null,
    reportingComponent: ev.reportingController ?? '',
    reportingInstance: ev.reportingInstance ?? '',
  };
  copyIf(out, 'reason', ev.reason);
  copyIf(out, 'message', ev.note);
  copyIf(out, 'type', ev.type);
  copyIf(out, 'action', ev.action);
  copyIf(out, 'related', ev.related);
  copyIf(out, 'count', ev.deprecatedCount);
  if (isRecord(ev.series))
    out.series = { count: ev.series.count, lastObservedTime: ev.series.lastObservedTime };
  return out;
}

/** The value a field selector compares for a core/v1 Event (`source` is source.component, as in kube). */
export function coreEventField(ev: KubeObject, field: string): string {
  if (field === 'source') return isRecord(ev.source) ? String(ev.source.component ?? '') : '';
  let cur: unknown = ev;
  for (const part of field.split('.')) cur = isRecord(cur) ? cur[part] : undefined;
  return cur === undefined || cur === null ? '' : String(cur as string | number);
}
