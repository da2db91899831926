/** RFC 6902 JSON patch, as kube-apiserver applies `application/json-patch+json` (atomic; `test` failures throw). */
import { deepEqual, isRecord, jsonClone, setOwn, type UnknownRecord } from './json.js';

/** A JSON patch that does not apply (bad path, failed test, malformed op). */
export class JsonPatchError extends Error {
  constructor(
    message: string,
    readonly path?: string,
  ) {
    super(message);
    this.name = 'JsonPatchError';
  }
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/'))
    throw new JsonPatchError(`invalid JSON pointer ${JSON.stringify(pointer)}`, pointer);
  return pointer
    .slice(1)
    .split('/')
    .map((token) => {
      if (/~[^01]|~$/.test(token))
        throw new JsonPatchError(`invalid JSON pointer escape in ${pointer}`, pointer);
      return token.replace(/~1/g, '/').replace(/~0/g, '~');
    });
}

const ARRAY_INDEX = /^(0|[1-9][0-9]*)$/;

function child(container: unknown, token: string, pointer: string): unknown {
  if (Array.isArray(container)) {
    const i = ARRAY_INDEX.test(token) ? Number(token) : -1;
    if (i < 0 || i >= container.length) throw missing(pointer);
    return container[i];
  }
  if (isRecord(container) && Object.hasOwn(container, token)) return container[token];
  throw missing(pointer);
}

const missing = (pointer: string): JsonPatchError =>
  new JsonPatchError(`doc is missing path: ${JSON.stringify(pointer)}: missing value`, pointer);

function valueAt(root: unknown, tokens: readonly string[], pointer: string): unknown {
  return tokens.reduce<unknown>((node, token) => child(node, token, pointer), root);
}

/** Returns the parent container of the last token plus that token. */
function parentOf(
  root: unknown,
  tokens: readonly string[],
  pointer: string,
): [unknown[] | UnknownRecord, string] {
  const parent = valueAt(root, tokens.slice(0, -1), pointer);
  const last = tokens[tokens.length - 1];
  if (last === undefined || !(Array.isArray(parent) || isRecord(parent))) throw missing(pointer);
  return [parent, last];
}

function addAt(root: unknown, tokens: readonly string[], value: unknown, pointer: string): unknown {
  if (tokens.length === 0) return value;
  const [parent, key] = parentOf(root, tokens, pointer);
  if (Array.isArray(parent)) {
    if (key === '-') parent.push(value);
    else {
      const i = ARRAY_INDEX.test(key) ? Number(key) : -1;
      if (i < 0 || i > parent.length) throw new JsonPatchError(`index out of bounds at ${pointer}`, pointer);
      parent.splice(i, 0, value);
    }
  } else setOwn(parent, key, value);
  return root;
}

function removeAt(root: unknown, tokens: readonly string[], pointer: string): unknown {
  if (tokens.length === 0) throw new JsonPatchError('cannot remove the whole document', pointer);
  const [parent, key] = parentOf(root, tokens, pointer);
  child(parent, key, pointer); // must exist
  if (Array.isArray(parent)) parent.splice(Number(key), 1);
  else delete parent[key];
  return root;
}

function replaceAt(root: unknown, tokens: readonly string[], value: unknown, pointer: string): unknown {
  if (tokens.length === 0) return value;
  const [parent, key] = parentOf(root, tokens, pointer);
  child(parent, key, pointer); // must exist
  if (Array.isArray(parent)) parent[Number(key)] = value;
  else setOwn(parent, key, value);
  return root;
}

/**
 * RFC 6902 JSON patch (add, remove, replace, move, copy, test). Atomic: works on a copy and throws
 * {@link JsonPatchError} on the first failing op, so the caller's document is never half-patched.
 */
export function applyJsonPatch(doc: unknown, ops: readonly unknown[]): unknown {
  let root = jsonClone(doc);
  ops.forEach((raw, index) => {
    if (!isRecord(raw)) throw new JsonPatchError(`operation ${index} is not an object`);
    const { op, path } = raw;
    if (typeof path !== 'string') throw new JsonPatchError(`operation ${index} has no "path"`);
    const tokens = parsePointer(path);
    const needValue = (): unknown => {
      if (!Object.hasOwn(raw, 'value'))
        throw new JsonPatchError(`${String(op)} operation at ${path} has no "value"`, path);
      return jsonClone(raw.value);
    };
    const fromTokens = (): string[] => {
      if (typeof raw.from !== 'string')
        throw new JsonPatchError(`${String(op)} operation at ${path} has no "from"`, path);
      return parsePointer(raw.from);
    };
    switch (op) {
      case 'add':
        root = addAt(root, tokens, needValue(), path);
        break;
      case 'remove':
        root = removeAt(root, tokens, path);
        break;
      case 'replace':
        root = replaceAt(root, tokens, needValue(), path);
        break;
      case 'move': {
        const from = fromTokens();
        const fromPath = String(raw.from);
        if (path !== fromPath && path.startsWith(`${fromPath}/`)) {
          throw new JsonPatchError(`cannot move ${fromPath} into its own child ${path}`, path);
        }
        const value = valueAt(root, from, fromPath);
        root = addAt(removeAt(root, from, fromPath), tokens, value, path);
        break;
      }
      case 'copy': {
        const from = fromTokens();
        root = addAt(root, tokens, jsonClone(valueAt(root, from, String(raw.from))), path);
        break;
      }
      case 'test':
        if (!deepEqual(valueAt(root, tokens, path), needValue())) {
          throw new JsonPatchError(`testing value ${path} failed: test failed`, path);
        }
        break;
      default:
        throw new JsonPatchError(`Unexpected kind: ${String(op)}`, path);
    }
  });
  return root;
}
