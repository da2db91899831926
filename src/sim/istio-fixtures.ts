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
import { seedHttpRoute } from './http-route-fixtures.js';
import type { KubeApiServer } from './kube/index.js';
import {
  GRPC_PORT,
  SERVICE_PORT,
  type ScenarioFixture,
  type SeedCtx,
  type SeedOptions,
} from './scenario-fixture.js';

export function seedMigrationScenario(server: KubeApiServer, opts: SeedOptions = {}): ScenarioFixture {
  const namespace = opts.namespace ?? 'shop';
  const service = opts.service ?? 'productcatalogservice';
  const routeKind = opts.routeKind ?? 'VirtualService';
  const mode = routeKind === 'HTTPRoute' ? 'hosts' : (opts.mode ?? 'subsets');
  const dataPlane = opts.dataPlane ?? 'sidecar';
  const initial = opts.initialTargetWeight ?? 0;
  if (!Number.isInteger(initial) || initial < 0 || initial > 100) {
    throw new Error(`initialTargetWeight must be an integer in [0, 100], got ${initial}`);
  }
  const host = `${service}.${namespace}.svc.cluster.local`;
  const targetService = mode === 'hosts' ? `${service}-k8s` : service;
  const fixture: ScenarioFixture = {
    namespace,
    service,
    mode,
    host,
    targetHost: `${targetService}.${namespace}.svc.cluster.local`,
    sourceHost: routeKind === 'HTTPRoute' ? `${service}-vm.${namespace}.svc.cluster.local` : host,
    routeKind,
    dataPlane,
    virtualService: service,
    destinationRule: service,
    serviceEntry: `${service}-vm`,
    deployment: service,
    sourceSubset: 'vm',
    targetSubset: 'k8s',
  };
  const c: SeedCtx = {
    server,
    fixture,
    opts,
    istio: `networking.istio.io/${opts.istioVersion ?? 'v1'}`,
    initial,
    vmLabels: { app: service, version: 'vm' },
    podLabels: { app: service, version: 'k8s' },
    meta: (name, labels = { app: service }) => ({ name, namespace, labels }),
  };
  const nsLabels: Record<string, string> =
    dataPlane === 'ambient'
      ? { 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'waypoint' }
      : { 'istio-injection': 'enabled' };
  server.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: nsLabels } });
  if (routeKind === 'VirtualService') seedServiceEntry(c);
  if (opts.withWorkloadEntries ?? true) seedWorkloadEntries(c);
  seedDeployment(c, opts.deploymentReady ?? true);
  if (routeKind === 'HTTPRoute') seedHttpRoute(c);
  else seedVirtualServiceLayout(c);
  return fixture;
}

/** The VM side of the VirtualService layout: a ServiceEntry selecting the WorkloadEntries. */
function seedServiceEntry({ server, fixture, opts, istio, vmLabels, meta }: SeedCtx): void {
  server.put({
    apiVersion: istio,
    kind: 'ServiceEntry',
    metadata: meta(fixture.serviceEntry),
    spec: {
      hosts: [fixture.host],
      ports: [{ number: GRPC_PORT, name: 'grpc', protocol: 'GRPC' }],
      location: opts.meshExternal ? 'MESH_EXTERNAL' : 'MESH_INTERNAL',
      resolution: 'STATIC',
      workloadSelector: { labels: vmLabels },
    },
  });
}

function seedWorkloadEntries({ server, fixture, istio, vmLabels, meta }: SeedCtx): void {
  for (const i of [1, 2]) {
    server.put({
      apiVersion: istio,
      kind: 'WorkloadEntry',
      metadata: meta(`${fixture.service}-vm-${i}`, vmLabels),
      spec: {
        // Placeholder data only: nothing ever connects to these addresses.
        address: `10.0.0.${10 + i}`,
        labels: vmLabels,
        serviceAccount: fixture.service,
        ports: { grpc: GRPC_PORT },
      },
    });
  }
}

function seedDeployment({ server, fixture, podLabels, meta }: SeedCtx, ready: boolean): void {
  const { service, namespace } = fixture;
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
}

/** Services, DestinationRule and VirtualService of the VirtualService layout (subsets or two hosts). */
function seedVirtualServiceLayout(c: SeedCtx): void {
  const { server, fixture, istio, vmLabels, podLabels, meta } = c;
  const { mode, host, targetHost, service } = fixture;
  server.put({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(service),
    // subsets mode: one Service over VMs and pods; hosts mode: this host is the VM side only.
    spec: { ports: [SERVICE_PORT], selector: mode === 'hosts' ? vmLabels : { app: service } },
  });
  if (mode === 'hosts') {
    server.put({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(`${service}-k8s`, podLabels),
      spec: { ports: [SERVICE_PORT], selector: podLabels },
    });
  }
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
  const port = { number: GRPC_PORT };
  const destination = (side: 'vm' | 'k8s'): Record<string, unknown> =>
    mode === 'subsets' ? { host, subset: side, port } : { host: side === 'vm' ? host : targetHost, port };
  const http: Record<string, unknown>[] = [];
  if (c.opts.extraHeaderRoute) {
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
      { destination: destination('vm'), weight: 100 - c.initial },
      { destination: destination('k8s'), weight: c.initial },
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
}
