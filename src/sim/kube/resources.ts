/**
 * The built-in resource types the test server serves (core, apps, events, coordination, apiextensions, and Istio's
 * networking and security kinds, which kube would get from CRDs too) and naming helpers. Other custom resources
 * (meshshift's MigrationPlan) are registered from their CustomResourceDefinition objects (crd.ts).
 */
import { jsonClone, type UnknownRecord } from './json.js';
import type { KubeObject } from './types.js';

export const ISTIO_NETWORKING = 'networking.istio.io';
export const ISTIO_SECURITY = 'security.istio.io';
export const MESHSHIFT_GROUP = 'meshshift.io';
export const EVENTS_GROUP = 'events.k8s.io';
export const COORDINATION_GROUP = 'coordination.k8s.io';
/** Groups served by kube-apiserver itself (not CRDs): strategic merge and unconditional PUT are allowed. */
const BUILTIN_GROUPS = [
  '',
  'apps',
  EVENTS_GROUP,
  COORDINATION_GROUP,
  'apiextensions.k8s.io',
  'policy',
  'networking.k8s.io',
  'rbac.authorization.k8s.io',
];
const RBAC = 'rbac.authorization.k8s.io';
export const DEFAULT_ISTIO_VERSIONS = ['v1', 'v1beta1', 'v1alpha3'];

export const MEDIA_JSON = 'application/json';
export const MEDIA_MERGE_PATCH = 'application/merge-patch+json';
export const MEDIA_JSON_PATCH = 'application/json-patch+json';
export const MEDIA_STRATEGIC_PATCH = 'application/strategic-merge-patch+json';
export const MEDIA_APPLY_PATCH = 'application/apply-patch+yaml';

export const MAX_BODY_BYTES = 16 * 1024 * 1024;
export const ALL_VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  format?: string;
  priority?: number;
}

/** What a CRD adds to a resource type: per served version, its schema (schema.ts Schema) and printer columns. */
export interface CrdInfo {
  readonly name: string;
  readonly schemas: Readonly<Record<string, UnknownRecord>>;
  readonly columns: Readonly<Record<string, readonly PrinterColumn[]>>;
  readonly categories: readonly string[];
}

export interface ResourceType {
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
  /** Verbs discovery lists (default: all). */
  readonly verbs?: readonly string[];
  /** Set for kinds defined by a CustomResourceDefinition: its name, schemas and printer columns. */
  readonly crd?: CrdInfo;
  /** Served as a view of another type's store (core/v1 Events over events.k8s.io/v1). */
  readonly viewOf?: { group: string; plural: string };
}

export function buildResourceTypes(istioVersions: readonly string[]): ResourceType[] {
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
    builtin: BUILTIN_GROUPS.includes(group),
    statusSubresource: extra.status ?? false,
    shortNames: extra.shortNames ?? [],
  });
  const types: ResourceType[] = [
    t('', ['v1'], 'services', 'Service', { status: true, shortNames: ['svc'] }),
    t('', ['v1'], 'endpoints', 'Endpoints', { shortNames: ['ep'] }),
    t('', ['v1'], 'configmaps', 'ConfigMap', { shortNames: ['cm'] }),
    t('', ['v1'], 'namespaces', 'Namespace', { namespaced: false, shortNames: ['ns'] }),
    t('', ['v1'], 'serviceaccounts', 'ServiceAccount', { shortNames: ['sa'] }),
    t('', ['v1'], 'secrets', 'Secret'),
    t('apps', ['v1'], 'deployments', 'Deployment', { status: true, shortNames: ['deploy'] }),
    t('apps', ['v1'], 'statefulsets', 'StatefulSet', { status: true, shortNames: ['sts'] }),
    // Stored as given (what `kubectl apply -k deploy/` needs); no kind-specific validation.
    t('policy', ['v1'], 'poddisruptionbudgets', 'PodDisruptionBudget', { status: true, shortNames: ['pdb'] }),
    t('networking.k8s.io', ['v1'], 'networkpolicies', 'NetworkPolicy', { shortNames: ['netpol'] }),
    t(RBAC, ['v1'], 'clusterroles', 'ClusterRole', { namespaced: false }),
    t(RBAC, ['v1'], 'clusterrolebindings', 'ClusterRoleBinding', { namespaced: false }),
    t(RBAC, ['v1'], 'roles', 'Role'),
    t(RBAC, ['v1'], 'rolebindings', 'RoleBinding'),
    {
      ...t('', ['v1'], 'events', 'Event', { shortNames: ['ev'] }),
      verbs: ['get', 'list', 'watch'],
      viewOf: { group: EVENTS_GROUP, plural: 'events' },
    },
    t(EVENTS_GROUP, ['v1'], 'events', 'Event', { shortNames: ['ev'] }),
    t(COORDINATION_GROUP, ['v1'], 'leases', 'Lease'),
    t('apiextensions.k8s.io', ['v1'], 'customresourcedefinitions', 'CustomResourceDefinition', {
      namespaced: false,
      status: true,
      shortNames: ['crd', 'crds'],
    }),
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

export const groupVersion = (group: string, version: string): string =>
  group === '' ? version : `${group}/${version}`;

export function parseApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/');
  return slash < 0
    ? { group: '', version: apiVersion }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

/** `virtualservices.networking.istio.io` / `services` — the form used in NotFound/Conflict messages. */
export const qualifiedResource = (rt: ResourceType): string =>
  rt.group ? `${rt.plural}.${rt.group}` : rt.plural;
/** `VirtualService.networking.istio.io` / `Service` — the form used in Invalid messages. */
export const qualifiedKind = (rt: ResourceType): string => (rt.group ? `${rt.kind}.${rt.group}` : rt.kind);

export const objectKey = (rt: ResourceType, namespace: string, name: string): string =>
  `${rt.group}/${rt.plural}/${namespace}/${name}`;

/** A copy of a stored object as served under `version` (Istio objects are served under every version). */
export function present(rt: ResourceType, version: string, obj: KubeObject): KubeObject {
  const copy = jsonClone(obj);
  copy.apiVersion = groupVersion(rt.group, version);
  copy.kind = rt.kind;
  return copy;
}
