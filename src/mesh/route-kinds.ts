/**
 * The two route kinds meshshift shifts, behind one shape: which API group and versions, how to read and patch the
 * object, where the two sides sit in it and the guarded patch that moves them. The adapter (istio.ts) holds the
 * engine-facing logic (drift, retries, fencing) once, for both.
 */
import { routeField, type ResolvedPlan } from '../plan/load.js';
import { ROUTE_API_VERSIONS, type RouteKind } from '../plan/route-schema.js';
import type { GatewayApi } from './gateway-api.js';
import { GATEWAY, httpRouteWeightPatch, locateHttpRoute, type HttpRouteObject } from './http-route.js';
import { NETWORKING, type At, type IstioApi } from './istio-api.js';
import type { JsonPatchOp } from './kube/guarded-patch.js';
import { locateRoute, weightPatch, type RouteLocation, type VirtualServiceObject } from './route.js';

/** What both route objects have in common. */
export interface RouteObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export interface RouteKindOps {
  kind: RouteKind;
  group: string;
  supported: readonly string[];
  /** Appended to "not served" errors. */
  hint: string;
  read(at: At, name: string): Promise<RouteObject>;
  write(at: At, name: string, ops: JsonPatchOp[]): Promise<RouteObject>;
  locate(obj: RouteObject, plan: ResolvedPlan): RouteLocation;
  patch(obj: RouteObject, loc: RouteLocation, weight: number, plan: ResolvedPlan): JsonPatchOp[];
}

export function virtualServiceOps(api: IstioApi): RouteKindOps {
  return {
    kind: 'VirtualService',
    group: NETWORKING,
    supported: ROUTE_API_VERSIONS.VirtualService,
    hint: 'is Istio installed?',
    read: (at, name) => api.getVirtualService(at, name),
    write: (at, name, ops) => api.patchVirtualService(at, name, ops),
    locate: (obj, plan) =>
      locateRoute(
        obj as VirtualServiceObject,
        plan.source.destination,
        plan.target.destination,
        plan.route.rule,
        routeField(plan, 'rule'),
      ),
    patch: (obj, loc, weight, plan) =>
      weightPatch(obj as VirtualServiceObject, loc, weight, plan.target.destination),
  };
}

export function httpRouteOps(api: GatewayApi): RouteKindOps {
  return {
    kind: 'HTTPRoute',
    group: GATEWAY,
    supported: ROUTE_API_VERSIONS.HTTPRoute,
    hint: 'are the Gateway API CRDs installed (standard channel, ≥ v1.0)?',
    read: (at, name) => api.getHttpRoute(at, name),
    write: (at, name, ops) => api.patchHttpRoute(at, name, ops),
    locate: (obj, plan) =>
      locateHttpRoute(obj as HttpRouteObject, {
        source: plan.source.destination,
        target: plan.target.destination,
        ...(plan.route.rule !== undefined ? { rule: plan.route.rule } : {}),
        ruleField: routeField(plan, 'rule'),
      }),
    patch: (obj, loc, weight, plan) =>
      httpRouteWeightPatch(obj as HttpRouteObject, loc, weight, plan.target.destination),
  };
}
