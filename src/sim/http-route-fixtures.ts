/**
 * The HTTPRoute layout of the migration scenario (Gateway API in the mesh, GAMMA): the Service clients call
 * (`${service}`, parent of the route), the VMs' Service selecting their WorkloadEntries (`${service}-vm`, as Istio
 * documents for VMs), the containers' Service (`${service}-k8s`), and an HTTPRoute attached to the first that
 * splits between the other two. In ambient, a waypoint Gateway (class istio-waypoint) that the namespace uses.
 */
import { GRPC_PORT, SERVICE_PORT, type SeedCtx } from './scenario-fixture.js';

const GATEWAY_API = 'gateway.networking.k8s.io/v1';

export function seedHttpRoute(c: SeedCtx): void {
  const { server, fixture, opts, meta, vmLabels, podLabels } = c;
  const { service, host } = fixture;
  const svc = (name: string, selector: Record<string, string>) =>
    server.put({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(name),
      spec: { ports: [SERVICE_PORT], selector },
    });
  svc(service, { app: service });
  svc(`${service}-vm`, vmLabels);
  svc(`${service}-k8s`, podLabels);
  if (fixture.dataPlane === 'ambient') {
    server.put({
      apiVersion: GATEWAY_API,
      kind: 'Gateway',
      metadata: { ...meta('waypoint'), labels: { 'istio.io/waypoint-for': 'service' } },
      spec: {
        gatewayClassName: 'istio-waypoint',
        listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }],
      },
    });
  }
  // Stored as kube-apiserver stores it: with the published schema's defaults (group, kind, the path match)
  // written out, since any write through the API adds them.
  const backend = (name: string, weight: number) => ({
    group: '',
    kind: 'Service',
    name,
    port: GRPC_PORT,
    weight,
  });
  const everyPath = { path: { type: 'PathPrefix', value: '/' } };
  const rules: Record<string, unknown>[] = [];
  if (opts.extraHeaderRoute)
    rules.push({
      name: 'canary-header',
      matches: [{ headers: [{ type: 'Exact', name: 'x-canary', value: 'true' }], ...everyPath }],
      filters: [
        {
          type: 'RequestHeaderModifier',
          requestHeaderModifier: { add: [{ name: 'x-meshshift-canary', value: 'true' }] },
        },
      ],
      backendRefs: [backend(`${service}-k8s`, 1)],
      timeouts: { request: '2s' },
    });
  rules.push({
    name: 'primary',
    matches: [everyPath],
    backendRefs: [
      backend(`${service}-vm`, 100 - c.initial),
      backend(`${service}-k8s`, c.initial),
      ...(opts.extraBackend ? [backend(`${service}-debug`, 0)] : []),
    ],
    timeouts: { request: '5s' },
  });
  server.put({
    apiVersion: GATEWAY_API,
    kind: 'HTTPRoute',
    metadata: meta(fixture.virtualService),
    spec: { parentRefs: [{ group: '', kind: 'Service', name: service, port: GRPC_PORT }], rules },
  });
  if (opts.conflictingVirtualService)
    server.put({
      apiVersion: c.istio,
      kind: 'VirtualService',
      metadata: meta(`${service}-legacy`),
      spec: {
        hosts: [host],
        http: [{ route: [{ destination: { host: fixture.sourceHost }, weight: 100 }] }],
      },
    });
}
