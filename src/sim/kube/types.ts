/** The public shapes of the Kubernetes API test server: stored objects, recorded requests, options, the server. */
import type { KubeConfig } from '@kubernetes/client-node';

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

/** One (group, resource, verb[, namespace]) pattern; an omitted field matches anything. */
export interface AccessRule {
  group?: string;
  /** A resource plural, or `plural/subresource`. */
  resource?: string;
  verb?: string;
  namespace?: string;
}

/**
 * Who may do what. Default (no policy, or no `grants`): everything is allowed. With `grants`, only what a grant
 * matches is allowed. A matching denial always wins.
 */
export interface AccessPolicy {
  grants?: AccessRule[];
  denials?: AccessRule[];
}

export interface KubeApiServerOptions {
  /** When set, every request needs `Authorization: Bearer <token>`, else 401. */
  token?: string;
  /** networking.istio.io versions served, first = preferred. Default ['v1', 'v1beta1', 'v1alpha3']. */
  istioVersions?: string[];
  /** Watch events kept for resuming a watch from a resourceVersion. Default 1000. */
  watchHistory?: number;
  /**
   * CustomResourceDefinitions installed at start (apiextensions.k8s.io/v1 objects; each registers its type).
   * Default: meshshift's MigrationPlan CRD (`meshshift crd`). `[]` starts without, for a client to apply it.
   */
  crds?: KubeObject[];
  /** Answers to SelfSubjectAccessReviews. Default: everything allowed. */
  access?: AccessPolicy;
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
   * request (a request whose client disconnected meanwhile is then not applied, and is recorded with status
   * 499), or throw a {@link KubeStatusError} to make the server answer with that Status instead
   * (any other thrown error becomes a 500 InternalError). Returns an unsubscribe function.
   */
  onRequest(hook: RequestHook): () => void;
  /** Replaces the grants/denials SelfSubjectAccessReviews are answered from. */
  setAccess(policy: AccessPolicy): void;
  close(): Promise<void>;
}
