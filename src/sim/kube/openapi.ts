/**
 * OpenAPI v3 documents for what the server serves: `/openapi/v3` (the index of group-versions, each with a
 * content hash) and `/openapi/v3/api/v1`, `/openapi/v3/apis/{group}/{version}`. Every resource has its paths
 * (with kube's `x-kubernetes-group-version-kind` and `x-kubernetes-action` on each operation and the
 * `fieldValidation`/`dryRun`/`fieldManager`/`force` query parameters) and a component schema: a CRD's own
 * openAPIV3Schema, or an open object for built-in kinds. kubectl's default validation (`--validate=strict`)
 * reads this to see that the server validates fields itself, and `kubectl explain` reads the schemas.
 * OpenAPI v2 is not served: kubectl only fetches it as protobuf, and falls back to it only when v3 fails.
 */
import { createHash } from 'node:crypto';
import type { UnknownRecord } from './json.js';
import { groupVersion, type ResourceType } from './resources.js';
import { errPathNotFound } from './status.js';

const gvPath = (group: string, version: string): string =>
  group === '' ? `api/${version}` : `apis/${group}/${version}`;

/** All served group-versions as [group, version]. */
function groupVersions(types: readonly ResourceType[]): [string, string][] {
  const seen = new Map<string, [string, string]>();
  for (const rt of types) for (const v of rt.versions) seen.set(gvPath(rt.group, v), [rt.group, v]);
  return [...seen.values()];
}

const hashOf = (doc: unknown): string =>
  createHash('sha512').update(JSON.stringify(doc)).digest('hex').slice(0, 64).toUpperCase();

export function openApiIndex(types: readonly ResourceType[]): UnknownRecord {
  const paths: UnknownRecord = {};
  for (const [group, version] of groupVersions(types)) {
    const p = gvPath(group, version);
    paths[p] = {
      serverRelativeURL: `/openapi/v3/${p}?hash=${hashOf(openApiDocument(types, group, version))}`,
    };
  }
  return { paths };
}

/** The document for `rest` (the path after /openapi/v3/), or 404. */
export function openApiFor(types: readonly ResourceType[], rest: readonly string[]): UnknownRecord {
  const [root, a, b] = rest;
  const gv =
    root === 'api' && rest.length === 2 && a !== undefined
      ? ['', a]
      : root === 'apis' && rest.length === 3 && a !== undefined && b !== undefined
        ? [a, b]
        : undefined;
  if (!gv) throw errPathNotFound();
  const [group = '', version = ''] = gv;
  if (!types.some((t) => t.group === group && t.versions.includes(version))) throw errPathNotFound();
  return openApiDocument(types, group, version);
}

/** kube's definition names: io.k8s.api.core.v1.Service, io.meshshift.v1alpha1.MigrationPlan. */
function definitionName(rt: ResourceType, version: string): string {
  if (rt.group === '' || rt.builtin) {
    const g = rt.group === '' ? 'core' : rt.group.split('.')[0];
    return `io.k8s.api.${g}.${version}.${rt.kind}`;
  }
  return `${rt.group.split('.').reverse().join('.')}.${version}.${rt.kind}`;
}

function componentSchema(rt: ResourceType, version: string): UnknownRecord {
  const gvk = [{ group: rt.group, version, kind: rt.kind }];
  const own = rt.crd?.schemas[version];
  if (own) return { ...structuredClone(own), 'x-kubernetes-group-version-kind': gvk };
  return {
    type: 'object',
    description: `${rt.kind} (served by the meshshift test API server; fields are not described).`,
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
    },
    'x-kubernetes-preserve-unknown-fields': true,
    'x-kubernetes-group-version-kind': gvk,
  };
}

const queryParam = (name: string): UnknownRecord => ({
  name,
  in: 'query',
  schema: { type: 'string', uniqueItems: true },
});

const WRITE_PARAMS = ['dryRun', 'fieldManager', 'fieldValidation'];

function operation(
  rt: ResourceType,
  version: string,
  action: string,
  ref: string,
  extra: string[],
): UnknownRecord {
  const op: UnknownRecord = {
    operationId: `${action}${rt.kind}`,
    parameters: extra.map(queryParam),
    responses: { '200': { description: 'OK', content: { 'application/json': { schema: { $ref: ref } } } } },
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': { group: rt.group, version, kind: rt.kind },
  };
  if (action === 'put' || action === 'post') {
    op.requestBody = { content: { '*/*': { schema: { $ref: ref } } }, required: true };
  }
  if (action === 'patch') {
    const patchTypes = [
      'application/json-patch+json',
      'application/merge-patch+json',
      'application/apply-patch+yaml',
    ];
    op.requestBody = {
      content: Object.fromEntries(patchTypes.map((t) => [t, { schema: { type: 'object' } }])),
      required: true,
    };
  }
  return op;
}

function resourcePaths(rt: ResourceType, version: string, ref: string): UnknownRecord {
  const base = `/${gvPath(rt.group, version)}${rt.namespaced ? '/namespaces/{namespace}' : ''}/${rt.plural}`;
  const named: UnknownRecord = {
    get: operation(rt, version, 'get', ref, []),
    put: operation(rt, version, 'put', ref, WRITE_PARAMS),
    patch: operation(rt, version, 'patch', ref, [...WRITE_PARAMS, 'force']),
    delete: operation(rt, version, 'delete', ref, ['dryRun']),
  };
  const paths: UnknownRecord = {
    [base]: {
      get: operation(rt, version, 'list', ref, [
        'labelSelector',
        'fieldSelector',
        'limit',
        'continue',
        'watch',
      ]),
      post: operation(rt, version, 'post', ref, WRITE_PARAMS),
    },
    [`${base}/{name}`]: named,
  };
  if (rt.statusSubresource) {
    paths[`${base}/{name}/status`] = {
      get: operation(rt, version, 'get', ref, []),
      put: operation(rt, version, 'put', ref, WRITE_PARAMS),
      patch: operation(rt, version, 'patch', ref, [...WRITE_PARAMS, 'force']),
    };
  }
  return paths;
}

function openApiDocument(types: readonly ResourceType[], group: string, version: string): UnknownRecord {
  const schemas: UnknownRecord = {};
  let paths: UnknownRecord = {};
  for (const rt of types.filter((t) => t.group === group && t.versions.includes(version))) {
    const name = definitionName(rt, version);
    schemas[name] = componentSchema(rt, version);
    paths = { ...paths, ...resourcePaths(rt, version, `#/components/schemas/${name}`) };
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: `meshshift-test ${groupVersion(group, version)}` },
    paths,
    components: { schemas },
  };
}
