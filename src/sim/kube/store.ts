/**
 * The object store behind the test server: objects by key, the global resourceVersion counter, server-owned
 * metadata (uid, creationTimestamp, generation), and the test-side access (put/get/list/edit/remove) that skips
 * admission and locking but still emits watch events like any other writer.
 */
import { randomUUID } from 'node:crypto';
import { isCrdType, typeFromCrd } from './crd.js';
import { asKubeObject, deepEqual, isRecord, jsonClone, type UnknownRecord } from './json.js';
import type { Target } from './request.js';
import { objectKey, parseApiVersion, qualifiedResource, type ResourceType } from './resources.js';
import { errNotFound } from './status.js';
import type { KubeObject, ObjectRef } from './types.js';
import type { EventType, WatchHub } from './watch.js';

/** kube timestamps are RFC 3339 with second precision. */
const nowTimestamp = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

/** generation + 1 when spec changed (kube's rule for kinds with a spec). */
export function nextGeneration(current: KubeObject, next: KubeObject): number {
  const gen = current.metadata.generation ?? 1;
  return deepEqual(current.spec, next.spec) ? gen : gen + 1;
}

export class KubeStore {
  private readonly objects = new Map<string, KubeObject>();
  /** Global resourceVersion counter; every stored write takes the next value. */
  private rv = 1000;

  /** Served types: the built-in ones, then one per stored CustomResourceDefinition (kept in sync on commit). */
  readonly types: ResourceType[];

  constructor(
    builtin: readonly ResourceType[],
    private readonly watches: WatchHub,
  ) {
    this.types = [...builtin];
  }

  /** The newest resourceVersion (a LIST's metadata.resourceVersion). */
  get resourceVersion(): string {
    return String(this.rv);
  }

  typeOrThrow(group: string, plural: string): ResourceType {
    const rt = this.types.find((t) => t.group === group && t.plural === plural && !t.viewOf);
    if (!rt) throw new Error(`unknown resource ${plural}${group ? `.${group}` : ''}`);
    return rt;
  }

  has(rt: ResourceType, namespace: string, name: string): boolean {
    return this.objects.has(objectKey(rt, namespace, name));
  }

  keyOf(target: Target, name: string): string {
    return objectKey(target.rt, target.rt.namespaced ? (target.namespace ?? '') : '', name);
  }

  /** The stored object a named target points at (not a copy), or 404. */
  current(target: Target): KubeObject {
    const name = target.name ?? '';
    const obj = this.objects.get(this.keyOf(target, name));
    if (!obj) throw errNotFound(target.rt, name);
    return obj;
  }

  /** Stores `obj` under `key` with the next resourceVersion and emits the event. */
  commit(key: string, rt: ResourceType, obj: KubeObject, previous?: KubeObject): void {
    obj.metadata.resourceVersion = String(++this.rv);
    this.objects.set(key, obj);
    this.watches.emit(this.rv, previous ? 'MODIFIED' : 'ADDED', rt, obj, previous);
    if (isCrdType(rt)) this.registerCrd(obj);
  }

  /** (Re)registers the type a stored CRD defines; its objects stay (kube keeps them across CRD updates). */
  private registerCrd(crd: KubeObject): void {
    const next = typeFromCrd(crd);
    const i = this.types.findIndex((t) => t.crd?.name === crd.metadata.name);
    if (i >= 0) this.types[i] = next;
    else this.types.push(next);
  }

  /** Unregisters a deleted CRD's type and deletes its objects (kube's CRD finalizer does the same). */
  private unregisterCrd(crd: KubeObject): void {
    const i = this.types.findIndex((t) => t.crd?.name === crd.metadata.name);
    const rt = this.types[i];
    if (i < 0 || !rt) return;
    for (const o of this.select(rt, undefined)) {
      this.deleteStored(rt, rt.namespaced ? (o.metadata.namespace ?? '') : '', o.metadata.name);
    }
    this.types.splice(i, 1);
  }

  initSystemFields(rt: ResourceType, obj: KubeObject): void {
    obj.metadata.uid = randomUUID();
    obj.metadata.creationTimestamp = nowTimestamp();
    obj.metadata.generation = 1;
    if (rt.kind === 'Namespace') {
      // What the namespace controller/admission would add.
      obj.metadata.labels = { ...obj.metadata.labels, 'kubernetes.io/metadata.name': obj.metadata.name };
      obj.spec = isRecord(obj.spec) ? obj.spec : { finalizers: ['kubernetes'] };
      obj.status = isRecord(obj.status) ? obj.status : { phase: 'Active' };
    }
  }

  /** Objects of a type, optionally in one namespace, sorted by namespace/name like kube. */
  select(rt: ResourceType, namespace: string | undefined): KubeObject[] {
    const prefix = `${rt.group}/${rt.plural}/`;
    const out: KubeObject[] = [];
    for (const [key, obj] of this.objects) {
      if (!key.startsWith(prefix)) continue;
      if (namespace !== undefined && rt.namespaced && obj.metadata.namespace !== namespace) continue;
      out.push(obj);
    }
    return out.sort((a, b) => {
      const ka = `${a.metadata.namespace ?? ''}/${a.metadata.name}`;
      const kb = `${b.metadata.namespace ?? ''}/${b.metadata.name}`;
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
  }

  deleteStored(rt: ResourceType, namespace: string, name: string): KubeObject {
    const key = objectKey(rt, namespace, name);
    const current = this.objects.get(key);
    if (!current) throw errNotFound(rt, name);
    this.objects.delete(key);
    // The DELETED event (and the DELETE response) carry the resourceVersion of the deletion.
    const gone = jsonClone(current);
    gone.metadata.resourceVersion = String(++this.rv);
    this.emit('DELETED', rt, gone);
    if (isCrdType(rt)) this.unregisterCrd(gone);
    if (rt.kind === 'Namespace') {
      // Real namespace deletion is asynchronous (Terminating); deleting the contents at once is enough here.
      for (const t of this.types.filter((x) => x.namespaced)) {
        for (const o of this.select(t, name)) this.deleteStored(t, name, o.metadata.name);
      }
    }
    return gone;
  }

  // ─────────────── test-side store access (no admission, no locking) ───────────────

  put(input: KubeObject): KubeObject {
    const obj = asKubeObject(jsonClone(input) as UnknownRecord);
    const { group, version } = parseApiVersion(obj.apiVersion);
    const rt = this.types.find((t) => t.group === group && t.kind === obj.kind && !t.viewOf);
    if (!rt) throw new Error(`put: kind ${obj.kind} in ${obj.apiVersion || 'core'} is not served`);
    if (!rt.versions.includes(version)) throw new Error(`put: ${obj.apiVersion} is not served`);
    const namespace = this.scopeNamespace(rt, obj);
    const key = objectKey(rt, namespace, obj.metadata.name);
    const existing = this.objects.get(key);
    if (existing) {
      obj.metadata.uid = existing.metadata.uid;
      obj.metadata.creationTimestamp = existing.metadata.creationTimestamp;
      obj.metadata.generation = nextGeneration(existing, obj);
    } else {
      this.initSystemFields(rt, obj);
    }
    this.commit(key, rt, obj, existing);
    return jsonClone(obj);
  }

  get(ref: ObjectRef): KubeObject | undefined {
    const rt = this.typeOrThrow(ref.group, ref.plural);
    return jsonClone(this.objects.get(objectKey(rt, rt.namespaced ? ref.namespace : '', ref.name)));
  }

  list(group: string, plural: string, namespace?: string): KubeObject[] {
    const rt = this.typeOrThrow(group, plural);
    return this.select(rt, namespace).map((o) => jsonClone(o));
  }

  edit(ref: ObjectRef, mutate: (obj: KubeObject) => void): KubeObject {
    const rt = this.typeOrThrow(ref.group, ref.plural);
    const namespace = rt.namespaced ? ref.namespace : '';
    const key = objectKey(rt, namespace, ref.name);
    const current = this.objects.get(key);
    if (!current) throw new Error(`edit: ${qualifiedResource(rt)} ${namespace}/${ref.name} not found`);
    const draft = jsonClone(current);
    mutate(draft);
    const next = asKubeObject(jsonClone(draft) as UnknownRecord);
    if (next.metadata.name !== current.metadata.name || (next.metadata.namespace ?? '') !== namespace) {
      throw new Error('edit: metadata.name and metadata.namespace cannot change');
    }
    next.metadata.uid = current.metadata.uid;
    next.metadata.creationTimestamp = current.metadata.creationTimestamp;
    next.metadata.generation = nextGeneration(current, next);
    this.commit(key, rt, next, current);
    return jsonClone(next);
  }

  /** Deletes like another client would (emits DELETED). A no-op when the object does not exist. */
  remove(ref: ObjectRef): void {
    const rt = this.typeOrThrow(ref.group, ref.plural);
    const namespace = rt.namespaced ? ref.namespace : '';
    if (this.objects.has(objectKey(rt, namespace, ref.name))) this.deleteStored(rt, namespace, ref.name);
  }

  private emit(type: EventType, rt: ResourceType, object: KubeObject, previous?: KubeObject): void {
    this.watches.emit(this.rv, type, rt, object, previous);
  }

  /** Normalizes metadata.namespace for the kind's scope and returns the namespace part of the key. */
  private scopeNamespace(rt: ResourceType, obj: KubeObject): string {
    if (!rt.namespaced) {
      delete obj.metadata.namespace;
      return '';
    }
    obj.metadata.namespace ||= 'default';
    return obj.metadata.namespace;
  }
}
