/**
 * The route a migration shifts, as every interface names it (no runtime imports: the dashboard bundle, Slack, the
 * service and tests use it).
 */
import type { RouteKind } from '../plan/route-schema.js';

/** Which route object a migration shifts: its kind and where it is. */
export interface RouteName {
  kind: RouteKind;
  namespace: string;
  name: string;
}

/** The parts of a resolved plan that say which route it shifts. */
interface RoutePlan {
  namespace: string;
  route: { kind: RouteKind; name: string };
}

/** The route of a resolved plan (a VirtualService plan in the older `spec.virtualService` spelling too). */
export function routeNameOf(plan: RoutePlan): RouteName {
  return { kind: plan.route.kind, namespace: plan.namespace, name: plan.route.name };
}

/** `HTTPRoute shop/productcatalogservice` or `VirtualService shop/productcatalogservice`. */
export function routeLabel(route: RouteName): string {
  return `${route.kind} ${route.namespace}/${route.name}`;
}
