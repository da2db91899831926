/** Plain-JSON helpers shared by the store, the patches and admission. */
import type { KubeObject } from './types.js';

export type UnknownRecord = Record<string, unknown>;

export const isRecord = (v: unknown): v is UnknownRecord =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** JSON round trip: the store only ever holds plain JSON (Dates become strings, undefined disappears). */
export function jsonClone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  }
  if (isRecord(a) && isRecord(b)) {
    const ka = Object.keys(a);
    return (
      ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]))
    );
  }
  return false;
}

/** Own-property assignment that cannot touch a prototype even for a key named `__proto__`. */
export function setOwn(target: UnknownRecord, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Checks the object-shaped parts every stored object needs, then narrows. */
export function asKubeObject(rec: UnknownRecord): KubeObject {
  const meta = rec.metadata;
  if (typeof rec.apiVersion !== 'string' || typeof rec.kind !== 'string' || !isRecord(meta)) {
    throw new Error('not a Kubernetes object: apiVersion, kind and metadata are required');
  }
  if (typeof meta.name !== 'string') throw new Error('not a Kubernetes object: metadata.name is required');
  return rec as KubeObject;
}
