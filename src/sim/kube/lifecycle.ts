/**
 * Object lifecycle rules a controller depends on: finalizers and `deletionTimestamp` (a DELETE on an object with
 * finalizers only marks it; it goes when the last finalizer is removed), and built-in admission for Events
 * (events.k8s.io/v1 required fields) and Leases (coordination.k8s.io/v1 field types).
 */
import { isRecord } from './json.js';
import { COORDINATION_GROUP, EVENTS_GROUP, type ResourceType } from './resources.js';
import { KubeStatusError, errInvalid, refDetails, type FieldError } from './status.js';
import type { KubeObject } from './types.js';

const nowTimestamp = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

export const finalizersOf = (obj: KubeObject): string[] =>
  Array.isArray(obj.metadata.finalizers) ? (obj.metadata.finalizers as string[]) : [];

/** The marked copy a DELETE produces for an object that still has finalizers (generation + 1, as kube does). */
export function markDeleted(current: KubeObject): KubeObject {
  const next = structuredClone(current);
  next.metadata.deletionTimestamp = nowTimestamp();
  next.metadata.deletionGracePeriodSeconds = 0;
  next.metadata.generation = (current.metadata.generation ?? 1) + 1;
  return next;
}

/**
 * Keeps the server-owned deletion fields on an update and refuses new finalizers on an object being deleted
 * (kube: "Forbidden: no new finalizers can be added if the object is being deleted").
 */
export function keepDeletionFields(rt: ResourceType, current: KubeObject, next: KubeObject): void {
  const meta = next.metadata;
  if (current.metadata.deletionTimestamp === undefined) {
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    return;
  }
  meta.deletionTimestamp = current.metadata.deletionTimestamp;
  meta.deletionGracePeriodSeconds = current.metadata.deletionGracePeriodSeconds;
  const added = finalizersOf(next).filter((f) => !finalizersOf(current).includes(f));
  if (added.length > 0) {
    throw new KubeStatusError(
      422,
      'Invalid',
      `${rt.kind} "${meta.name}" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`,
      {
        ...refDetails(rt, meta.name, rt.kind),
        causes: [
          {
            reason: 'FieldValueForbidden',
            field: 'metadata.finalizers',
            message: 'no new finalizers can be added if the object is being deleted',
          },
        ],
      },
    );
  }
}

/** True when an update leaves an object being deleted with no finalizers: it must go now. */
export const finalized = (obj: KubeObject): boolean =>
  obj.metadata.deletionTimestamp !== undefined && finalizersOf(obj).length === 0;

const EVENT_REQUIRED = [
  'reason',
  'note',
  'type',
  'reportingController',
  'reportingInstance',
  'action',
] as const;

function eventErrors(obj: KubeObject): FieldError[] {
  const errors: FieldError[] = [];
  const required = (field: string): void => {
    errors.push({ field, type: 'FieldValueRequired', detail: 'Required value' });
  };
  const regarding = obj.regarding;
  if (!isRecord(regarding) || typeof regarding.kind !== 'string' || typeof regarding.name !== 'string')
    required('regarding');
  for (const f of EVENT_REQUIRED) if (typeof obj[f] !== 'string' || obj[f] === '') required(f);
  if (typeof obj.eventTime !== 'string' || Number.isNaN(Date.parse(obj.eventTime))) required('eventTime');
  if (typeof obj.type === 'string' && obj.type !== '' && obj.type !== 'Normal' && obj.type !== 'Warning') {
    errors.push({
      field: 'type',
      type: 'FieldValueInvalid',
      detail: `Invalid value: ${JSON.stringify(obj.type)}: has invalid value, must be one of: Normal, Warning`,
    });
  }
  if (typeof obj.note === 'string' && Buffer.byteLength(obj.note) > 1024)
    errors.push({
      field: 'note',
      type: 'FieldValueTooLong',
      detail: 'Too long: may not be longer than 1024',
    });
  if (typeof obj.action === 'string' && obj.action.length > 128)
    errors.push({
      field: 'action',
      type: 'FieldValueTooLong',
      detail: 'Too long: may not be longer than 128',
    });
  return errors;
}

function leaseErrors(obj: KubeObject): FieldError[] {
  const spec = obj.spec;
  if (spec === undefined) return [];
  if (!isRecord(spec)) return [{ field: 'spec', type: 'FieldValueInvalid', detail: 'must be an object' }];
  const errors: FieldError[] = [];
  const d = spec.leaseDurationSeconds;
  if (d !== undefined && (!Number.isInteger(d) || (d as number) <= 0))
    errors.push({
      field: 'spec.leaseDurationSeconds',
      type: 'FieldValueInvalid',
      detail: 'must be greater than 0',
    });
  for (const f of ['holderIdentity', 'renewTime', 'acquireTime'] as const) {
    if (spec[f] !== undefined && spec[f] !== null && typeof spec[f] !== 'string')
      errors.push({ field: `spec.${f}`, type: 'FieldValueInvalid', detail: 'must be a string' });
  }
  return errors;
}

/** Built-in admission for Events and Leases (422 Invalid naming the fields). */
export function admitBuiltin(rt: ResourceType, obj: KubeObject): void {
  const errors =
    rt.group === EVENTS_GROUP ? eventErrors(obj) : rt.group === COORDINATION_GROUP ? leaseErrors(obj) : [];
  if (errors.length > 0) throw errInvalid(rt, obj.metadata.name, errors);
}
