/**
 * The migration scenario's shapes (istio-fixtures.ts seeds it): what was seeded (ScenarioFixture), the seeding
 * options, the service's port, and what the seeding helpers share (istio-fixtures.ts, http-route-fixtures.ts).
 */
import type { KubeApiServer, KubeObject } from './kube/index.js';

export interface ScenarioFixture {
  namespace: string;
  service: string;
  mode: 'subsets' | 'hosts';
  /** FQDN of the service: `${service}.${namespace}.svc.cluster.local`. */
  host: string;
  /** subsets mode: same as host; hosts mode: `${service}-k8s.${namespace}.svc.cluster.local`. */
  targetHost: string;
  /** The VMs' host: `host`, or with an HTTPRoute the VMs' own Service `${service}-vm.${namespace}.svc.cluster.local`. */
  sourceHost: string;
  /** The route object meshshift shifts (named `virtualService` for either kind: the service's name). */
  routeKind: 'VirtualService' | 'HTTPRoute';
  dataPlane: 'sidecar' | 'ambient';
  virtualService: string;
  destinationRule: string;
  serviceEntry: string;
  deployment: string;
  sourceSubset: 'vm';
  targetSubset: 'k8s';
}

export interface SeedOptions {
  /** Default 'shop'. */
  namespace?: string;
  /** Default 'productcatalogservice'. */
  service?: string;
  /** Default 'subsets'. */
  mode?: 'subsets' | 'hosts';
  /** networking.istio.io version used for the Istio objects. Default 'v1'. */
  istioVersion?: string;
  /**
   * Add, BEFORE the default route, an http route 'canary-header' matching `x-canary: true` that sends
   * 100% to the k8s destination (timeout 2s, retries 3 × 500ms). Default false.
   */
  extraHeaderRoute?: boolean;
  /** ServiceEntry location MESH_EXTERNAL instead of MESH_INTERNAL. Default false. */
  meshExternal?: boolean;
  /** Deployment status reports ready replicas. Default true. */
  deploymentReady?: boolean;
  /** Seed the two VM WorkloadEntries. Default true. */
  withWorkloadEntries?: boolean;
  /** Weight of the k8s destination in the 'primary' route (the VM side gets 100 - it). Default 0. */
  initialTargetWeight?: number;
  /**
   * Route with a Gateway API HTTPRoute (GAMMA, attached to the Service) instead of a VirtualService: the VMs get
   * their own Service selecting the WorkloadEntries (no ServiceEntry, no DestinationRule). Implies two hosts.
   */
  routeKind?: 'VirtualService' | 'HTTPRoute';
  /** ambient: the namespace is enrolled (istio.io/dataplane-mode=ambient) and uses a waypoint. Default sidecar. */
  dataPlane?: 'sidecar' | 'ambient';
  /** HTTPRoute: a third backendRef (`${service}-debug`, weight 0) in the shifted rule. Default false. */
  extraBackend?: boolean;
  /** HTTPRoute: also a VirtualService for the same host (a configuration preflight must refuse). */
  conflictingVirtualService?: boolean;
}

export const GRPC_PORT = 3550;

/** What the seeding helpers share. */
export interface SeedCtx {
  server: KubeApiServer;
  fixture: ScenarioFixture;
  opts: SeedOptions;
  istio: string;
  initial: number;
  vmLabels: Record<string, string>;
  podLabels: Record<string, string>;
  meta: (name: string, labels?: Record<string, string>) => KubeObject['metadata'];
}

export const SERVICE_PORT = {
  name: 'grpc',
  port: GRPC_PORT,
  targetPort: GRPC_PORT,
  protocol: 'TCP',
  appProtocol: 'grpc',
};
