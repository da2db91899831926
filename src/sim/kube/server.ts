/**
 * A strict, in-memory Kubernetes API server for meshshift's tests (and the demo).
 *
 * It speaks enough of the real kube-apiserver wire protocol for the REAL `@kubernetes/client-node`
 * client (typed APIs, CustomObjectsApi, KubernetesObjectApi, Watch) to work against it unchanged, and
 * it is deliberately strict where a lenient fake would hide bugs:
 *  - optimistic locking (stale resourceVersion → 409 Conflict, missing one on a custom-resource PUT → 422),
 *  - patch content types (merge / JSON patch; strategic merge only for built-in kinds, else 415),
 *  - atomic JSON patches with `test` ops (failure → 422, nothing applied),
 *  - Istio admission validation of VirtualService route weights (→ 400, nothing applied),
 *  - kube-shaped `Status` bodies for every error,
 *  - watches with history, resume from a resourceVersion and 410 Expired once it is compacted away.
 *
 * No vitest imports here: the demo starts this server at runtime. Listens on 127.0.0.1 only.
 */
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

// ───────────────────────────────────────────── public API ─────────────────────────────────────────────

export interface KubeMetadata {
  name: string;
  namespace?: string;
  resourceVersion?: string;
  uid?: string;
  generation?: number;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: KubeMetadata;
  [key: string]: unknown;
}

/** Identifies one stored object. `group` is '' for core; `namespace` is ignored for cluster-scoped kinds. */
export interface ObjectRef {
  group: string;
  plural: string;
  namespace: string;
  name: string;
}

export interface RecordedRequest {
  method: string;
  /** URL path without the query string. */
  path: string;
  /** Raw query string without the leading '?'. */
  query: string;
  contentType?: string;
  /** Parsed JSON (or YAML) body; the raw text when it could not be parsed; undefined when empty. */
  body?: unknown;
  status: number;
  /** Date.now() when the response status was decided (= the order in which the server applied writes). */
  at: number;
}

export interface KubeApiServerOptions {
  /** When set, every request needs `Authorization: Bearer <token>`, else 401. */
  token?: string;
  /** networking.istio.io versions served, first = preferred. Default ['v1', 'v1beta1', 'v1alpha3']. */
  istioVersions?: string[];
  /** Watch events kept for resuming a watch from a resourceVersion. Default 1000. */
  watchHistory?: number;
}

/** What an onRequest hook sees. `query` is an addition to the brief's shape. */
export interface HookRequest {
  method: string;
  path: string;
  query: string;
  contentType?: string;
  body?: unknown;
}

export type RequestHook = (req: HookRequest) => void | Promise<void>;

export interface KubeApiServer {
  readonly url: string;
  readonly port: number;
  readonly requests: RecordedRequest[];
  kubeConfig(): KubeConfig;
  kubeconfigYaml(): string;
  writeKubeconfig(dir: string): string;
  put(obj: KubeObject): KubeObject;
  get(ref: ObjectRef): KubeObject | undefined;
  list(group: string, plural: string, namespace?: string): KubeObject[];
  edit(ref: ObjectRef, mutate: (obj: KubeObject) => void): KubeObject;
  remove(ref: ObjectRef): void;
  /**
   * Runs (awaited, in registration order) before each request is authenticated and handled.
   * A hook may mutate the store (e.g. `server.edit(...)` to simulate a concurrent writer), delay the
   * request, or throw a {@link KubeStatusError} to make the server answer with that Status instead
   * (any other thrown error becomes a 500 InternalError). Returns an unsubscribe function.
   */
  onRequest(hook: RequestHook): () => void;
  close(): Promise<void>;
}

export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

/** The `Status` object kube sends for every error. */
export interface KubeStatus {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message: string;
  reason: string;
  details?: StatusDetails;
  code: number;
}

/**
 * An error that the server turns into a kube `Status` response. Thrown internally, and usable from an
 * onRequest hook to inject failures: `throw new KubeStatusError(429, 'TooManyRequests', 'slow down',
 * { retryAfterSeconds: 1 })` (a Retry-After header is sent when retryAfterSeconds is set).
 */
export class KubeStatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
    this.name = 'KubeStatusError';
  }

  toStatus(): KubeStatus {
    const status: KubeStatus = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      code: this.code,
    };
    // Keep kube's key order: ..., reason, details, code.
    if (this.details === undefined) return status;
    const { code, ...rest } = status;
    return { ...rest, details: this.details, code };
  }
}

export async function startKubeApiServer(opts: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  const server = new TestKubeApiServer(opts);
  await server.listen();
  return server;
}

// ───────────────────────────────────────────── resources ─────────────────────────────────────────────

const ISTIO_NETWORKING = 'networking.istio.io';
const ISTIO_SECURITY = 'security.istio.io';
const DEFAULT_ISTIO_VERSIONS = ['v1', 'v1beta1', 'v1alpha3'];

const MEDIA_JSON = 'application/json';
const MEDIA_MERGE_PATCH = 'application/merge-patch+json';
const MEDIA_JSON_PATCH = 'application/json-patch+json';
const MEDIA_STRATEGIC_PATCH = 'application/strategic-merge-patch+json';

const MAX_BODY_BYTES = 16 * 1024 * 1024;
const ALL_VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

interface ResourceType {
  readonly group: string;
  readonly versions: readonly string[];
  readonly plural: string;
  readonly singular: string;
  readonly kind: string;
  readonly namespaced: boolean;
  /** Built into Kubernetes (core, apps): strategic merge allowed, unconditional PUT allowed, list items carry no kind. */
  readonly builtin: boolean;
  /** Has a /status subresource: writes to the main resource keep the stored status, and vice versa. */
  readonly statusSubresource: boolean;
  readonly shortNames: readonly string[];
}

function buildResourceTypes(istioVersions: readonly string[]): ResourceType[] {
  const t = (
    group: string,
    versions: readonly string[],
    plural: string,
    kind: string,
    extra: { namespaced?: boolean; status?: boolean; shortNames?: string[] } = {},
  ): ResourceType => ({
    group,
    versions,
    plural,
    singular: kind.toLowerCase(),
    kind,
    namespaced: extra.namespaced ?? true,
    builtin: group === '' || group === 'apps',
    statusSubresource: extra.status ?? false,
    shortNames: extra.shortNames ?? [],
  });
  const types: ResourceType[] = [
    t('', ['v1'], 'services', 'Service', { status: true, shortNames: ['svc'] }),
    t('', ['v1'], 'endpoints', 'Endpoints', { shortNames: ['ep'] }),
    t('', ['v1'], 'configmaps', 'ConfigMap', { shortNames: ['cm'] }),
    t('', ['v1'], 'namespaces', 'Namespace', { namespaced: false, shortNames: ['ns'] }),
    t('apps', ['v1'], 'deployments', 'Deployment', { status: true, shortNames: ['deploy'] }),
  ];
  if (istioVersions.length > 0) {
    const istio = (plural: string, kind: string, short: string): ResourceType =>
      t(ISTIO_NETWORKING, istioVersions, plural, kind, { status: true, shortNames: [short] });
    types.push(
      istio('virtualservices', 'VirtualService', 'vs'),
      istio('destinationrules', 'DestinationRule', 'dr'),
      istio('serviceentries', 'ServiceEntry', 'se'),
      istio('workloadentries', 'WorkloadEntry', 'we'),
      istio('workloadgroups', 'WorkloadGroup', 'wg'),
      istio('gateways', 'Gateway', 'gw'),
    );
  }
  types.push(
    t(ISTIO_SECURITY, ['v1', 'v1beta1'], 'peerauthentications', 'PeerAuthentication', {
      status: true,
      shortNames: ['pa'],
    }),
  );
  return types;
}

const groupVersion = (group: string, version: string): string =>
  group === '' ? version : `${group}/${version}`;

function parseApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/');
  return slash < 0
    ? { group: '', version: apiVersion }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

/** `virtualservices.networking.istio.io` / `services` — the form used in NotFound/Conflict messages. */
const qualifiedResource = (rt: ResourceType): string => (rt.group ? `${rt.plural}.${rt.group}` : rt.plural);
/** `VirtualService.networking.istio.io` / `Service` — the form used in Invalid messages. */
const qualifiedKind = (rt: ResourceType): string => (rt.group ? `${rt.kind}.${rt.group}` : rt.kind);

function refDetails(rt: ResourceType, name: string, kind: string = rt.plural): StatusDetails {
  return rt.group ? { name, group: rt.group, kind } : { name, kind };
}

// ───────────────────────────────────────────── Status errors ─────────────────────────────────────────────

const errNotFound = (rt: ResourceType, name: string): KubeStatusError =>
  new KubeStatusError(404, 'NotFound', `${qualifiedResource(rt)} "${name}" not found`, refDetails(rt, name));

const errAlreadyExists = (rt: ResourceType, name: string): KubeStatusError =>
  new KubeStatusError(
    409,
    'AlreadyExists',
    `${qualifiedResource(rt)} "${name}" already exists`,
    refDetails(rt, name),
  );

const STALE = 'the object has been modified; please apply your changes to the latest version and try again';
const errConflict = (rt: ResourceType, name: string, why: string = STALE): KubeStatusError =>
  new KubeStatusError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualifiedResource(rt)} "${name}": ${why}`,
    refDetails(rt, name),
  );

interface FieldError {
  field: string;
  /** kube cause reason, e.g. FieldValueInvalid, FieldValueRequired. */
  type: string;
  detail: string;
}

function errInvalid(rt: ResourceType, name: string, fieldErrors: FieldError[]): KubeStatusError {
  const parts = fieldErrors.map((e) => `${e.field}: ${e.detail}`);
  const summary = parts.length === 1 ? (parts[0] ?? '') : `[${parts.join(', ')}]`;
  return new KubeStatusError(422, 'Invalid', `${qualifiedKind(rt)} "${name}" is invalid: ${summary}`, {
    ...refDetails(rt, name, rt.kind),
    causes: fieldErrors.map((e) => ({ reason: e.type, message: e.detail, field: e.field })),
  });
}

const errBadRequest = (message: string): KubeStatusError => new KubeStatusError(400, 'BadRequest', message);

const errPathNotFound = (): KubeStatusError =>
  new KubeStatusError(404, 'NotFound', 'the server could not find the requested resource', {});

const errMethodNotAllowed = (): KubeStatusError =>
  new KubeStatusError(
    405,
    'MethodNotAllowed',
    'the server does not allow this method on the requested resource',
    {},
  );

const errUnsupportedMediaType = (accepted: readonly string[]): KubeStatusError =>
  new KubeStatusError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
  );

// ───────────────────────────────────────────── JSON helpers ─────────────────────────────────────────────

type UnknownRecord = Record<string, unknown>;

const isRecord = (v: unknown): v is UnknownRecord => typeof v === 'object' && v !== null && !Array.isArray(v);

/** JSON round trip: the store only ever holds plain JSON (Dates become strings, undefined disappears). */
function jsonClone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

function deepEqual(a: unknown, b: unknown): boolean {
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
function setOwn(target: UnknownRecord, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Checks the object-shaped parts every stored object needs, then narrows. */
function asKubeObject(rec: UnknownRecord): KubeObject {
  const meta = rec.metadata;
  if (typeof rec.apiVersion !== 'string' || typeof rec.kind !== 'string' || !isRecord(meta)) {
    throw new Error('not a Kubernetes object: apiVersion, kind and metadata are required');
  }
  if (typeof meta.name !== 'string') throw new Error('not a Kubernetes object: metadata.name is required');
  return rec as KubeObject;
}

// ───────────────────────────────────────────── patches ─────────────────────────────────────────────

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

// ───────────────────────────────────────────── selectors ─────────────────────────────────────────────

interface LabelRequirement {
  key: string;
  op: 'eq' | 'neq' | 'in' | 'notin' | 'exists' | 'notexists';
  values: string[];
}

const LABEL_KEY = String.raw`[A-Za-z0-9](?:[-A-Za-z0-9_./]*[A-Za-z0-9])?`;
const LABEL_VALUE = String.raw`(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?`;
const RE_EXISTS = new RegExp(`^(!?)\\s*(${LABEL_KEY})$`);
const RE_EQUALITY = new RegExp(`^(${LABEL_KEY})\\s*(==|=|!=)\\s*(${LABEL_VALUE})$`);
const RE_SET = new RegExp(`^(${LABEL_KEY})\\s+(in|notin)\\s*\\(([^)]*)\\)$`);

/** Splits on commas that are not inside parentheses (`a in (x,y),b` → two terms). */
function splitTopLevel(s: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      terms.push(s.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(s.slice(start));
  return terms.map((x) => x.trim());
}

/** Parses a kube label selector: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`; AND-ed by commas. */
export function parseLabelSelector(selector: string): LabelRequirement[] {
  if (selector.trim() === '') return [];
  return splitTopLevel(selector).map((term) => {
    let m = RE_SET.exec(term);
    if (m) {
      const values = (m[3] ?? '').split(',').map((v) => v.trim());
      if (values.some((v) => !new RegExp(`^${LABEL_VALUE}$`).test(v))) {
        throw errBadRequest(`unable to parse requirement: invalid label value in ${JSON.stringify(term)}`);
      }
      return { key: m[1] ?? '', op: m[2] === 'in' ? 'in' : 'notin', values };
    }
    m = RE_EQUALITY.exec(term);
    if (m) return { key: m[1] ?? '', op: m[2] === '!=' ? 'neq' : 'eq', values: [m[3] ?? ''] };
    m = RE_EXISTS.exec(term);
    if (m) return { key: m[2] ?? '', op: m[1] === '!' ? 'notexists' : 'exists', values: [] };
    throw errBadRequest(
      `unable to parse requirement: found ${JSON.stringify(term)}, expected a valid label selector`,
    );
  });
}

function labelsMatch(reqs: readonly LabelRequirement[], labels: Record<string, string> | undefined): boolean {
  return reqs.every((r) => {
    const has = labels !== undefined && Object.hasOwn(labels, r.key);
    const value = has ? labels[r.key] : undefined;
    switch (r.op) {
      case 'eq':
        return has && value === r.values[0];
      case 'neq':
        return !has || value !== r.values[0];
      case 'in':
        return has && value !== undefined && r.values.includes(value);
      case 'notin':
        return !has || value === undefined || !r.values.includes(value);
      case 'exists':
        return has;
      case 'notexists':
        return !has;
    }
  });
}

interface FieldRequirement {
  field: 'metadata.name' | 'metadata.namespace';
  value: string;
  negate: boolean;
}

function parseFieldSelector(selector: string): FieldRequirement[] {
  if (selector.trim() === '') return [];
  return selector.split(',').map((term) => {
    const m = /^\s*([^=!\s]+)\s*(==|=|!=)\s*(.*?)\s*$/.exec(term);
    if (!m) throw errBadRequest(`invalid field selector: ${JSON.stringify(term)}`);
    const field = m[1];
    if (field !== 'metadata.name' && field !== 'metadata.namespace') {
      throw errBadRequest(
        `field label not supported: ${String(field)} (only metadata.name and metadata.namespace are)`,
      );
    }
    return { field, value: m[3] ?? '', negate: m[2] === '!=' };
  });
}

function fieldsMatch(reqs: readonly FieldRequirement[], obj: KubeObject): boolean {
  return reqs.every((r) => {
    const actual = r.field === 'metadata.name' ? obj.metadata.name : (obj.metadata.namespace ?? '');
    return (actual === r.value) !== r.negate;
  });
}

// ───────────────────────────────────────────── Istio admission ─────────────────────────────────────────────

/**
 * The subset of istiod's `validation.istio.io` webhook meshshift depends on: route weights.
 * Returns the error strings (empty = valid). proto3 semantics: a weight of 0 is the same as no weight.
 */
export function validateVirtualService(obj: KubeObject): string[] {
  const errors: string[] = [];
  const spec = obj.spec;
  if (!isRecord(spec)) return ['virtual service must have at least one host'];
  const hosts = spec.hosts;
  if (!Array.isArray(hosts) || hosts.length === 0) errors.push('virtual service must have at least one host');
  else if (hosts.some((h) => typeof h !== 'string' || h === ''))
    errors.push('virtual service host must be a non-empty string');

  for (const protocol of ['http', 'tcp', 'tls'] as const) {
    const rules = spec[protocol];
    if (rules === undefined || rules === null) continue;
    if (!Array.isArray(rules)) {
      errors.push(`${protocol} must be a list of routes`);
      continue;
    }
    rules.forEach((rule: unknown) => {
      if (!isRecord(rule)) {
        errors.push(`${protocol} route must be an object`);
        return;
      }
      const route = rule.route;
      if (route === undefined || route === null) {
        const alternative =
          protocol === 'http' && (rule.redirect !== undefined || rule.directResponse !== undefined);
        if (!alternative)
          errors.push(
            protocol === 'http' ? 'HTTP route, redirect or direct response is required' : 'route is required',
          );
        return;
      }
      if (!Array.isArray(route) || route.length === 0) {
        errors.push(`${protocol} route must have at least one destination`);
        return;
      }
      let total = 0;
      let weightsOk = true;
      for (const dest of route as unknown[]) {
        if (!isRecord(dest) || !isRecord(dest.destination)) {
          errors.push('destination is required');
          weightsOk = false;
          continue;
        }
        const host = dest.destination.host;
        if (typeof host !== 'string' || host === '') errors.push('destination.host is required');
        const weight = dest.weight;
        if (weight === undefined || weight === null) continue;
        if (typeof weight !== 'number' || !Number.isInteger(weight)) {
          errors.push(`weight ${JSON.stringify(weight)} is not an integer`);
          weightsOk = false;
        } else if (weight < 0) {
          errors.push(`weight ${weight} < 0`);
          weightsOk = false;
        } else if (weight > 100) {
          errors.push(`weight ${weight} > 100`);
          weightsOk = false;
        } else total += weight;
      }
      if (!weightsOk) return;
      if (route.length > 1 && total !== 100) errors.push(`total destination weight ${total} != 100`);
      if (route.length === 1 && total !== 0 && total !== 100) {
        errors.push(`total destination weight ${total} != 100`);
      }
    });
  }
  return errors;
}

// ───────────────────────────────────────────── the server ─────────────────────────────────────────────

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

interface StoredEvent {
  rv: number;
  type: EventType;
  rt: ResourceType;
  object: KubeObject;
  /** The state before a MODIFIED event (lets label-filtered watches synthesise ADDED/DELETED). */
  previous?: KubeObject;
}

interface Watcher {
  rt: ResourceType;
  version: string;
  namespace?: string;
  labels: LabelRequirement[];
  fields: FieldRequirement[];
  res: ServerResponse;
  timer?: NodeJS.Timeout;
}

interface Reply {
  code: number;
  body: unknown;
}

/** One parsed request, after hooks. */
interface Ctx {
  method: string;
  path: string;
  params: URLSearchParams;
  contentType?: string;
  /** Normalized media type of the body (lowercase, no parameters). */
  mediaType?: string;
  body?: unknown;
  parseError?: string;
}

/** What a resource path resolves to. */
interface Target {
  rt: ResourceType;
  version: string;
  /** Set for namespaced paths; undefined for cluster-wide lists and cluster-scoped kinds. */
  namespace?: string;
  name?: string;
  subresource?: string;
}

const objectKey = (rt: ResourceType, namespace: string, name: string): string =>
  `${rt.group}/${rt.plural}/${namespace}/${name}`;

/** kube timestamps are RFC 3339 with second precision. */
const nowTimestamp = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

class TestKubeApiServer implements KubeApiServer {
  readonly requests: RecordedRequest[] = [];

  private readonly server: http.Server;
  private readonly token: string | undefined;
  private readonly watchHistory: number;
  private readonly types: readonly ResourceType[];
  /** Non-core API groups → served versions (first = preferred), in discovery order. */
  private readonly groups = new Map<string, readonly string[]>();

  private readonly objects = new Map<string, KubeObject>();
  private readonly history: StoredEvent[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly hooks: { fn: RequestHook }[] = [];

  /** Global resourceVersion counter; every stored write takes the next value. */
  private rv = 1000;
  /** resourceVersion of the newest event dropped from history (0 = nothing dropped yet). */
  private compactedRv = 0;
  private boundPort = 0;
  private closing: Promise<void> | undefined;

  constructor(opts: KubeApiServerOptions) {
    this.token = opts.token;
    this.watchHistory = Math.max(0, opts.watchHistory ?? 1000);
    this.types = buildResourceTypes(opts.istioVersions ?? DEFAULT_ISTIO_VERSIONS);
    for (const rt of this.types) {
      if (rt.group !== '' && !this.groups.has(rt.group)) this.groups.set(rt.group, rt.versions);
    }
    this.server = http.createServer({ noDelay: true }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        // Last resort: handle() answers every error itself, so this is a bug in the server.
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': MEDIA_JSON });
        res.end(JSON.stringify(new KubeStatusError(500, 'InternalError', String(err)).toStatus()));
      });
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.boundPort = (this.server.address() as AddressInfo).port;
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    return `http://127.0.0.1:${this.boundPort}`;
  }

  // ─────────────── kubeconfig ───────────────

  private clientToken(): string {
    return this.token ?? 'meshshift-test-token';
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'meshshift-test', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'meshshift-test', token: this.clientToken() }],
      contexts: [{ name: 'meshshift-test', cluster: 'meshshift-test', user: 'meshshift-test' }],
      currentContext: 'meshshift-test',
    });
    return kc;
  }

  kubeconfigYaml(): string {
    return stringifyYaml({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'meshshift-test', cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'meshshift-test', user: { token: this.clientToken() } }],
      contexts: [{ name: 'meshshift-test', context: { cluster: 'meshshift-test', user: 'meshshift-test' } }],
      'current-context': 'meshshift-test',
    });
  }

  /** Writes `<dir>/kubeconfig-<port>.yaml` (mode 0600; port-suffixed so servers can share a dir). */
  writeKubeconfig(dir: string): string {
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `kubeconfig-${this.boundPort}.yaml`);
    writeFileSync(file, this.kubeconfigYaml(), { mode: 0o600 });
    return file;
  }

  // ─────────────── test-side store access (no admission, no locking) ───────────────

  put(input: KubeObject): KubeObject {
    const obj = asKubeObject(jsonClone(input) as UnknownRecord);
    const { group, version } = parseApiVersion(obj.apiVersion);
    const rt = this.types.find((t) => t.group === group && t.kind === obj.kind);
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
    obj.metadata.resourceVersion = String(++this.rv);
    this.objects.set(key, obj);
    this.emit(existing ? 'MODIFIED' : 'ADDED', rt, obj, existing);
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
    next.metadata.resourceVersion = String(++this.rv);
    this.objects.set(key, next);
    this.emit('MODIFIED', rt, next, current);
    return jsonClone(next);
  }

  /** Deletes like another client would (emits DELETED). A no-op when the object does not exist. */
  remove(ref: ObjectRef): void {
    const rt = this.typeOrThrow(ref.group, ref.plural);
    const namespace = rt.namespaced ? ref.namespace : '';
    if (this.objects.has(objectKey(rt, namespace, ref.name))) this.deleteStored(rt, namespace, ref.name);
  }

  onRequest(hook: RequestHook): () => void {
    const entry = { fn: hook };
    this.hooks.push(entry);
    return () => {
      const i = this.hooks.indexOf(entry);
      if (i >= 0) this.hooks.splice(i, 1);
    };
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      for (const w of [...this.watchers]) this.endWatch(w);
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    return this.closing;
  }

  // ─────────────── store internals ───────────────

  private typeOrThrow(group: string, plural: string): ResourceType {
    const rt = this.types.find((t) => t.group === group && t.plural === plural);
    if (!rt) throw new Error(`unknown resource ${plural}${group ? `.${group}` : ''}`);
    return rt;
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

  private initSystemFields(rt: ResourceType, obj: KubeObject): void {
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
  private select(rt: ResourceType, namespace: string | undefined): KubeObject[] {
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

  private deleteStored(rt: ResourceType, namespace: string, name: string): KubeObject {
    const key = objectKey(rt, namespace, name);
    const current = this.objects.get(key);
    if (!current) throw errNotFound(rt, name);
    this.objects.delete(key);
    // The DELETED event (and the DELETE response) carry the resourceVersion of the deletion.
    const gone = jsonClone(current);
    gone.metadata.resourceVersion = String(++this.rv);
    this.emit('DELETED', rt, gone);
    if (rt.kind === 'Namespace') {
      // Real namespace deletion is asynchronous (Terminating); deleting the contents at once is enough here.
      for (const t of this.types.filter((x) => x.namespaced)) {
        for (const o of this.select(t, name)) this.deleteStored(t, name, o.metadata.name);
      }
    }
    return gone;
  }

  /** A copy of a stored object as served under `version` (Istio objects are served under every version). */
  private present(rt: ResourceType, version: string, obj: KubeObject): KubeObject {
    const copy = jsonClone(obj);
    copy.apiVersion = groupVersion(rt.group, version);
    copy.kind = rt.kind;
    return copy;
  }

  // ─────────────── watch plumbing ───────────────

  private emit(type: EventType, rt: ResourceType, object: KubeObject, previous?: KubeObject): void {
    const event: StoredEvent = { rv: this.rv, type, rt, object: jsonClone(object) };
    if (previous) event.previous = jsonClone(previous);
    this.history.push(event);
    while (this.history.length > this.watchHistory) {
      const dropped = this.history.shift();
      if (dropped) this.compactedRv = dropped.rv;
    }
    for (const w of this.watchers) this.deliver(w, event);
  }

  private watchMatches(w: Watcher, obj: KubeObject): boolean {
    if (w.namespace !== undefined && w.rt.namespaced && obj.metadata.namespace !== w.namespace) return false;
    return labelsMatch(w.labels, obj.metadata.labels) && fieldsMatch(w.fields, obj);
  }

  /** Sends one event to one watcher, translating MODIFIED across a selector boundary into ADDED/DELETED. */
  private deliver(w: Watcher, e: StoredEvent): void {
    if (e.rt !== w.rt) return;
    const now = this.watchMatches(w, e.object);
    if (e.type !== 'MODIFIED') {
      if (now) this.writeEvent(w, e.type, e.object);
      return;
    }
    const before = e.previous !== undefined && this.watchMatches(w, e.previous);
    if (now) this.writeEvent(w, before ? 'MODIFIED' : 'ADDED', e.object);
    else if (before && e.previous) {
      const last = jsonClone(e.previous);
      last.metadata.resourceVersion = e.object.metadata.resourceVersion;
      this.writeEvent(w, 'DELETED', last);
    }
  }

  private writeEvent(w: Watcher, type: EventType | 'ERROR', object: unknown): void {
    if (w.res.writableEnded || w.res.destroyed) return;
    const payload = type === 'ERROR' ? object : this.present(w.rt, w.version, object as KubeObject);
    w.res.write(`${JSON.stringify({ type, object: payload })}\n`);
  }

  private endWatch(w: Watcher): void {
    if (w.timer) clearTimeout(w.timer);
    this.watchers.delete(w);
    if (!w.res.writableEnded) w.res.end();
  }

  // ─────────────── HTTP ───────────────

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    const contentTypeHeader = req.headers['content-type'];
    const ctx: Ctx = { method, path: url.pathname, params: url.searchParams };
    if (contentTypeHeader !== undefined) {
      ctx.contentType = contentTypeHeader;
      ctx.mediaType = (contentTypeHeader.split(';')[0] ?? '').trim().toLowerCase();
    }
    const query = url.search.startsWith('?') ? url.search.slice(1) : url.search;
    try {
      const raw = await readBody(req);
      if (raw.length > 0) {
        try {
          ctx.body = ctx.mediaType?.includes('yaml')
            ? (parseYaml(raw) as unknown)
            : (JSON.parse(raw) as unknown);
        } catch (err) {
          ctx.body = raw;
          ctx.parseError = err instanceof Error ? err.message : String(err);
        }
      }
      for (const { fn } of [...this.hooks]) {
        const hookReq: HookRequest = { method, path: ctx.path, query };
        if (ctx.contentType !== undefined) hookReq.contentType = ctx.contentType;
        if (ctx.body !== undefined) hookReq.body = ctx.body;
        await fn(hookReq);
      }
      this.authenticate(req);
      const reply = this.route(ctx, res, query);
      if (reply) this.send(res, ctx, query, reply.code, reply.body);
    } catch (err) {
      const statusErr =
        err instanceof KubeStatusError
          ? err
          : new KubeStatusError(500, 'InternalError', err instanceof Error ? err.message : String(err));
      const headers: Record<string, string> = {};
      const retry = statusErr.details?.retryAfterSeconds;
      if (retry !== undefined) headers['Retry-After'] = String(retry);
      if (res.headersSent) {
        res.end();
        return;
      }
      this.send(res, ctx, query, statusErr.code, statusErr.toStatus(), headers);
    }
  }

  private record(ctx: Ctx, query: string, status: number): void {
    const entry: RecordedRequest = { method: ctx.method, path: ctx.path, query, status, at: Date.now() };
    if (ctx.contentType !== undefined) entry.contentType = ctx.contentType;
    if (ctx.body !== undefined) entry.body = ctx.body;
    this.requests.push(entry);
  }

  private send(
    res: ServerResponse,
    ctx: Ctx,
    query: string,
    code: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    this.record(ctx, query, code);
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(code, {
      'Content-Type': typeof body === 'string' ? 'text/plain; charset=utf-8' : MEDIA_JSON,
      'Content-Length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  }

  private authenticate(req: IncomingMessage): void {
    if (this.token === undefined) return;
    const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    if (m?.[1]?.trim() !== this.token) throw new KubeStatusError(401, 'Unauthorized', 'Unauthorized');
  }

  /** Returns the reply to send, or undefined when the request became a watch stream. */
  private route(ctx: Ctx, res: ServerResponse, query: string): Reply | undefined {
    let seg: string[];
    try {
      seg = ctx.path
        .split('/')
        .filter((s) => s.length > 0)
        .map((s) => decodeURIComponent(s));
    } catch {
      throw errPathNotFound();
    }
    const [root, a, b] = seg;
    const getOnly = (body: () => unknown): Reply => {
      if (ctx.method !== 'GET') throw errMethodNotAllowed();
      return { code: 200, body: body() };
    };

    if (root === 'healthz' || root === 'readyz' || root === 'livez') return getOnly(() => 'ok');
    if (root === 'version' && seg.length === 1) {
      return getOnly(() => ({
        major: '1',
        minor: '31',
        gitVersion: 'v1.31.0-meshshift-test',
        platform: 'linux/amd64',
      }));
    }
    if (root === 'api') {
      if (seg.length === 1) {
        return getOnly(() => ({
          kind: 'APIVersions',
          versions: ['v1'],
          serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${this.port}` }],
        }));
      }
      if (a !== 'v1') throw errPathNotFound();
      if (seg.length === 2) return getOnly(() => this.resourceList('', 'v1'));
      return this.resourceRequest(ctx, res, query, '', 'v1', seg.slice(2));
    }
    if (root === 'apis') {
      if (seg.length === 1) {
        return getOnly(() => ({
          kind: 'APIGroupList',
          apiVersion: 'v1',
          groups: [...this.groups.keys()].map((g) => this.apiGroup(g)),
        }));
      }
      if (a === undefined || !this.groups.has(a)) throw errPathNotFound();
      if (seg.length === 2)
        return getOnly(() => ({ kind: 'APIGroup', apiVersion: 'v1', ...this.apiGroup(a) }));
      if (b === undefined || !(this.groups.get(a) ?? []).includes(b)) throw errPathNotFound();
      if (seg.length === 3) return getOnly(() => this.resourceList(a, b));
      return this.resourceRequest(ctx, res, query, a, b, seg.slice(3));
    }
    throw errPathNotFound();
  }

  private apiGroup(group: string): UnknownRecord {
    const versions = (this.groups.get(group) ?? []).map((v) => ({
      groupVersion: `${group}/${v}`,
      version: v,
    }));
    return { name: group, versions, preferredVersion: versions[0] };
  }

  private resourceList(group: string, version: string): UnknownRecord {
    const resources: UnknownRecord[] = [];
    for (const rt of this.types.filter((t) => t.group === group && t.versions.includes(version))) {
      resources.push({
        name: rt.plural,
        singularName: rt.singular,
        namespaced: rt.namespaced,
        kind: rt.kind,
        verbs: ALL_VERBS,
        ...(rt.shortNames.length > 0 ? { shortNames: rt.shortNames } : {}),
      });
      if (rt.statusSubresource) {
        resources.push({
          name: `${rt.plural}/status`,
          singularName: '',
          namespaced: rt.namespaced,
          kind: rt.kind,
          verbs: ['get', 'patch', 'update'],
        });
      }
    }
    return {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: groupVersion(group, version),
      resources,
    };
  }

  /** Resolves `rest` (the path after /api/v1 or /apis/{group}/{version}) to a resource target. */
  private resolve(group: string, version: string, rest: readonly string[]): Target {
    const typeFor = (plural: string | undefined): ResourceType | undefined =>
      this.types.find((t) => t.group === group && t.plural === plural && t.versions.includes(version));
    const [p0, p1, p2, p3, p4] = rest;
    // /namespaces/{ns}/{plural}[/{name}[/{sub}]]
    if (p0 === 'namespaces' && rest.length >= 3 && p1 !== undefined) {
      const rt = typeFor(p2);
      if (rt?.namespaced && rest.length <= 5) {
        const target: Target = { rt, version, namespace: p1 };
        if (p3 !== undefined) target.name = p3;
        if (p4 !== undefined) target.subresource = p4;
        return target;
      }
    }
    // /{plural}[/{name}[/{sub}]]: cluster-wide list of a namespaced kind, or a cluster-scoped kind.
    const rt = typeFor(p0);
    if (rt && rest.length === 1) return { rt, version };
    if (rt && !rt.namespaced && rest.length <= 3 && p1 !== undefined) {
      const target: Target = { rt, version, name: p1 };
      if (p2 !== undefined) target.subresource = p2;
      return target;
    }
    throw errPathNotFound();
  }

  private resourceRequest(
    ctx: Ctx,
    res: ServerResponse,
    query: string,
    group: string,
    version: string,
    rest: readonly string[],
  ): Reply | undefined {
    const target = this.resolve(group, version, rest);
    const { rt, name, subresource } = target;
    const isWatch = /^(true|1)$/i.test(ctx.params.get('watch') ?? '');

    if (name === undefined) {
      if (ctx.method === 'GET') {
        if (isWatch) {
          this.watch(ctx, res, query, target);
          return undefined;
        }
        return { code: 200, body: this.listReply(ctx, target) };
      }
      // Creating needs a namespace in the path for namespaced kinds (POST /apis/g/v/plural → 405).
      if (ctx.method === 'POST' && (!rt.namespaced || target.namespace !== undefined)) {
        return { code: 201, body: this.create(ctx, target) };
      }
      throw errMethodNotAllowed();
    }

    if (subresource !== undefined) {
      if (subresource !== 'status' || !rt.statusSubresource) throw errPathNotFound();
      switch (ctx.method) {
        case 'GET':
          return { code: 200, body: this.present(rt, version, this.current(target)) };
        case 'PUT':
          return { code: 200, body: this.replace(ctx, target) };
        case 'PATCH':
          return { code: 200, body: this.patch(ctx, target) };
        default:
          throw errMethodNotAllowed();
      }
    }

    switch (ctx.method) {
      case 'GET':
        if (isWatch) {
          // Watching one object == watching the collection with a metadata.name field selector.
          const params = new URLSearchParams(ctx.params);
          params.set('fieldSelector', `metadata.name=${name}`);
          this.watch({ ...ctx, params }, res, query, { ...target, name: undefined });
          return undefined;
        }
        return { code: 200, body: this.present(rt, version, this.current(target)) };
      case 'PUT':
        return { code: 200, body: this.replace(ctx, target) };
      case 'PATCH':
        return { code: 200, body: this.patch(ctx, target) };
      case 'DELETE':
        return { code: 200, body: this.delete(ctx, target) };
      default:
        throw errMethodNotAllowed();
    }
  }

  private keyOf(target: Target, name: string): string {
    return objectKey(target.rt, target.rt.namespaced ? (target.namespace ?? '') : '', name);
  }

  private current(target: Target): KubeObject {
    const name = target.name ?? '';
    const obj = this.objects.get(this.keyOf(target, name));
    if (!obj) throw errNotFound(target.rt, name);
    return obj;
  }

  private isDryRun(ctx: Ctx): boolean {
    return ctx.params.getAll('dryRun').includes('All');
  }

  // ─────────────── LIST / WATCH ───────────────

  private listReply(ctx: Ctx, target: Target): UnknownRecord {
    const { rt, version } = target;
    const labels = parseLabelSelector(ctx.params.get('labelSelector') ?? '');
    const fields = parseFieldSelector(ctx.params.get('fieldSelector') ?? '');
    let items = this.select(rt, target.namespace).filter(
      (o) => labelsMatch(labels, o.metadata.labels) && fieldsMatch(fields, o),
    );

    // limit/continue paging; the token is just the offset into the (sorted) result.
    const metadata: UnknownRecord = { resourceVersion: String(this.rv) };
    const cont = ctx.params.get('continue');
    let offset = 0;
    if (cont) {
      const decoded = Number(Buffer.from(cont, 'base64url').toString('utf8'));
      if (!Number.isInteger(decoded) || decoded < 0)
        throw errBadRequest(`invalid continue token ${JSON.stringify(cont)}`);
      offset = decoded;
    }
    const limit = Number(ctx.params.get('limit') ?? '0');
    items = items.slice(offset);
    if (Number.isInteger(limit) && limit > 0 && items.length > limit) {
      metadata.continue = Buffer.from(String(offset + limit), 'utf8').toString('base64url');
      metadata.remainingItemCount = items.length - limit;
      items = items.slice(0, limit);
    }

    return {
      apiVersion: groupVersion(rt.group, version),
      kind: `${rt.kind}List`,
      metadata,
      items: items.map((o) => {
        const item: UnknownRecord = this.present(rt, version, o);
        if (rt.builtin) {
          // Built-in list items come without apiVersion/kind from a real apiserver.
          delete item.apiVersion;
          delete item.kind;
        }
        return item;
      }),
    };
  }

  private watch(ctx: Ctx, res: ServerResponse, query: string, target: Target): void {
    // Validate everything before committing to a 200 stream.
    const labels = parseLabelSelector(ctx.params.get('labelSelector') ?? '');
    const fields = parseFieldSelector(ctx.params.get('fieldSelector') ?? '');
    const rvParam = ctx.params.get('resourceVersion') ?? '';
    let since: number | undefined;
    if (rvParam !== '' && rvParam !== '0') {
      since = Number(rvParam);
      if (!Number.isInteger(since) || since < 0) {
        throw errBadRequest(`invalid resource version: ${JSON.stringify(rvParam)}`);
      }
    }
    const timeoutSeconds = Number(ctx.params.get('timeoutSeconds') ?? '0');

    this.record(ctx, query, 200);
    res.writeHead(200, {
      'Content-Type': MEDIA_JSON,
      'Transfer-Encoding': 'chunked',
      'Cache-Control': 'no-cache, private',
    });
    res.flushHeaders();

    const w: Watcher = { rt: target.rt, version: target.version, labels, fields, res };
    if (target.namespace !== undefined) w.namespace = target.namespace;

    if (since !== undefined && since < this.compactedRv) {
      // The events after `since` are gone: tell the client to relist, as the watch cache does.
      this.writeEvent(w, 'ERROR', {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: `too old resource version: ${since} (${this.compactedRv})`,
        reason: 'Expired',
        code: 410,
      });
      res.end();
      return;
    }

    if (since === undefined) {
      // No (or "0") resourceVersion: synthetic ADDED for the current state, then live events.
      for (const obj of this.select(w.rt, w.namespace)) {
        if (this.watchMatches(w, obj)) this.writeEvent(w, 'ADDED', obj);
      }
    } else {
      for (const e of this.history) if (e.rv > since) this.deliver(w, e);
    }

    this.watchers.add(w);
    if (Number.isFinite(timeoutSeconds) && timeoutSeconds > 0) {
      w.timer = setTimeout(() => this.endWatch(w), timeoutSeconds * 1000);
    }
    res.on('close', () => this.endWatch(w));
  }

  // ─────────────── writes ───────────────

  /** Validates and normalizes a full object sent by a client (POST/PUT). */
  private incoming(ctx: Ctx, target: Target): KubeObject {
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
  private checkNamespace(target: Target, obj: KubeObject): string {
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

  private admit(rt: ResourceType, obj: KubeObject): void {
    if (rt.group === ISTIO_NETWORKING && rt.kind === 'VirtualService') {
      const errors = validateVirtualService(obj);
      if (errors.length > 0) {
        throw errBadRequest(
          `admission webhook "validation.istio.io" denied the request: configuration is invalid: ${errors.join(', ')}`,
        );
      }
    }
  }

  private create(ctx: Ctx, target: Target): KubeObject {
    const { rt, version } = target;
    const obj = this.incoming(ctx, target);
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
    const namespace = this.checkNamespace(target, obj);
    if (rt.namespaced && !this.objects.has(objectKey(this.typeOrThrow('', 'namespaces'), '', namespace))) {
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
    if (this.objects.has(key)) throw errAlreadyExists(rt, name);
    if (rt.statusSubresource) delete obj.status; // status is written through /status only
    this.initSystemFields(rt, obj);
    this.admit(rt, obj);
    if (this.isDryRun(ctx)) return this.present(rt, version, obj);
    obj.metadata.resourceVersion = String(++this.rv);
    this.objects.set(key, obj);
    this.emit('ADDED', rt, obj);
    return this.present(rt, version, obj);
  }

  private replace(ctx: Ctx, target: Target): KubeObject {
    const { rt } = target;
    const name = target.name ?? '';
    const current = this.current(target);
    const obj = this.incoming(ctx, target);
    if (obj.metadata.name !== name) {
      throw errBadRequest(
        `the name of the object (${String(obj.metadata.name ?? '')}) does not match the name on the URL (${name})`,
      );
    }
    this.checkNamespace(target, obj);
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
    return this.commitUpdate(ctx, target, current, obj);
  }

  private patch(ctx: Ctx, target: Target): KubeObject {
    const { rt, version } = target;
    const name = target.name ?? '';
    const current = this.current(target);
    const media = ctx.mediaType ?? '';
    const accepted = rt.builtin
      ? [MEDIA_JSON_PATCH, MEDIA_MERGE_PATCH, MEDIA_STRATEGIC_PATCH]
      : [MEDIA_JSON_PATCH, MEDIA_MERGE_PATCH];
    if (!accepted.includes(media)) throw errUnsupportedMediaType(accepted);
    if (ctx.parseError !== undefined) throw errBadRequest(`error decoding patch: ${ctx.parseError}`);

    const base = this.present(rt, version, current);
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
    return this.commitUpdate(ctx, target, current, asKubeObject(patched));
  }

  /**
   * Shared tail of PUT and PATCH: restore server-owned fields, apply /status rules, admit, detect no-ops
   * (kube does not bump resourceVersion or emit an event for a write that changes nothing), commit.
   */
  private commitUpdate(ctx: Ctx, target: Target, current: KubeObject, next: KubeObject): KubeObject {
    const { rt, version } = target;
    const currentView = this.present(rt, version, current);
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
    this.admit(rt, result);
    if (deepEqual(currentView, result)) return currentView;
    result.metadata.generation = nextGeneration(current, result);
    if (this.isDryRun(ctx)) return result;
    result.metadata.resourceVersion = String(++this.rv);
    this.objects.set(this.keyOf(target, result.metadata.name), result);
    this.emit('MODIFIED', rt, result, current);
    return this.present(rt, version, result);
  }

  private delete(ctx: Ctx, target: Target): KubeObject {
    const { rt, version } = target;
    const name = target.name ?? '';
    const current = this.current(target);
    // DeleteOptions.preconditions, as sent by `kubectl delete --resource-version` and friends.
    const pre = isRecord(ctx.body) && isRecord(ctx.body.preconditions) ? ctx.body.preconditions : undefined;
    if (
      typeof pre?.resourceVersion === 'string' &&
      pre.resourceVersion !== current.metadata.resourceVersion
    ) {
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
    if (this.isDryRun(ctx)) return this.present(rt, version, current);
    const namespace = rt.namespaced ? (target.namespace ?? '') : '';
    return this.present(rt, version, this.deleteStored(rt, namespace, name));
  }
}

/** generation + 1 when spec changed (kube's rule for kinds with a spec). */
function nextGeneration(current: KubeObject, next: KubeObject): number {
  const gen = current.metadata.generation ?? 1;
  return deepEqual(current.spec, next.spec) ? gen : gen + 1;
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

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new KubeStatusError(413, 'RequestEntityTooLarge', 'the request body is too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
