/**
 * Structural-schema handling for custom resources, as kube-apiserver's apiextensions does it: defaulting, pruning
 * of unknown fields (collected, so the caller can refuse or warn per `fieldValidation`) and validation of types,
 * enums, required fields, bounds and patterns. Paths in messages are kube's (`spec.target.subset`).
 */
import { isRecord, setOwn, type UnknownRecord } from './json.js';
import type { FieldError } from './status.js';

export type Schema = UnknownRecord;

const kids = (s: Schema, key: string): Schema | undefined => (isRecord(s[key]) ? s[key] : undefined);
const preserves = (s: Schema): boolean => s['x-kubernetes-preserve-unknown-fields'] === true;
const isIntOrString = (s: Schema): boolean => s['x-kubernetes-int-or-string'] === true;

/** Fills in `default`s of absent properties (recursively), as kube does on create and update. */
export function applyDefaults(value: unknown, schema: Schema): void {
  if (Array.isArray(value)) {
    const items = kids(schema, 'items');
    if (items) for (const v of value) applyDefaults(v, items);
    return;
  }
  if (!isRecord(value)) return;
  const props = kids(schema, 'properties');
  if (props) {
    for (const [name, child] of Object.entries(props)) {
      if (!isRecord(child)) continue;
      if (value[name] === undefined && child.default !== undefined) {
        setOwn(value, name, structuredClone(child.default));
      }
      if (value[name] !== undefined) applyDefaults(value[name], child);
    }
  }
  const extra = kids(schema, 'additionalProperties');
  if (extra) for (const v of Object.values(value)) applyDefaults(v, extra);
}

/** Drops fields the schema does not declare; returns their paths (`spec.foo`) in document order. */
export function prune(value: unknown, schema: Schema, path: string, dropped: string[] = []): string[] {
  if (preserves(schema) && !kids(schema, 'properties') && !kids(schema, 'additionalProperties'))
    return dropped;
  if (Array.isArray(value)) {
    const items = kids(schema, 'items');
    if (items) value.forEach((v, i) => prune(v, items, `${path}[${i}]`, dropped));
    return dropped;
  }
  if (!isRecord(value)) return dropped;
  const props = kids(schema, 'properties');
  const extra = kids(schema, 'additionalProperties');
  for (const key of Object.keys(value)) {
    const child = props && isRecord(props[key]) ? props[key] : extra;
    const childPath = path === '' ? key : `${path}.${key}`;
    if (child) prune(value[key], child, childPath, dropped);
    else if (!preserves(schema)) {
      dropped.push(childPath);
      delete value[key];
    }
  }
  return dropped;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(v: unknown, type: unknown): boolean {
  switch (type) {
    case 'object':
      return isRecord(v);
    case 'array':
      return Array.isArray(v);
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'number':
      return typeof v === 'number';
    case 'boolean':
      return typeof v === 'boolean';
    default:
      return true;
  }
}

const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? ''));

/** kube's wording: `spec.weight: Invalid value: "string": spec.weight in body must be of type integer: "string"`. */
function typeError(path: string, v: unknown, type: string): FieldError {
  return {
    field: path,
    type: 'FieldValueTypeInvalid',
    detail: `Invalid value: "${typeName(v)}": ${path} in body must be of type ${type}: "${typeName(v)}"`,
  };
}

/** Value-level checks beside the type: enum, bounds, lengths, pattern. */
function checkValue(v: unknown, s: Schema, path: string, errors: FieldError[]): void {
  const invalid = (why: string): void => {
    errors.push({ field: path, type: 'FieldValueInvalid', detail: `Invalid value: ${show(v)}: ${why}` });
  };
  if (Array.isArray(s.enum) && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(v))) {
    errors.push({
      field: path,
      type: 'FieldValueNotSupported',
      detail: `Unsupported value: ${show(v)}: supported values: ${s.enum.map((e) => show(e)).join(', ')}`,
    });
  }
  if (typeof v === 'number') {
    if (typeof s.minimum === 'number' && v < s.minimum)
      invalid(`${path} in body should be greater than or equal to ${s.minimum}`);
    if (typeof s.maximum === 'number' && v > s.maximum)
      invalid(`${path} in body should be less than or equal to ${s.maximum}`);
  }
  if (typeof v === 'string') {
    if (typeof s.minLength === 'number' && [...v].length < s.minLength)
      invalid(`${path} in body should be at least ${s.minLength} chars long`);
    if (typeof s.maxLength === 'number' && [...v].length > s.maxLength)
      invalid(`${path} in body should be at most ${s.maxLength} chars long`);
    if (typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(v))
      invalid(`${path} in body should match '${s.pattern}'`);
  }
  if (Array.isArray(v)) {
    if (typeof s.minItems === 'number' && v.length < s.minItems)
      invalid(`${path} in body should have at least ${s.minItems} items`);
    if (typeof s.maxItems === 'number' && v.length > s.maxItems)
      invalid(`${path} in body should have at most ${s.maxItems} items`);
  }
}

/** Validates a (defaulted, pruned) value against its schema; appends kube-shaped field errors. */
export function validate(v: unknown, s: Schema, path: string, errors: FieldError[] = []): FieldError[] {
  if (v === null) {
    if (s.nullable !== true && s.type !== undefined) errors.push(typeError(path, v, String(s.type)));
    return errors;
  }
  if (isIntOrString(s)) {
    if (typeof v !== 'string' && !(typeof v === 'number' && Number.isInteger(v)))
      errors.push(typeError(path, v, 'integer,string'));
    return errors;
  }
  if (s.type !== undefined && !typeMatches(v, s.type)) {
    errors.push(typeError(path, v, String(s.type)));
    return errors;
  }
  checkValue(v, s, path, errors);
  if (Array.isArray(v)) {
    const items = kids(s, 'items');
    if (items) v.forEach((x, i) => validate(x, items, `${path}[${i}]`, errors));
  } else if (isRecord(v)) {
    validateObject(v, s, path, errors);
  }
  return errors;
}

function validateObject(v: UnknownRecord, s: Schema, path: string, errors: FieldError[]): void {
  const at = (key: string): string => (path === '' ? key : `${path}.${key}`);
  if (Array.isArray(s.required)) {
    for (const key of s.required) {
      if (typeof key === 'string' && v[key] === undefined)
        errors.push({ field: at(key), type: 'FieldValueRequired', detail: 'Required value' });
    }
  }
  const props = kids(s, 'properties');
  const extra = kids(s, 'additionalProperties');
  for (const [key, child] of Object.entries(v)) {
    const cs = props && isRecord(props[key]) ? props[key] : extra;
    if (cs) validate(child, cs, at(key), errors);
  }
}
