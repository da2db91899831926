/**
 * Finding the route to shift inside a VirtualService and building the minimal patch for it. Pure.
 * Only the two weights change; every other route, match, retry, timeout and header stays as it was.
 */
import { qualifyHost, type Destination } from '../plan/load.js';
import type { JsonPatchOp } from './kube/guarded-patch.js';

export interface VsDestination {
  host?: string;
  subset?: string;
  port?: { number?: number };
  [k: string]: unknown;
}
export interface VsRouteDestination {
  destination?: VsDestination;
  weight?: number;
  [k: string]: unknown;
}
export interface VsHttpRoute {
  name?: string;
  match?: unknown[];
  route?: VsRouteDestination[];
  [k: string]: unknown;
}
export interface VirtualServiceObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  spec?: { hosts?: string[]; http?: VsHttpRoute[]; [k: string]: unknown };
  [k: string]: unknown;
}

export interface RouteLocation {
  httpIndex: number;
  routeName?: string;
  sourceIndex: number;
  /** -1 when the route does not list the target yet (it is added on the first write). */
  targetIndex: number;
  /** Current weights in percent. */
  sourceWeight: number;
  targetWeight: number;
}

export class RouteError extends Error {
  constructor(
    message: string,
    readonly fix?: string,
  ) {
    super(message);
    this.name = 'RouteError';
  }
}

export function sameDestination(d: VsDestination | undefined, want: Destination, namespace: string): boolean {
  if (!d?.host) return false;
  if (qualifyHost(d.host, namespace) !== qualifyHost(want.host, namespace)) return false;
  return (d.subset ?? undefined) === (want.subset ?? undefined);
}

const describe = (d: Destination) => (d.subset ? `${d.host} subset ${d.subset}` : d.host);

/** Effective weights of a route's destinations: a lone destination without weight gets 100. */
function weightsOf(route: VsRouteDestination[]): number[] {
  if (route.length === 1 && route[0]!.weight === undefined) return [100];
  return route.map((r) => r.weight ?? 0);
}

interface RouteSearch {
  http: VsHttpRoute[];
  ref: string;
  /** Index of destination `d` in route `r`, -1 when absent. */
  has: (r: VsHttpRoute, d: Destination) => number;
}

/** The http route to shift: the named one, else the one route to the source (preferring one with both sides). */
function routeIndex(
  { http, ref, has }: RouteSearch,
  source: Destination,
  target: Destination,
  routeName: string | undefined,
  routeField: string,
) {
  if (routeName !== undefined) {
    const index = http.findIndex((r) => r.name === routeName);
    if (index === -1) {
      const names = http.map((r, i) => r.name ?? `#${i} (unnamed)`).join(', ');
      throw new RouteError(
        `${ref} has no http route named "${routeName}" (routes: ${names})`,
        `fix ${routeField}`,
      );
    }
    return index;
  }
  const indexes = (keep: (r: VsHttpRoute) => boolean) =>
    http.map((r, i) => (keep(r) ? i : -1)).filter((i) => i >= 0);
  const both = indexes((r) => has(r, source) >= 0 && has(r, target) >= 0);
  const candidates = both.length ? both : indexes((r) => has(r, source) >= 0);
  if (candidates.length === 0)
    throw new RouteError(
      `${ref} has no http route to the source (${describe(source)})`,
      'check spec.source and spec.host against the VirtualService',
    );
  if (candidates.length > 1) {
    const names = candidates.map((i) => http[i]!.name ?? `#${i} (unnamed)`).join(', ');
    throw new RouteError(
      `${ref} has ${candidates.length} http routes to the source (${names}); meshshift will not guess which one to shift`,
      `name the route in ${routeField} (give unnamed routes a name)`,
    );
  }
  return candidates[0]!;
}

/** Where the source and target sit in the route to shift, and their weights; RouteError with a fix otherwise. */
export function locateRoute(
  vs: VirtualServiceObject,
  source: Destination,
  target: Destination,
  routeName?: string,
  routeField = 'spec.virtualService.route',
): RouteLocation {
  const ns = vs.metadata.namespace ?? 'default';
  const http = vs.spec?.http ?? [];
  const ref = `VirtualService ${ns}/${vs.metadata.name}`;
  if (http.length === 0)
    throw new RouteError(
      `${ref} has no http routes`,
      'add an http route with the source destination at weight 100',
    );
  const has = (r: VsHttpRoute, d: Destination) =>
    (r.route ?? []).findIndex((x) => sameDestination(x.destination, d, ns));
  const index = routeIndex({ http, ref, has }, source, target, routeName, routeField);
  const route = http[index]!.route ?? [];
  const sourceIndex = has(http[index]!, source);
  const targetIndex = has(http[index]!, target);
  const name = http[index]!.name;
  const label = `${ref} route ${name ?? `#${index}`}`;
  if (sourceIndex === -1)
    throw new RouteError(`${label} does not route to the source (${describe(source)})`, 'check spec.source');
  const others = route.length - 1 - (targetIndex >= 0 ? 1 : 0);
  if (others > 0) {
    throw new RouteError(
      `${label} has ${route.length} destinations; meshshift shifts between exactly two (source ${describe(source)} and target ${describe(target)})`,
      'remove the other destinations from this route first',
    );
  }
  for (const [i, r] of route.entries()) {
    if (r.weight !== undefined && (!Number.isInteger(r.weight) || r.weight < 0 || r.weight > 100)) {
      throw new RouteError(
        `${label} destination ${i} has weight ${String(r.weight)}; Istio weights are integers 0–100`,
      );
    }
  }
  const w = weightsOf(route);
  return {
    httpIndex: index,
    ...(name !== undefined ? { routeName: name } : {}),
    sourceIndex,
    targetIndex,
    sourceWeight: w[sourceIndex] ?? 0,
    targetWeight: targetIndex >= 0 ? (w[targetIndex] ?? 0) : 0,
  };
}

/**
 * A JSON patch that moves the route to `targetWeight` (source gets the rest, always summing to 100).
 * Preconditions: the object's resourceVersion and the two destinations at their indexes, so a concurrent edit
 * makes the server refuse the patch instead of us writing weights into the wrong place.
 */
export function weightPatch(
  vs: VirtualServiceObject,
  loc: RouteLocation,
  targetWeight: number,
  target: Destination,
): JsonPatchOp[] {
  if (!Number.isInteger(targetWeight) || targetWeight < 0 || targetWeight > 100) {
    throw new RangeError(`target weight must be an integer 0–100, got ${targetWeight}`);
  }
  const base = `/spec/http/${loc.httpIndex}/route`;
  const route = vs.spec!.http![loc.httpIndex]!.route!;
  const ops: JsonPatchOp[] = [
    { op: 'test', path: '/metadata/resourceVersion', value: vs.metadata.resourceVersion },
    {
      op: 'test',
      path: `${base}/${loc.sourceIndex}/destination`,
      value: route[loc.sourceIndex]!.destination,
    },
  ];
  if (loc.targetIndex >= 0) {
    ops.push({
      op: 'test',
      path: `${base}/${loc.targetIndex}/destination`,
      value: route[loc.targetIndex]!.destination,
    });
    ops.push({ op: 'add', path: `${base}/${loc.sourceIndex}/weight`, value: 100 - targetWeight });
    ops.push({ op: 'add', path: `${base}/${loc.targetIndex}/weight`, value: targetWeight });
  } else {
    // Make-before-break: the target joins the route with its weight in the same atomic patch.
    const src = route[loc.sourceIndex]!.destination!;
    const destination: VsDestination = {
      host: target.host,
      ...(target.subset ? { subset: target.subset } : {}),
      ...(src.port ? { port: src.port } : {}),
    };
    ops.push({ op: 'add', path: `${base}/${loc.sourceIndex}/weight`, value: 100 - targetWeight });
    ops.push({ op: 'add', path: `${base}/-`, value: { destination, weight: targetWeight } });
  }
  return ops;
}
