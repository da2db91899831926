/**
 * The Kubernetes permissions meshshift needs: every (group, resource, verb) that src/ calls through
 * @kubernetes/client-node. `meshshift doctor` asks the cluster about each of them (SelfSubjectAccessReview);
 * test/deploy/rbac.test.ts holds this list, the calls it finds in src/ and deploy/base/clusterrole.yaml to the
 * same set, so a new call fails that test until it is listed here and granted there.
 */
export interface Permission {
  group: string;
  /** A resource plural, or `plural/subresource`. */
  resource: string;
  verb: string;
  /** What meshshift does with it (for the fix hint). */
  why: string;
}

export const REQUIRED_PERMISSIONS: readonly Permission[] = [
  { group: 'networking.istio.io', resource: 'virtualservices', verb: 'get', why: 'read the route' },
  { group: 'networking.istio.io', resource: 'virtualservices', verb: 'patch', why: 'shift the weights' },
  {
    group: 'networking.istio.io',
    resource: 'virtualservices',
    verb: 'list',
    why: 'HTTPRoute plans: refuse a VirtualService for the same host',
  },
  { group: 'gateway.networking.k8s.io', resource: 'httproutes', verb: 'get', why: 'read the HTTPRoute' },
  {
    group: 'gateway.networking.k8s.io',
    resource: 'httproutes',
    verb: 'patch',
    why: 'shift the HTTPRoute weights',
  },
  {
    group: 'gateway.networking.k8s.io',
    resource: 'gateways',
    verb: 'get',
    why: 'ambient: check the waypoint',
  },
  { group: '', resource: 'services', verb: 'get', why: 'HTTPRoute plans: check both backend Services' },
  { group: '', resource: 'namespaces', verb: 'get', why: 'check the data plane (ambient enrolment)' },
  {
    group: 'networking.istio.io',
    resource: 'destinationrules',
    verb: 'list',
    why: 'check the subsets exist',
  },
  {
    group: 'networking.istio.io',
    resource: 'serviceentries',
    verb: 'get',
    why: 'check the VM host is in the mesh',
  },
  { group: 'networking.istio.io', resource: 'workloadentries', verb: 'get', why: 'check the VM endpoints' },
  { group: 'networking.istio.io', resource: 'workloadentries', verb: 'list', why: 'check the VM endpoints' },
  { group: 'apps', resource: 'deployments', verb: 'get', why: 'check the pods are ready' },
  {
    group: 'security.istio.io',
    resource: 'peerauthentications',
    verb: 'get',
    why: 'read the mTLS mode',
  },
  {
    group: 'security.istio.io',
    resource: 'peerauthentications',
    verb: 'patch',
    why: 'switch mTLS to STRICT after the move',
  },
  // The MigrationPlan controller (serve --role controller).
  { group: 'meshshift.io', resource: 'migrationplans', verb: 'list', why: 'controller: list plans' },
  { group: 'meshshift.io', resource: 'migrationplans', verb: 'watch', why: 'controller: watch plans' },
  {
    group: 'meshshift.io',
    resource: 'migrationplans',
    verb: 'patch',
    why: 'controller: finalizer and command annotations',
  },
  {
    group: 'meshshift.io',
    resource: 'migrationplans/status',
    verb: 'update',
    why: 'controller: mirror the migration status',
  },
  { group: 'events.k8s.io', resource: 'events', verb: 'create', why: 'controller: record Events' },
  { group: 'coordination.k8s.io', resource: 'leases', verb: 'get', why: 'controller: leader election' },
  { group: 'coordination.k8s.io', resource: 'leases', verb: 'create', why: 'controller: leader election' },
  { group: 'coordination.k8s.io', resource: 'leases', verb: 'update', why: 'controller: leader election' },
];

/** `kind.group` style name, e.g. `virtualservices.networking.istio.io` (`pods` for the core group). */
export const qualified = (p: Pick<Permission, 'group' | 'resource'>): string =>
  p.group ? `${p.resource}.${p.group}` : p.resource;
