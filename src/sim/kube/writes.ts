/**
 * Writes through the API: POST (create), PUT (replace), PATCH (merge / JSON patch; strategic merge for built-in
 * kinds) and DELETE, with kube's rules: optimistic locking, immutable fields, the /status subresource, admission,
 * no-op writes that change nothing, dry runs.
 */
import { randomBytes } from 'node:crypto';
import { validateVirtualService } from './admission.js';
import { checkCrd, crdStatus, isCrdType } from './crd.js';
import { admitCustom } from './custom-admission.js';
import { keepManagedFields, recordUpdate } from './managed-fields.js';
import { admitBuiltin, finalized, finalizersOf, keepDeletionFields, markDeleted } from './lifecycle.js';
import { asKubeObject, deepEqual, isRecord, jsonClone, type UnknownRecord } from './json.js';
import { JsonPatchError, applyJsonPatch } from './json-patch.js';
import { applyMergePatch } from './merge-patch.js';
import { isDryRun, type Ctx, type Target } from './request.js';
import {
  ISTIO_NETWORKING,
  MEDIA_JSON,
  MEDIA_JSON_PATCH,
  MEDIA_MERGE_PATCH,
  MEDIA_STRATEGIC_PATCH,
  groupVersion,
  objectKey,
  present,
} from './resources.js';
import {
  KubeStatusError,
  errBadRequest,
  errAlreadyExists,
  errConflict,
  errInvalid,
  errUnsupportedMediaType,
  refDetails,
  type FieldError,
  type StatusCause,
} from './status.js';
import { nextGeneration, type KubeStore } from './store.js';
import type { KubeObject } from './types.js';

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** Validates and normalizes a full object sent by a client (POST/PUT). */
function incoming(ctx: Ctx, target: Target): KubeObject {
  if (ctx.mediaType !== undefined && ctx.mediaType !== MEDIA_JSON && !ctx.mediaType.includes('yaml')) {
    throw errUnsupportedMediaType([MEDIA_JSON, 'application/yaml']);
  }
  if (ctx.parseError !== undefined)
    throw errBadRequest(`couldn't get version/kind; json parse error: ${ctx.parseError}`);
  const { rt, version } = target;
  const body = ctx.body;
  if (!isRecord(body)) throw errBadRequest('the request body must be a JSON object');
  const obj = jsonClone(body);
  const gv = groupVersion(rt.group, version);
  if (obj.kind === undefined || obj.kind === '') {
    if (!rt.builtin) throw errBadRequest(`Object 'Kind' is missing in '${JSON.stringify(body)}'`);
    obj.kind = rt.kind;
  } else if (obj.kind !== rt.kind) {
    throw errBadRequest(
      `the kind in the data (${String(obj.kind)}) does not match the expected kind (${rt.kind})`,
    );
  }
  if (obj.apiVersion === undefined || obj.apiVersion === '') {
    if (!rt.builtin) throw errBadRequest(`Object 'apiVersion' is missing in '${JSON.stringify(body)}'`);
    obj.apiVersion = gv;
  } else if (obj.apiVersion !== gv) {
    throw errBadRequest(
      `the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${gv})`,
    );
  }
  obj.metadata ??= {};
  if (!isRecord(obj.metadata)) throw errBadRequest('metadata must be an object');
  checkMetadataTypes(obj.metadata);
  return obj as KubeObject; // shape checked above; name is checked by the callers
}

/** Namespace in the body must agree with the URL (kube fills it in when absent). */
function checkNamespace(target: Target, obj: KubeObject): string {
  if (!target.rt.namespaced) {
    delete obj.metadata.namespace;
    return '';
  }
  const ns = target.namespace ?? '';
  if (
    obj.metadata.namespace !== undefined &&
    obj.metadata.namespace !== '' &&
    obj.metadata.namespace !== ns
  ) {
    throw errBadRequest(
      'the namespace of the provided object does not match the namespace sent on the request',
    );
  }
  obj.metadata.namespace = ns;
  return ns;
}

function admit(store: KubeStore, ctx: Ctx, target: Target, obj: KubeObject): void {
  const { rt } = target;
  admitBuiltin(rt, obj);
  admitCustom(ctx, target, obj);
  if (isCrdType(rt)) {
    checkCrd(rt, obj, store.types);
    obj.status = crdStatus(obj);
  }
  if (rt.group === ISTIO_NETWORKING && rt.kind === 'VirtualService') {
    const errors = validateVirtualService(obj);
    if (errors.length > 0) {
      throw errBadRequest(
        `admission webhook "validation.istio.io" denied the request: configuration is invalid: ${errors.join(', ')}`,
      );
    }
  }
}

function recordFields(ctx: Ctx, target: Target, before: KubeObject | undefined, after: KubeObject): void {
  if (ctx.recordFields) ctx.recordFields(before, after);
  else recordUpdate(ctx, target, before, after);
}

export function create(store: KubeStore, ctx: Ctx, target: Target): KubeObject {
  const { rt, version } = target;
  const obj = incoming(ctx, target);
  const meta = obj.metadata as UnknownRecord;
  if (
    (meta.name === undefined || meta.name === '') &&
    typeof meta.generateName === 'string' &&
    meta.generateName
  ) {
    meta.name = `${meta.generateName}${randomBytes(4).toString('hex').slice(0, 5)}`;
  }
  if (typeof meta.name !== 'string' || meta.name === '') {
    throw errInvalid(rt, '', [
      {
        field: 'metadata.name',
        type: 'FieldValueRequired',
        detail: 'Required value: name or generateName is required',
      },
    ]);
  }
  const name = meta.name;
  if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    throw errInvalid(rt, name, [
      {
        field: 'metadata.name',
        type: 'FieldValueInvalid',
        detail: `Invalid value: ${JSON.stringify(name)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
      },
    ]);
  }
  const namespace = checkNamespace(target, obj);
  if (rt.namespaced && !store.has(store.typeOrThrow('', 'namespaces'), '', namespace)) {
    throw new KubeStatusError(404, 'NotFound', `namespaces "${namespace}" not found`, {
      name: namespace,
      kind: 'namespaces',
    });
  }
  if (obj.metadata.resourceVersion !== undefined && obj.metadata.resourceVersion !== '') {
    throw errBadRequest('resourceVersion should not be set on objects to be created');
  }
  delete obj.metadata.resourceVersion;
  const key = objectKey(rt, namespace, name);
  if (store.has(rt, namespace, name)) throw errAlreadyExists(rt, name);
  if (rt.statusSubresource) delete obj.status; // status is written through /status only
  delete obj.metadata.deletionTimestamp; // server-owned
  delete obj.metadata.deletionGracePeriodSeconds;
  store.initSystemFields(rt, obj);
  delete obj.metadata.managedFields; // a create starts ownership afresh
  admit(store, ctx, target, obj);
  recordFields(ctx, target, undefined, obj);
  if (isDryRun(ctx)) return present(rt, version, obj);
  store.commit(key, rt, obj);
  return present(rt, version, obj);
}

export function replace(store: KubeStore, ctx: Ctx, target: Target): KubeObject {
  const { rt } = target;
  const name = target.name ?? '';
  const current = store.current(target);
  const obj = incoming(ctx, target);
  if (obj.metadata.name !== name) {
    throw errBadRequest(
      `the name of the object (${String(obj.metadata.name ?? '')}) does not match the name on the URL (${name})`,
    );
  }
  checkNamespace(target, obj);
  const rv = obj.metadata.resourceVersion;
  if (rv === undefined || rv === '') {
    // Custom resources never allow unconditional updates; built-in kinds (Service, Deployment…) do.
    if (!rt.builtin) {
      throw errInvalid(rt, name, [
        {
          field: 'metadata.resourceVersion',
          type: 'FieldValueInvalid',
          detail: 'Invalid value: 0x0: must be specified for an update',
        },
      ]);
    }
  } else if (rv !== current.metadata.resourceVersion) {
    throw errConflict(rt, name);
  }
  return commitUpdate(store, ctx, target, current, obj);
}

export function patch(store: KubeStore, ctx: Ctx, target: Target): KubeObject {
  const { rt, version } = target;
  const name = target.name ?? '';
  const current = store.current(target);
  const media = ctx.mediaType ?? '';
  const accepted = rt.builtin
    ? [MEDIA_JSON_PATCH, MEDIA_MERGE_PATCH, MEDIA_STRATEGIC_PATCH]
    : [MEDIA_JSON_PATCH, MEDIA_MERGE_PATCH];
  if (!accepted.includes(media)) throw errUnsupportedMediaType(accepted);
  if (ctx.parseError !== undefined) throw errBadRequest(`error decoding patch: ${ctx.parseError}`);

  const base = present(rt, version, current);
  let patched: unknown;
  if (media === MEDIA_JSON_PATCH) {
    if (!Array.isArray(ctx.body)) throw errBadRequest('json patch must be a JSON array of operations');
    try {
      patched = applyJsonPatch(base, ctx.body);
    } catch (err) {
      if (!(err instanceof JsonPatchError)) throw err;
      const cause: StatusCause = { reason: 'FieldValueInvalid', message: err.message };
      if (err.path !== undefined) cause.field = err.path;
      throw new KubeStatusError(422, 'Invalid', err.message, {
        ...refDetails(rt, name, rt.kind),
        causes: [cause],
      });
    }
  } else {
    // Merge patch, and strategic merge for built-in kinds (approximated as a merge patch).
    if (!isRecord(ctx.body)) throw errBadRequest('merge patch must be a JSON object');
    patched = applyMergePatch(base, ctx.body);
  }

  if (!isRecord(patched) || !isRecord(patched.metadata))
    throw errBadRequest('the patched object is not a valid object');
  if (patched.kind !== rt.kind || patched.apiVersion !== base.apiVersion) {
    throw errBadRequest('a patch cannot change apiVersion or kind');
  }
  checkMetadataTypes(patched.metadata);
  const meta = patched.metadata;
  const immutable: FieldError[] = [];
  if (meta.name !== name) {
    immutable.push({
      field: 'metadata.name',
      type: 'FieldValueInvalid',
      detail: `Invalid value: ${JSON.stringify(meta.name ?? '')}: field is immutable`,
    });
  }
  if (rt.namespaced && meta.namespace !== current.metadata.namespace) {
    immutable.push({
      field: 'metadata.namespace',
      type: 'FieldValueInvalid',
      detail: `Invalid value: ${JSON.stringify(meta.namespace ?? '')}: field is immutable`,
    });
  }
  if (immutable.length > 0) throw errInvalid(rt, name, immutable);
  // A resourceVersion left in the patched object is a precondition (absent = unconditional).
  if (meta.resourceVersion !== undefined && meta.resourceVersion !== current.metadata.resourceVersion) {
    throw errConflict(rt, name);
  }
  return commitUpdate(store, ctx, target, current, asKubeObject(patched));
}

/**
 * Shared tail of PUT and PATCH: restore server-owned fields, apply /status rules, admit, detect no-ops
 * (kube does not bump resourceVersion or emit an event for a write that changes nothing), commit.
 */
export function commitUpdate(
  store: KubeStore,
  ctx: Ctx,
  target: Target,
  current: KubeObject,
  next: KubeObject,
): KubeObject {
  const { rt, version } = target;
  const currentView = present(rt, version, current);
  let result: KubeObject;
  if (target.subresource === 'status') {
    // Only .status changes through /status.
    result = jsonClone(currentView);
    if (next.status === undefined) delete result.status;
    else result.status = jsonClone(next.status);
  } else {
    result = next;
    if (rt.statusSubresource) {
      if (currentView.status === undefined) delete result.status;
      else result.status = jsonClone(currentView.status);
    }
  }
  result.metadata.uid = current.metadata.uid;
  result.metadata.creationTimestamp = current.metadata.creationTimestamp;
  result.metadata.generation = current.metadata.generation;
  result.metadata.resourceVersion = current.metadata.resourceVersion;
  if (rt.namespaced) result.metadata.namespace = current.metadata.namespace;
  keepManagedFields(current, result);
  keepDeletionFields(rt, current, result);
  admit(store, ctx, target, result);
  recordFields(ctx, target, currentView, result);
  if (deepEqual(currentView, result)) return currentView;
  result.metadata.generation = nextGeneration(current, result);
  if (isDryRun(ctx)) return result;
  store.commit(store.keyOf(target, result.metadata.name), rt, result, current);
  if (finalized(result)) {
    // The last finalizer went: the object goes now (the update is followed by DELETED, as in kube).
    const namespace = rt.namespaced ? (result.metadata.namespace ?? '') : '';
    return present(rt, version, store.deleteStored(rt, namespace, result.metadata.name));
  }
  return present(rt, version, result);
}

export function remove(store: KubeStore, ctx: Ctx, target: Target): KubeObject {
  const { rt, version } = target;
  const name = target.name ?? '';
  const current = store.current(target);
  // DeleteOptions.preconditions, as sent by `kubectl delete --resource-version` and friends.
  const pre = isRecord(ctx.body) && isRecord(ctx.body.preconditions) ? ctx.body.preconditions : undefined;
  if (typeof pre?.resourceVersion === 'string' && pre.resourceVersion !== current.metadata.resourceVersion) {
    throw errConflict(
      rt,
      name,
      `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${String(current.metadata.resourceVersion)}`,
    );
  }
  if (typeof pre?.uid === 'string' && pre.uid !== current.metadata.uid) {
    throw errConflict(
      rt,
      name,
      `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${String(current.metadata.uid)}`,
    );
  }
  if (isDryRun(ctx)) return present(rt, version, current);
  if (finalizersOf(current).length > 0) {
    // Finalizers pending: only mark the object (once); it goes when the last finalizer is removed.
    if (current.metadata.deletionTimestamp !== undefined) return present(rt, version, current);
    const marked = markDeleted(current);
    store.commit(store.keyOf(target, name), rt, marked, current);
    return present(rt, version, marked);
  }
  const namespace = rt.namespaced ? (target.namespace ?? '') : '';
  return present(rt, version, store.deleteStored(rt, namespace, name));
}

/** Labels and annotations must be string maps (kube would fail to decode otherwise). */
function checkMetadataTypes(meta: UnknownRecord): void {
  for (const field of ['labels', 'annotations'] as const) {
    const map = meta[field];
    if (map === undefined || map === null) continue;
    if (!isRecord(map) || Object.values(map).some((v) => typeof v !== 'string')) {
      throw errBadRequest(`metadata.${field} must be a map of string to string`);
    }
  }
  if (meta.name !== undefined && typeof meta.name !== 'string')
    throw errBadRequest('metadata.name must be a string');
  if (meta.namespace !== undefined && typeof meta.namespace !== 'string') {
    throw errBadRequest('metadata.namespace must be a string');
  }
}
