/** Kubernetes `Status` errors, shaped exactly like kube-apiserver's (reason, message wording, details, code). */
import { qualifiedKind, qualifiedResource, type ResourceType } from './resources.js';

export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

/** The `Status` object kube sends for every error. */
export interface KubeStatus {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message: string;
  reason: string;
  details?: StatusDetails;
  code: number;
}

/**
 * An error that the server turns into a kube `Status` response. Thrown internally, and usable from an
 * onRequest hook to inject failures: `throw new KubeStatusError(429, 'TooManyRequests', 'slow down',
 * { retryAfterSeconds: 1 })` (a Retry-After header is sent when retryAfterSeconds is set).
 */
export class KubeStatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
    this.name = 'KubeStatusError';
  }

  toStatus(): KubeStatus {
    const status: KubeStatus = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      code: this.code,
    };
    // Keep kube's key order: ..., reason, details, code.
    if (this.details === undefined) return status;
    const { code, ...rest } = status;
    return { ...rest, details: this.details, code };
  }
}

export function refDetails(rt: ResourceType, name: string, kind: string = rt.plural): StatusDetails {
  return rt.group ? { name, group: rt.group, kind } : { name, kind };
}

export const errNotFound = (rt: ResourceType, name: string): KubeStatusError =>
  new KubeStatusError(404, 'NotFound', `${qualifiedResource(rt)} "${name}" not found`, refDetails(rt, name));

export const errAlreadyExists = (rt: ResourceType, name: string): KubeStatusError =>
  new KubeStatusError(
    409,
    'AlreadyExists',
    `${qualifiedResource(rt)} "${name}" already exists`,
    refDetails(rt, name),
  );

export const STALE =
  'the object has been modified; please apply your changes to the latest version and try again';
export const errConflict = (rt: ResourceType, name: string, why: string = STALE): KubeStatusError =>
  new KubeStatusError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualifiedResource(rt)} "${name}": ${why}`,
    refDetails(rt, name),
  );

export interface FieldError {
  field: string;
  /** kube cause reason, e.g. FieldValueInvalid, FieldValueRequired. */
  type: string;
  detail: string;
}

export function errInvalid(rt: ResourceType, name: string, fieldErrors: FieldError[]): KubeStatusError {
  const parts = fieldErrors.map((e) => `${e.field}: ${e.detail}`);
  const summary = parts.length === 1 ? (parts[0] ?? '') : `[${parts.join(', ')}]`;
  return new KubeStatusError(422, 'Invalid', `${qualifiedKind(rt)} "${name}" is invalid: ${summary}`, {
    ...refDetails(rt, name, rt.kind),
    causes: fieldErrors.map((e) => ({ reason: e.type, message: e.detail, field: e.field })),
  });
}

export const errBadRequest = (message: string): KubeStatusError =>
  new KubeStatusError(400, 'BadRequest', message);

export const errPathNotFound = (): KubeStatusError =>
  new KubeStatusError(404, 'NotFound', 'the server could not find the requested resource', {});

export const errMethodNotAllowed = (): KubeStatusError =>
  new KubeStatusError(
    405,
    'MethodNotAllowed',
    'the server does not allow this method on the requested resource',
    {},
  );

export const errUnsupportedMediaType = (accepted: readonly string[]): KubeStatusError =>
  new KubeStatusError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
  );
