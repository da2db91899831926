/** Backends for the standard fixture: a service's VMs and its containers, as subsets of one host or two hosts. */
import type { BackendBehavior, BackendSpec } from './types.js';

export const DEFAULT_BEHAVIOR: BackendBehavior = {
  latency: { p50Ms: 20, p99Ms: 80 },
  errorRate: 0.001,
  grpcErrorRate: 0,
};

export function subsetScenarioBackends(args: {
  namespace: string;
  service: string;
  mode: 'subsets' | 'hosts';
  /** HTTPRoute layout: the VMs are their own Service, `${service}-vm`. */
  routeKind?: 'VirtualService' | 'HTTPRoute';
  vm?: Partial<BackendBehavior>;
  k8s?: Partial<BackendBehavior>;
}): BackendSpec[] {
  const { namespace, service, mode } = args;
  const vmService = args.routeKind === 'HTTPRoute' ? `${service}-vm` : service;
  const host = `${vmService}.${namespace}.svc.cluster.local`;
  const k8sHost = mode === 'hosts' ? `${service}-k8s.${namespace}.svc.cluster.local` : host;
  const behavior = (p: Partial<BackendBehavior> | undefined): BackendBehavior => ({
    ...DEFAULT_BEHAVIOR,
    ...p,
    latency: { ...(p?.latency ?? DEFAULT_BEHAVIOR.latency) },
  });
  return [
    {
      name: 'vm',
      destination: mode === 'subsets' ? { host, subset: 'vm' } : { host },
      labels: {
        destination_service: host,
        destination_service_name: vmService,
        destination_service_namespace: namespace,
        destination_version: 'vm',
        destination_workload: `${service}-vm`,
        destination_workload_namespace: namespace,
        destination_canonical_service: service,
        destination_canonical_revision: 'vm',
      },
      behavior: behavior(args.vm),
    },
    {
      name: 'k8s',
      destination: mode === 'subsets' ? { host, subset: 'k8s' } : { host: k8sHost },
      labels: {
        destination_service: k8sHost,
        destination_service_name: mode === 'hosts' ? `${service}-k8s` : service,
        destination_service_namespace: namespace,
        destination_version: 'k8s',
        destination_workload: service,
        destination_workload_namespace: namespace,
        destination_canonical_service: service,
        destination_canonical_revision: 'k8s',
      },
      behavior: behavior(args.k8s),
    },
  ];
}
