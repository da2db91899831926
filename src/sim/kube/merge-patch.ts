/** RFC 7386 JSON merge patch, as kube-apiserver applies `application/merge-patch+json`. */
import { isRecord, jsonClone, setOwn, type UnknownRecord } from './json.js';

/** RFC 7386 JSON merge patch. Arrays and scalars replace; null deletes. Never mutates its inputs. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return jsonClone(patch);
  const result: UnknownRecord = isRecord(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else setOwn(result, key, applyMergePatch(result[key], value));
  }
  return result;
}
