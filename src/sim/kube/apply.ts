/**
 * Server-side apply (`PATCH` with `application/apply-patch+yaml`, what `kubectl apply --server-side` and Flux
 * send): the applied configuration is merged into the live object (maps recursively, map-lists by their keys,
 * metadata.finalizers as a set, other lists replaced); fields this manager applied before and no longer applies
 * are removed unless someone else owns them; a field owned by another manager with a different value is a 409
 * Conflict naming each field, unless `force=true`, which takes it over. The object is created when absent.
 */
import { deepEqual, isRecord, jsonClone, type UnknownRecord } from './json.js';
import {
  entriesOf,
  fieldValues,
  fromFieldsV1,
  itemKey,
  managerOf,
  mapListKeys,
  nowTime,
  sameEntry,
  setManaged,
  toFieldsV1,
  type ManagedEntry,
} from './managed-fields.js';
import type { Ctx, Reply, Target } from './request.js';
import { groupVersion, present } from './resources.js';
import type { Schema } from './schema.js';
import { KubeStatusError, errBadRequest, refDetails } from './status.js';
import type { KubeStore } from './store.js';
import type { KubeObject } from './types.js';
import { commitUpdate, create } from './writes.js';

interface Conflict {
  manager: string;
  apiVersion: string;
  field: string;
}

/** `["f:status","f:conditions","k:{\"type\":\"Ready\"}","f:status"]` → `.status.conditions[type="Ready"].status`. */
function fieldLabel(path: string): string {
  return (JSON.parse(path) as string[])
    .filter((k) => k !== '.')
    .map((k) => {
      if (k.startsWith('f:')) return `.${k.slice(2)}`;
      if (k.startsWith('v:')) return `[${k.slice(2)}]`;
      const keys = JSON.parse(k.slice(2)) as UnknownRecord;
      return `[${Object.entries(keys)
        .map(([a, b]) => `${a}=${JSON.stringify(b)}`)
        .join(',')}]`;
    })
    .join('');
}

function errConflicts(target: Target, name: string, conflicts: Conflict[]): KubeStatusError {
  const lines = conflicts.map(
    (c) => `conflict with ${JSON.stringify(c.manager)} using ${c.apiVersion}: ${fieldLabel(c.field)}`,
  );
  const msg =
    conflicts.length === 1
      ? `Apply failed with 1 conflict: ${lines[0] ?? ''}`
      : `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`;
  return new KubeStatusError(409, 'Conflict', msg, {
    ...refDetails(target.rt, name),
    causes: conflicts.map((c) => ({
      reason: 'FieldManagerConflict',
      message: `conflict with ${JSON.stringify(c.manager)} using ${c.apiVersion}`,
      field: fieldLabel(c.field),
    })),
  });
}

const childSchema = (s: Schema | undefined, key: string): Schema | undefined => {
  if (!s) return undefined;
  const props = isRecord(s.properties) ? s.properties : undefined;
  if (props && isRecord(props[key])) return props[key];
  return isRecord(s.additionalProperties) ? s.additionalProperties : undefined;
};

/** Merges an applied value into a live one (see the file comment). */
function merge(live: unknown, applied: unknown, s: Schema | undefined, setList: boolean): unknown {
  if (isRecord(live) && isRecord(applied)) {
    const out = jsonClone(live);
    for (const [k, v] of Object.entries(applied)) out[k] = merge(out[k], v, childSchema(s, k), false);
    return out;
  }
  const keys = mapListKeys(s);
  if (Array.isArray(live) && Array.isArray(applied) && keys) {
    const out = jsonClone(live).filter(isRecord);
    const items = isRecord(s?.items) ? s.items : undefined;
    for (const item of applied.filter(isRecord)) {
      const i = out.findIndex((x) => itemKey(x, keys) === itemKey(item, keys));
      if (i >= 0) out[i] = merge(out[i], item, items, false) as UnknownRecord;
      else out.push(jsonClone(item));
    }
    return out;
  }
  if (Array.isArray(live) && Array.isArray(applied) && setList) {
    return [...live, ...applied.filter((x) => !live.some((y) => deepEqual(x, y)))];
  }
  return jsonClone(applied);
}

/** Removes one field (a FieldsV1 path) from an object, and the maps it leaves empty on the way up. */
function removeField(obj: unknown, path: readonly string[]): void {
  const [head, ...rest] = path;
  if (head === undefined) return;
  const next = rest[0];
  if (isRecord(obj) && head.startsWith('f:')) {
    const key = head.slice(2);
    if (rest.length === 0) delete obj[key];
    else if (Array.isArray(obj[key]) && next?.startsWith('v:')) {
      obj[key] = (obj[key] as unknown[]).filter((x) => JSON.stringify(x) !== next.slice(2));
    } else {
      removeField(obj[key], rest);
      const child = obj[key];
      if (isRecord(child) && Object.keys(child).length === 0) delete obj[key];
    }
    return;
  }
  if (Array.isArray(obj) && head.startsWith('k:')) {
    const keys = JSON.parse(head.slice(2)) as UnknownRecord;
    const i = obj.findIndex((x) => isRecord(x) && Object.entries(keys).every(([k, v]) => deepEqual(x[k], v)));
    if (i < 0) return;
    if (next === '.') obj.splice(i, 1);
    else removeField(obj[i], rest);
  }
}

function scopeOf(target: Target): 'main' | 'status' | 'all' {
  if (!target.rt.statusSubresource) return 'all';
  return target.subresource === 'status' ? 'status' : 'main';
}

/** The applied configuration, checked as kube checks it. */
function appliedConfig(ctx: Ctx, target: Target): UnknownRecord {
  if (ctx.parseError !== undefined) throw errBadRequest(`error decoding YAML: ${ctx.parseError}`);
  const body = ctx.body;
  if (!isRecord(body) || !isRecord(body.metadata))
    throw errBadRequest('the applied configuration must be an object with metadata');
  const gv = groupVersion(target.rt.group, target.version);
  if (body.apiVersion !== gv || body.kind !== target.rt.kind) {
    throw errBadRequest(`the applied configuration must have apiVersion ${gv} and kind ${target.rt.kind}`);
  }
  if (body.metadata.name !== target.name) {
    throw errBadRequest(
      `the name of the object (${String(body.metadata.name)}) does not match the name on the URL (${String(target.name)})`,
    );
  }
  return jsonClone(body);
}

/** The live object with the applied configuration merged in (metadata: labels, annotations, owners, finalizers). */
function mergeApplied(
  base: UnknownRecord,
  applied: UnknownRecord,
  schema: Schema | undefined,
): UnknownRecord {
  for (const [k, v] of Object.entries(applied)) {
    if (k === 'apiVersion' || k === 'kind') continue;
    if (k === 'metadata' && isRecord(v)) {
      const meta = base.metadata as UnknownRecord;
      for (const m of ['labels', 'annotations', 'ownerReferences']) {
        if (v[m] !== undefined) meta[m] = merge(meta[m], v[m], undefined, false);
      }
      if (v.finalizers !== undefined) meta.finalizers = merge(meta.finalizers, v.finalizers, undefined, true);
      continue;
    }
    base[k] = merge(base[k], v, childSchema(schema, k), false);
  }
  return base;
}

interface Ownership {
  conflicts: Conflict[];
  /** Every other manager's entry, unchanged. */
  others: ManagedEntry[];
  /** What this manager applied before, and when (kept when its field set does not change). */
  previous: Set<string>;
  previousTime?: string;
}

/** Who owns what the applied configuration sets, and where it differs from the live value. */
function ownership(
  live: KubeObject,
  manager: string,
  sub: string | undefined,
  applied: Map<string, unknown>,
  liveFields: Map<string, unknown>,
): Ownership {
  const out: Ownership = { conflicts: [], others: [], previous: new Set() };
  for (const e of entriesOf(live)) {
    const owned = fromFieldsV1(e.fieldsV1);
    if (sameEntry(e, manager, 'Apply', sub)) {
      out.previous = owned;
      // An unchanged field set keeps its time, so re-applying the same configuration is a no-op.
      if (owned.size === applied.size && [...owned].every((f) => applied.has(f))) out.previousTime = e.time;
      continue;
    }
    for (const f of owned) {
      if (applied.has(f) && !deepEqual(liveFields.get(f), applied.get(f))) {
        out.conflicts.push({ manager: e.manager, apiVersion: e.apiVersion, field: f });
      }
    }
    out.others.push(e);
  }
  return out;
}

/**
 * kube's client-side → server-side apply upgrade: for the manager `kubectl` only, conflicts on fields of the
 * `kubectl.kubernetes.io/last-applied-configuration` annotation are taken over without `force`.
 */
function lastAppliedFields(
  live: KubeObject,
  manager: string,
  schema: Schema | undefined,
  scope: 'main' | 'status' | 'all',
): Set<string> {
  const raw = live.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration'];
  if (manager !== 'kubectl' || raw === undefined) return new Set();
  try {
    const parsed = JSON.parse(raw) as unknown;
    return isRecord(parsed) ? new Set(fieldValues(parsed, schema, scope).keys()) : new Set();
  } catch {
    return new Set();
  }
}

export function serverSideApply(store: KubeStore, ctx: Ctx, target: Target): Reply {
  const applied = appliedConfig(ctx, target);
  const manager = managerOf(ctx, true);
  const force = /^(true|1)$/i.test(ctx.params.get('force') ?? '');
  const schema = target.rt.crd?.schemas[target.version];
  const scope = scopeOf(target);
  const apiVersion = groupVersion(target.rt.group, target.version);
  const appliedFields = fieldValues(applied, schema, scope);
  const mine = (time?: string): ManagedEntry => {
    const e: ManagedEntry = {
      manager,
      operation: 'Apply',
      apiVersion,
      time: time ?? nowTime(),
      fieldsType: 'FieldsV1',
      fieldsV1: toFieldsV1(appliedFields.keys()),
    };
    if (target.subresource !== undefined) e.subresource = target.subresource;
    return e;
  };

  if (!store.has(target.rt, target.rt.namespaced ? (target.namespace ?? '') : '', target.name ?? '')) {
    if (target.subresource !== undefined) store.current(target); // 404, as kube
    const createCtx: Ctx = {
      ...ctx,
      body: applied,
      recordFields: (_before, after) => setManaged(after, [mine()]),
    };
    return { code: 201, body: create(store, createCtx, { ...target }) };
  }

  const current = store.current(target);
  const live = present(target.rt, target.version, current);
  const own = ownership(live, manager, target.subresource, appliedFields, fieldValues(live, schema, scope));
  const allowed = lastAppliedFields(live, manager, schema, scope);
  const forced = force || (own.conflicts.length > 0 && own.conflicts.every((c) => allowed.has(c.field)));
  if (own.conflicts.length > 0 && !forced) throw errConflicts(target, target.name ?? '', own.conflicts);
  const clashing = new Set(forced ? own.conflicts.map((c) => `${c.manager}\n${c.field}`) : []);
  const others = own.others
    .map((e) => ({
      ...e,
      fieldsV1: toFieldsV1([...fromFieldsV1(e.fieldsV1)].filter((f) => !clashing.has(`${e.manager}\n${f}`))),
    }))
    .filter((e) => Object.keys(e.fieldsV1).length > 0);
  const ownedByOthers = new Set(others.flatMap((e) => [...fromFieldsV1(e.fieldsV1)]));
  const base = jsonClone(live);
  for (const f of own.previous) {
    if (!appliedFields.has(f) && !ownedByOthers.has(f)) removeField(base, JSON.parse(f) as string[]);
  }
  const next = mergeApplied(base as UnknownRecord, applied, schema);
  const applyCtx: Ctx = {
    ...ctx,
    recordFields: (_before, after) => setManaged(after, [...others, mine(own.previousTime)]),
  };
  return { code: 200, body: commitUpdate(store, applyCtx, target, current, next as KubeObject) };
}
