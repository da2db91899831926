/**
 * Field ownership (`metadata.managedFields`, FieldsV1) as kube-apiserver tracks it on every write:
 *  - an object's fields are paths of FieldsV1 keys: `f:<field>`, `k:{"type":"Ready"}` for an item of a
 *    map-list (`x-kubernetes-list-type: map`), `v:<value>` for an item of a set (metadata.finalizers), `.` for the
 *    item itself; other lists are atomic (one field);
 *  - an Update (POST/PUT/PATCH) gives its manager the fields it changed and takes them from everyone else;
 *  - an Apply (server-side apply, apply.ts) owns exactly the fields of the applied configuration.
 * Entries are per (manager, operation, subresource); the manager comes from `fieldManager` or the User-Agent.
 */
import { deepEqual, isRecord, type UnknownRecord } from './json.js';
import type { Ctx, Target } from './request.js';
import { groupVersion } from './resources.js';
import type { Schema } from './schema.js';
import { errBadRequest } from './status.js';
import type { KubeObject } from './types.js';

/** A field (path of FieldsV1 keys, JSON-encoded) → its value (`.` entries: the list item). */
export type FieldValues = Map<string, unknown>;

export interface ManagedEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  fieldsType: 'FieldsV1';
  fieldsV1: UnknownRecord;
  subresource?: string;
}

const OWNED_METADATA = ['labels', 'annotations', 'finalizers', 'ownerReferences'];
const SET_LISTS = new Set(['["f:metadata","f:finalizers"]']);

const child = (s: Schema | undefined, key: string): Schema | undefined => {
  if (!s) return undefined;
  const props = isRecord(s.properties) ? s.properties : undefined;
  if (props && isRecord(props[key])) return props[key];
  return isRecord(s.additionalProperties) ? s.additionalProperties : undefined;
};

export const mapListKeys = (s: Schema | undefined): string[] | undefined =>
  s?.['x-kubernetes-list-type'] === 'map' && Array.isArray(s['x-kubernetes-list-map-keys'])
    ? (s['x-kubernetes-list-map-keys'] as string[])
    : undefined;

/** kube's `k:` key of a map-list item: its key fields, in key order. */
export const itemKey = (item: UnknownRecord, keys: readonly string[]): string =>
  `k:${JSON.stringify(Object.fromEntries(keys.map((k) => [k, item[k]])))}`;

function walk(v: unknown, s: Schema | undefined, path: string[], out: FieldValues): void {
  const at = JSON.stringify(path);
  if (isRecord(v) && Object.keys(v).length > 0) {
    for (const [k, x] of Object.entries(v)) walk(x, child(s, k), [...path, `f:${k}`], out);
    return;
  }
  const keys = mapListKeys(s);
  if (Array.isArray(v) && keys && v.every(isRecord)) {
    const items = isRecord(s?.items) ? s.items : undefined;
    for (const item of v) {
      const k = itemKey(item, keys);
      out.set(JSON.stringify([...path, k, '.']), true);
      for (const [f, x] of Object.entries(item)) walk(x, child(items, f), [...path, k, `f:${f}`], out);
    }
    return;
  }
  if (Array.isArray(v) && SET_LISTS.has(at)) {
    for (const x of v) out.set(JSON.stringify([...path, `v:${JSON.stringify(x)}`]), x);
    return;
  }
  out.set(at, v);
}

/** The fields of an object a write to `subresource` can own (status only through /status when it exists). */
export function fieldValues(
  obj: UnknownRecord,
  schema: Schema | undefined,
  scope: 'main' | 'status' | 'all',
): FieldValues {
  const out: FieldValues = new Map();
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'apiVersion' || k === 'kind') continue;
    if (scope === 'main' && k === 'status') continue;
    if (scope === 'status' && k !== 'status') continue;
    if (k === 'metadata' && isRecord(v)) {
      for (const m of OWNED_METADATA) {
        if (v[m] !== undefined) walk(v[m], undefined, ['f:metadata', `f:${m}`], out);
      }
      continue;
    }
    walk(v, child(schema, k), [`f:${k}`], out);
  }
  return out;
}

export function toFieldsV1(fields: Iterable<string>): UnknownRecord {
  const root: UnknownRecord = {};
  for (const f of fields) {
    let node = root;
    for (const key of JSON.parse(f) as string[]) {
      if (!isRecord(node[key])) node[key] = {};
      node = node[key] as UnknownRecord;
    }
  }
  return root;
}

export function fromFieldsV1(tree: unknown, path: string[] = [], out = new Set<string>()): Set<string> {
  if (!isRecord(tree)) return out;
  for (const [k, sub] of Object.entries(tree)) {
    const p = [...path, k];
    if (k === '.' || !isRecord(sub) || Object.keys(sub).length === 0) out.add(JSON.stringify(p));
    else fromFieldsV1(sub, p, out);
  }
  return out;
}

/** The field manager of a request: `fieldManager`, else the User-Agent up to its first `/` (kube's default). */
export function managerOf(ctx: Ctx, required: boolean): string {
  const param = ctx.params.get('fieldManager');
  if (param !== null && param !== '') {
    if (param.length > 128) throw errBadRequest('fieldManager: Too long: may not be longer than 128');
    return param;
  }
  if (required) throw errBadRequest('PATCH, fieldManager is required for apply requests');
  return (ctx.userAgent ?? 'unknown').split('/')[0]?.slice(0, 128) || 'unknown';
}

export const nowTime = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

export function entriesOf(obj: KubeObject): ManagedEntry[] {
  const raw = obj.metadata.managedFields;
  return Array.isArray(raw) ? (raw.filter(isRecord) as unknown as ManagedEntry[]) : [];
}

export const sameEntry = (e: ManagedEntry, manager: string, op: string, sub: string | undefined): boolean =>
  e.manager === manager && e.operation === op && e.subresource === sub;

/**
 * Records an Update by `manager`: the fields it changed (between `before` and `after`) become its own and are
 * taken from every other entry; fields that disappeared leave every entry. Writes `after.metadata.managedFields`.
 */
export function recordUpdate(
  ctx: Ctx,
  target: Target,
  before: KubeObject | undefined,
  after: KubeObject,
): void {
  const manager = managerOf(ctx, false);
  const sub = target.subresource;
  const schema = target.rt.crd?.schemas[target.version];
  const scope = !target.rt.statusSubresource ? 'all' : sub === 'status' ? 'status' : 'main';
  const old = before ? fieldValues(before, schema, scope) : new Map<string, unknown>();
  const now = fieldValues(after, schema, scope);
  const changed = [...now.keys()].filter((f) => !old.has(f) || !deepEqual(old.get(f), now.get(f)));
  const removed = [...old.keys()].filter((f) => !now.has(f));
  const entries = entriesOf(after); // the base: the live entries, or the ones the client set (keepManagedFields)
  const drop = new Set([...changed, ...removed]);
  const next: ManagedEntry[] = [];
  let mine: ManagedEntry | undefined;
  for (const e of entries) {
    const owned = [...fromFieldsV1(e.fieldsV1)].filter(
      (f) => !drop.has(f) || (sameEntry(e, manager, 'Update', sub) && now.has(f)),
    );
    const entry = { ...e, fieldsV1: toFieldsV1(owned) };
    if (sameEntry(e, manager, 'Update', sub)) mine = entry;
    else if (owned.length > 0) next.push(entry);
  }
  if (changed.length > 0 || mine) {
    const owned = new Set([...(mine ? fromFieldsV1(mine.fieldsV1) : []), ...changed]);
    const entry: ManagedEntry = {
      manager,
      operation: 'Update',
      apiVersion: groupVersion(target.rt.group, target.version),
      time: changed.length > 0 || !mine ? nowTime() : mine.time,
      fieldsType: 'FieldsV1',
      fieldsV1: toFieldsV1(owned),
    };
    if (sub !== undefined) entry.subresource = sub;
    if (owned.size > 0) next.push(entry);
  }
  setManaged(after, next);
}

export function setManaged(obj: KubeObject, entries: ManagedEntry[]): void {
  if (entries.length > 0) obj.metadata.managedFields = entries;
  else delete obj.metadata.managedFields;
}

const validEntry = (e: unknown): boolean =>
  isRecord(e) &&
  typeof e.manager === 'string' &&
  (e.operation === 'Apply' || e.operation === 'Update') &&
  e.fieldsType === 'FieldsV1' &&
  isRecord(e.fieldsV1);

/**
 * The managedFields an update starts from, as kube decides: the client's when it changed them to a valid list
 * (`[]` resets; kubectl's client-side → server-side apply upgrade rewrites them this way), else the live ones.
 */
export function keepManagedFields(current: KubeObject, next: KubeObject): void {
  const sent = next.metadata.managedFields;
  const changed = sent !== undefined && !deepEqual(sent, current.metadata.managedFields);
  if (changed && Array.isArray(sent) && sent.every(validEntry)) {
    setManaged(next, sent as ManagedEntry[]);
    return;
  }
  if (current.metadata.managedFields === undefined) delete next.metadata.managedFields;
  else next.metadata.managedFields = structuredClone(current.metadata.managedFields);
}
