/**
 * apiextensions.k8s.io/v1 CustomResourceDefinitions: a stored CRD is the source of truth for the resource type it
 * defines (group, versions, names, scope, /status, schema, printer columns). Creating or updating one (re)registers
 * the type, deleting one unregisters it and deletes its objects. CRDs are checked as kube-apiserver checks them,
 * including the structural-schema rules (see structuralErrors).
 */
import { isRecord, type UnknownRecord } from './json.js';
import type { PrinterColumn, ResourceType } from './resources.js';
import type { Schema } from './schema.js';
import { errInvalid, type FieldError } from './status.js';
import type { KubeObject } from './types.js';

export const APIEXTENSIONS_GROUP = 'apiextensions.k8s.io';

export const isCrdType = (rt: ResourceType): boolean =>
  rt.group === APIEXTENSIONS_GROUP && rt.plural === 'customresourcedefinitions';

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];

/** The resource type a (valid) CRD defines. */
export function typeFromCrd(crd: KubeObject): ResourceType {
  const spec = crd.spec as UnknownRecord;
  const names = spec.names as UnknownRecord;
  const versions = (spec.versions as UnknownRecord[]).filter((v) => v.served === true);
  const schemas: Record<string, Schema> = {};
  const columns: Record<string, PrinterColumn[]> = {};
  for (const v of versions) {
    const schema = isRecord(v.schema) ? v.schema.openAPIV3Schema : undefined;
    if (isRecord(schema)) schemas[str(v.name)] = schema;
    columns[str(v.name)] = Array.isArray(v.additionalPrinterColumns)
      ? (v.additionalPrinterColumns as PrinterColumn[])
      : [];
  }
  const kind = str(names.kind);
  return {
    group: str(spec.group),
    versions: versions.map((v) => str(v.name)),
    plural: str(names.plural),
    singular: str(names.singular) || kind.toLowerCase(),
    kind,
    namespaced: spec.scope === 'Namespaced',
    builtin: false,
    statusSubresource: versions.some((v) => isRecord(v.subresources) && isRecord(v.subresources.status)),
    shortNames: strings(names.shortNames),
    crd: { name: crd.metadata.name, schemas, columns, categories: strings(names.categories) },
  };
}

/** Status kube's CRD controllers set: names accepted and the type established. */
export function crdStatus(crd: KubeObject): UnknownRecord {
  const spec = crd.spec as UnknownRecord;
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const cond = (type: string, reason: string, message: string): UnknownRecord => ({
    type,
    status: 'True',
    lastTransitionTime: now,
    reason,
    message,
  });
  return {
    acceptedNames: spec.names,
    storedVersions: (spec.versions as UnknownRecord[]).filter((v) => v.storage === true).map((v) => v.name),
    conditions: [
      cond('NamesAccepted', 'NoConflicts', 'no conflicts found'),
      cond('Established', 'InitialNamesAccepted', 'the initial names have been accepted'),
    ],
  };
}

/** kube's validation of a CRD object (422 Invalid listing every problem). */
export function checkCrd(rt: ResourceType, crd: KubeObject, others: readonly ResourceType[]): void {
  const errors: FieldError[] = [];
  const req = (field: string): void => {
    errors.push({ field, type: 'FieldValueRequired', detail: 'Required value' });
  };
  const spec = isRecord(crd.spec) ? crd.spec : {};
  const names = isRecord(spec.names) ? spec.names : {};
  const group = str(spec.group);
  if (group === '') req('spec.group');
  if (str(names.plural) === '') req('spec.names.plural');
  if (str(names.kind) === '') req('spec.names.kind');
  if (spec.scope !== 'Namespaced' && spec.scope !== 'Cluster') {
    errors.push({
      field: 'spec.scope',
      type: 'FieldValueNotSupported',
      detail: `Unsupported value: ${JSON.stringify(spec.scope ?? '')}: supported values: "Cluster", "Namespaced"`,
    });
  }
  const expected = `${str(names.plural)}.${group}`;
  if (crd.metadata.name !== expected) {
    errors.push({
      field: 'metadata.name',
      type: 'FieldValueInvalid',
      detail: `Invalid value: ${JSON.stringify(crd.metadata.name)}: must be spec.names.plural+"."+spec.group`,
    });
  }
  const clash = others.find(
    (t) => t.group === group && t.plural === str(names.plural) && t.crd?.name !== crd.metadata.name,
  );
  if (clash) {
    errors.push({
      field: 'spec.names.plural',
      type: 'FieldValueInvalid',
      detail: `Invalid value: ${JSON.stringify(clash.plural)}: already served by the API server`,
    });
  }
  versionErrors(spec.versions, errors);
  if (errors.length > 0) throw errInvalid(rt, crd.metadata.name, errors);
}

function versionErrors(raw: unknown, errors: FieldError[]): void {
  const versions = Array.isArray(raw) ? raw.filter(isRecord) : [];
  if (versions.length === 0) {
    errors.push({
      field: 'spec.versions',
      type: 'FieldValueInvalid',
      detail: 'Invalid value: must have exactly one version marked as storage version',
    });
    return;
  }
  if (versions.filter((v) => v.storage === true).length !== 1) {
    errors.push({
      field: 'spec.versions',
      type: 'FieldValueInvalid',
      detail: 'Invalid value: must have exactly one version marked as storage version',
    });
  }
  versions.forEach((v, i) => {
    const at = `spec.versions[${i}].schema.openAPIV3Schema`;
    const schema = isRecord(v.schema) ? v.schema.openAPIV3Schema : undefined;
    if (!isRecord(schema)) {
      errors.push({ field: at, type: 'FieldValueRequired', detail: 'Required value: schemas are required' });
      return;
    }
    if (schema.type !== 'object')
      errors.push({
        field: `${at}.type`,
        type: 'FieldValueInvalid',
        detail: 'Invalid value: must be object at the root',
      });
    errors.push(...structuralErrors(schema, at, false));
    errors.push(...metadataErrors(schema, at));
  });
}

const JUNCTORS = ['anyOf', 'oneOf', 'allOf'] as const;
const FORBIDDEN_IN_JUNCTOR = ['type', 'default', 'nullable', 'description', 'additionalProperties'] as const;

/**
 * The structural-schema rules kube enforces on apiextensions.k8s.io/v1 CRDs: every node has a type (unless
 * int-or-string or preserve-unknown-fields), no `additionalProperties` beside `properties` and never `false`,
 * no `$ref`, junctors (anyOf/oneOf/allOf/not) only carry value validations, list-map keys are required scalars.
 */
export function structuralErrors(node: Schema, at: string, inJunctor: boolean): FieldError[] {
  const errors: FieldError[] = [];
  const forbidden = (field: string, why: string): void => {
    errors.push({ field: `${at}.${field}`, type: 'FieldValueForbidden', detail: `Forbidden: ${why}` });
  };
  if (node.$ref !== undefined) forbidden('$ref', '$ref is not supported');
  if (inJunctor) {
    for (const k of FORBIDDEN_IN_JUNCTOR) {
      if (node[k] !== undefined) forbidden(k, `must be empty to be structural`);
    }
  } else if (
    node.type === undefined &&
    node['x-kubernetes-int-or-string'] !== true &&
    node['x-kubernetes-preserve-unknown-fields'] !== true
  ) {
    errors.push({
      field: `${at}.type`,
      type: 'FieldValueRequired',
      detail: 'Required value: must not be empty for specified object fields',
    });
  }
  if (node.additionalProperties === false)
    forbidden('additionalProperties', 'additionalProperties cannot be set to false');
  if (node.properties !== undefined && node.additionalProperties !== undefined)
    forbidden('additionalProperties', 'additionalProperties and properties are mutual exclusive');
  if (isRecord(node.properties)) {
    for (const [k, child] of Object.entries(node.properties)) {
      if (isRecord(child)) errors.push(...structuralErrors(child, `${at}.properties[${k}]`, inJunctor));
    }
  }
  for (const k of ['items', 'additionalProperties', 'not'] as const) {
    const child = node[k];
    if (isRecord(child)) errors.push(...structuralErrors(child, `${at}.${k}`, inJunctor || k === 'not'));
  }
  for (const j of JUNCTORS) {
    const branches = node[j];
    if (Array.isArray(branches)) {
      branches.forEach((b, i) => {
        if (isRecord(b)) errors.push(...structuralErrors(b, `${at}.${j}[${i}]`, true));
      });
    }
  }
  errors.push(...listMapErrors(node, at));
  return errors;
}

function listMapErrors(node: Schema, at: string): FieldError[] {
  if (node['x-kubernetes-list-type'] !== 'map') return [];
  const keys = strings(node['x-kubernetes-list-map-keys']);
  const items = isRecord(node.items) ? node.items : {};
  const props = isRecord(items.properties) ? items.properties : {};
  const required = strings(items.required);
  const errors: FieldError[] = [];
  if (keys.length === 0) {
    errors.push({
      field: `${at}.x-kubernetes-list-map-keys`,
      type: 'FieldValueRequired',
      detail: 'Required value: must not be empty if x-kubernetes-list-type is map',
    });
  }
  for (const k of keys) {
    const p = props[k];
    if (!isRecord(p) || (!required.includes(k) && p.default === undefined)) {
      errors.push({
        field: `${at}.items.properties[${k}]`,
        type: 'FieldValueRequired',
        detail: 'Required value: all map keys must be required or have a default value',
      });
    }
  }
  return errors;
}

/** At the root, metadata may only restrict name and generateName (kube: "must not specify anything other than…"). */
function metadataErrors(schema: Schema, at: string): FieldError[] {
  const meta = isRecord(schema.properties) ? schema.properties.metadata : undefined;
  if (!isRecord(meta)) return [];
  const extra = Object.keys(meta).filter((k) => k !== 'type' && k !== 'properties');
  const props = isRecord(meta.properties) ? Object.keys(meta.properties) : [];
  const bad = [...extra, ...props.filter((p) => p !== 'name' && p !== 'generateName')];
  return bad.length === 0
    ? []
    : [
        {
          field: `${at}.properties[metadata]`,
          type: 'FieldValueForbidden',
          detail:
            'Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified',
        },
      ];
}
