/**
 * The route a plan shifts, in one shape for both kinds:
 *
 *   route: { kind: HTTPRoute, name, rule }          Gateway API (GAMMA), sidecar or ambient
 *   route: { kind: VirtualService, name, rule }     Istio VirtualService
 *
 * `spec.virtualService: { name, route, apiVersion }` is the older spelling of the second and stays valid. Also the
 * data plane (`spec.dataPlane`: sidecar | ambient), which decides where the gate reads its metrics.
 */
import { z } from 'zod';

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export const ROUTE_KINDS = ['HTTPRoute', 'VirtualService'] as const;
export type RouteKind = (typeof ROUTE_KINDS)[number];

/** API versions meshshift can patch, per route kind (the first is the default wish, discovery decides). */
export const ROUTE_API_VERSIONS: Record<RouteKind, readonly string[]> = {
  HTTPRoute: ['v1'],
  VirtualService: ['v1', 'v1beta1', 'v1alpha3'],
};

export const routeSchema = z.strictObject({
  kind: z.enum(ROUTE_KINDS, {
    error: 'spec.route.kind is HTTPRoute (Gateway API) or VirtualService (Istio)',
  }),
  name: z
    .string({
      error: 'spec.route.name is the name of the HTTPRoute or VirtualService, e.g. "productcatalogservice"',
    })
    .min(1, { error: 'spec.route.name must not be empty' })
    .max(253)
    .regex(DNS_SUBDOMAIN, {
      error: 'spec.route.name must be a lowercase DNS-1123 name, as Kubernetes requires',
    }),
  /**
   * The rule to shift: an HTTPRoute's `rules[].name` or a VirtualService's `http[].name`. Optional when exactly
   * one rule routes to the source.
   */
  rule: z.string().min(1, { error: 'spec.route.rule must not be empty (or leave it out)' }).optional(),
  /** API version to use (HTTPRoute: v1; VirtualService: v1, v1beta1, v1alpha3); default: the cluster's preferred. */
  apiVersion: z.string().optional(),
});
export type RouteSpec = z.output<typeof routeSchema>;

/** The older spelling of a VirtualService route. */
export const virtualServiceSchema = z.strictObject({
  name: z
    .string()
    .min(1, { error: 'spec.virtualService.name must not be empty' })
    .max(253)
    .regex(DNS_SUBDOMAIN, {
      error: 'spec.virtualService.name must be a lowercase DNS-1123 name, as Kubernetes requires',
    }),
  /** Name of the http route to shift, when the VirtualService has several routes to the two sides. */
  route: z.string().min(1).optional(),
  /** networking.istio.io version to use (v1, v1beta1, v1alpha3); default: the cluster's preferred one. */
  apiVersion: z.enum(['v1', 'v1beta1', 'v1alpha3']).optional(),
});

/**
 * sidecar: Envoy next to every workload, L7 metrics with reporter="destination" (and "source");
 * ambient: ztunnel (L4) plus a waypoint proxy, L7 metrics with reporter="waypoint" only.
 */
export const dataPlaneSchema = z
  .enum(['sidecar', 'ambient'], { error: 'spec.dataPlane is sidecar (the default) or ambient' })
  .default('sidecar');
export type DataPlane = z.output<typeof dataPlaneSchema>;

/** The parts of a plan spec the route checks read. */
interface RouteFields {
  namespace: string;
  host: string;
  route?: RouteSpec | undefined;
  virtualService?: unknown;
  source: { host?: string | undefined; subset?: string | undefined; serviceEntry?: string | undefined };
  target: { host?: string | undefined; subset?: string | undefined };
}

type Issue = { path: Array<string | number>; message: string };

/** Which route the plan names, and that it is named once. */
function routeChoice(spec: RouteFields): Issue[] {
  if (spec.route && spec.virtualService !== undefined)
    return [
      {
        path: ['route'],
        message:
          'give spec.route or spec.virtualService, not both (spec.route with kind VirtualService replaces spec.virtualService)',
      },
    ];
  if (!spec.route && spec.virtualService === undefined)
    return [
      {
        path: ['route'],
        message:
          'spec.route is required: { kind: HTTPRoute, name: <HTTPRoute>, rule: <rule name> } or { kind: VirtualService, name: <VirtualService> } (or the older spec.virtualService)',
      },
    ];
  const version = spec.route?.apiVersion;
  if (spec.route && version !== undefined && !ROUTE_API_VERSIONS[spec.route.kind].includes(version))
    return [
      {
        path: ['route', 'apiVersion'],
        message: `${spec.route.kind} is patched as ${ROUTE_API_VERSIONS[spec.route.kind].join(', ')}; remove apiVersion to use the cluster's preferred version`,
      },
    ];
  return [];
}

/** An HTTPRoute splits between two backendRefs (Services, or Istio Hostnames): no subsets. */
function httpRouteSides(spec: RouteFields): Issue[] {
  const issues: Issue[] = [];
  for (const role of ['source', 'target'] as const)
    if (spec[role].subset !== undefined)
      issues.push({
        path: [role, 'subset'],
        message: `DestinationRule subsets do not apply to HTTPRoute backends: remove ${role}.subset and give ${role}.host, the ${role === 'source' ? "VMs' Service (or Istio Hostname)" : "containers' Service"} the HTTPRoute's backendRef names`,
      });
  const fqdn = (h: string) => (h.includes('.') ? h : `${h}.${spec.namespace}.svc.cluster.local`);
  if (fqdn(spec.target.host ?? spec.host) === fqdn(spec.source.host ?? spec.host))
    issues.push({
      path: ['target', 'host'],
      message:
        "an HTTPRoute shifts between two backendRefs: set target.host to the containers' Service (e.g. productcatalogservice-k8s), different from the source's",
    });
  return issues;
}

/** Route-specific checks of a plan spec, as zod issues (paths relative to spec). */
export function routeIssues(spec: RouteFields): Issue[] {
  const choice = routeChoice(spec);
  if (choice.length > 0) return choice;
  return spec.route?.kind === 'HTTPRoute' ? httpRouteSides(spec) : [];
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A VirtualService plan needs the VMs' ServiceEntry. Reads the raw spec (it runs even when other fields are
 * invalid, so that this error is reported together with them, as a missing required field is).
 */
export function serviceEntryIssue(spec: unknown): Issue | undefined {
  if (!isObject(spec) || !isObject(spec.source) || spec.source.serviceEntry !== undefined) return undefined;
  const virtualService =
    spec.virtualService !== undefined || (isObject(spec.route) && spec.route.kind === 'VirtualService');
  if (!virtualService) return undefined;
  return {
    path: ['source', 'serviceEntry'],
    message:
      'required with a VirtualService: the MESH_INTERNAL ServiceEntry that puts the VMs in the mesh, e.g. "productcatalogservice-vm"',
  };
}
