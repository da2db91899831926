/** The resource types the test server serves (core, apps, Istio networking and security) and naming helpers. */
import { jsonClone } from './json.js';
import type { KubeObject } from './types.js';

export const ISTIO_NETWORKING = 'networking.istio.io';
export const ISTIO_SECURITY = 'security.istio.io';
export const MESHSHIFT_GROUP = 'meshshift.io';
export const EVENTS_GROUP = 'events.k8s.io';
export const COORDINATION_GROUP = 'coordination.k8s.io';
/** Groups served by kube-apiserver itself (not CRDs): strategic merge and unconditional PUT are allowed. */
const BUILTIN_GROUPS = ['', 'apps', EVENTS_GROUP, COORDINATION_GROUP];
export const DEFAULT_ISTIO_VERSIONS = ['v1', 'v1beta1', 'v1alpha3'];

export const MEDIA_JSON = 'application/json';
export const MEDIA_MERGE_PATCH = 'application/merge-patch+json';
export const MEDIA_JSON_PATCH = 'application/json-patch+json';
export const MEDIA_STRATEGIC_PATCH = 'application/strategic-merge-patch+json';

export const MAX_BODY_BYTES = 16 * 1024 * 1024;
export const ALL_VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

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
    t('apps', ['v1'], 'deployments', 'Deployment', { status: true, shortNames: ['deploy'] }),
    t(EVENTS_GROUP, ['v1'], 'events', 'Event', { shortNames: ['ev'] }),
    t(COORDINATION_GROUP, ['v1'], 'leases', 'Lease'),
    // meshshift's own CRD (deploy/crd): namespaced, status subresource, short name mp.
    t(MESHSHIFT_GROUP, ['v1alpha1'], 'migrationplans', 'MigrationPlan', { status: true, shortNames: ['mp'] }),
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
