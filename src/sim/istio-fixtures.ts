/**
 * Seeds the standard VM → Kubernetes migration scenario into a {@link KubeApiServer}: a service that
 * runs on two VMs (WorkloadEntries behind a MESH_INTERNAL ServiceEntry) and, newly, as a Deployment,
 * with a VirtualService splitting traffic between the two. Used by end-to-end tests and the demo.
 *
 * Two layouts (both must be supported by meshshift, see shared/README.md "Istio facts"):
 *  - `subsets`: one host; a DestinationRule defines subsets `vm` {version: vm} and `k8s` {version: k8s}
 *    and the VirtualService routes to `host` subset vm / `host` subset k8s.
 *  - `hosts`: two hosts; `host` (the VM side) and `${service}-k8s` (a Service selecting the pods),
 *    as in the public VM-migration demo. No subsets are referenced in this layout.
 *
 * Everything is plain JSON data. The WorkloadEntry addresses are placeholders and are never dialled.
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
}

export const GRPC_PORT = 3550;

export function seedMigrationScenario(server: KubeApiServer, opts: SeedOptions = {}): ScenarioFixture {
  const namespace = opts.namespace ?? 'shop';
  const service = opts.service ?? 'productcatalogservice';
  const mode = opts.mode ?? 'subsets';
  const istio = `networking.istio.io/${opts.istioVersion ?? 'v1'}`;
  const ready = opts.deploymentReady ?? true;
  const initial = opts.initialTargetWeight ?? 0;
  if (!Number.isInteger(initial) || initial < 0 || initial > 100) {
    throw new Error(`initialTargetWeight must be an integer in [0, 100], got ${initial}`);
  }

  const host = `${service}.${namespace}.svc.cluster.local`;
  const targetService = mode === 'hosts' ? `${service}-k8s` : service;
  const targetHost = `${targetService}.${namespace}.svc.cluster.local`;
  const vmLabels = { app: service, version: 'vm' };
  const podLabels = { app: service, version: 'k8s' };
  const port = { number: GRPC_PORT };
  const meta = (name: string, labels: Record<string, string> = { app: service }): KubeObject['metadata'] => ({
    name,
    namespace,
    labels,
  });

  const fixture: ScenarioFixture = {
    namespace,
    service,
    mode,
    host,
    targetHost,
    virtualService: service,
    destinationRule: service,
    serviceEntry: `${service}-vm`,
    deployment: service,
    sourceSubset: 'vm',
    targetSubset: 'k8s',
  };

  server.put({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: namespace, labels: { 'istio-injection': 'enabled' } },
  });

  // ── the VM side ──
  server.put({
    apiVersion: istio,
    kind: 'ServiceEntry',
    metadata: meta(fixture.serviceEntry),
    spec: {
      hosts: [host],
      ports: [{ number: GRPC_PORT, name: 'grpc', protocol: 'GRPC' }],
      location: opts.meshExternal ? 'MESH_EXTERNAL' : 'MESH_INTERNAL',
      resolution: 'STATIC',
      workloadSelector: { labels: vmLabels },
    },
  });
  if (opts.withWorkloadEntries ?? true) {
    for (const i of [1, 2]) {
      server.put({
        apiVersion: istio,
        kind: 'WorkloadEntry',
        metadata: meta(`${service}-vm-${i}`, vmLabels),
        spec: {
          // Placeholder data only: nothing ever connects to these addresses.
          address: `10.0.0.${10 + i}`,
          labels: vmLabels,
          serviceAccount: service,
          ports: { grpc: GRPC_PORT },
        },
      });
    }
  }

  // ── Kubernetes Services ──
  const svcPort = {
    name: 'grpc',
    port: GRPC_PORT,
    targetPort: GRPC_PORT,
    protocol: 'TCP',
    appProtocol: 'grpc',
  };
  server.put({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(service),
    // subsets mode: one Service over VMs and pods; hosts mode: this host is the VM side only.
    spec: { ports: [svcPort], selector: mode === 'hosts' ? vmLabels : { app: service } },
  });
  if (mode === 'hosts') {
    server.put({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(targetService, podLabels),
      spec: { ports: [svcPort], selector: podLabels },
    });
  }

  // ── the Kubernetes side ──
  const deployment = server.put({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(fixture.deployment),
    spec: {
      replicas: 2,
      selector: { matchLabels: podLabels },
      template: {
        metadata: { labels: podLabels },
        spec: {
          serviceAccountName: service,
          containers: [
            {
              name: 'server',
              image: `registry.example.com/${service}:v1`,
              ports: [{ name: 'grpc', containerPort: GRPC_PORT }],
            },
          ],
        },
      },
    },
  });
  // Status needs the generation put() assigned (it is not 1 when re-seeding over an existing object).
  server.edit({ group: 'apps', plural: 'deployments', namespace, name: fixture.deployment }, (d) => {
    d.status = {
      observedGeneration: deployment.metadata.generation ?? 1,
      replicas: 2,
      updatedReplicas: 2,
      readyReplicas: ready ? 2 : 0,
      availableReplicas: ready ? 2 : 0,
      ...(ready ? {} : { unavailableReplicas: 2 }),
      conditions: [
        {
          type: 'Available',
          status: ready ? 'True' : 'False',
          reason: ready ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
          message: ready
            ? 'Deployment has minimum availability.'
            : 'Deployment does not have minimum availability.',
        },
      ],
    };
  });

  // ── routing ──
  server.put({
    apiVersion: istio,
    kind: 'DestinationRule',
    metadata: meta(fixture.destinationRule),
    spec: {
      host,
      trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL' } },
      ...(mode === 'subsets'
        ? {
            subsets: [
              { name: 'vm', labels: { version: 'vm' } },
              { name: 'k8s', labels: { version: 'k8s' } },
            ],
          }
        : {}),
    },
  });

  const destination = (side: 'vm' | 'k8s'): Record<string, unknown> =>
    mode === 'subsets' ? { host, subset: side, port } : { host: side === 'vm' ? host : targetHost, port };

  const http: Record<string, unknown>[] = [];
  if (opts.extraHeaderRoute) {
    http.push({
      name: 'canary-header',
      match: [{ headers: { 'x-canary': { exact: 'true' } } }],
      route: [{ destination: destination('k8s'), weight: 100 }],
      timeout: '2s',
      retries: { attempts: 3, perTryTimeout: '500ms' },
    });
  }
  http.push({
    name: 'primary',
    route: [
      { destination: destination('vm'), weight: 100 - initial },
      { destination: destination('k8s'), weight: initial },
    ],
    timeout: '5s',
    retries: { attempts: 2, retryOn: 'unavailable,resource-exhausted' },
  });
  server.put({
    apiVersion: istio,
    kind: 'VirtualService',
    metadata: meta(fixture.virtualService),
    spec: { hosts: [host], http },
  });

  return fixture;
}
