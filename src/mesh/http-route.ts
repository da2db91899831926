/**
 * Finding the rule to shift inside a Gateway API HTTPRoute and building the minimal patch for it. Pure.
 * Only the two backendRefs' weights change; matches, filters, other backendRefs and other rules stay as they were.
 *
 * HTTPRoute weights are relative (default 1, 0–1,000,000): meshshift's percentage of a rule is the target's share
 * of the two backends' weights, and it writes them as a pair summing to 100. A third backendRef keeps its weight,
 * and so its share relative to the pair.
 */
import { qualifyHost, type Destination } from '../plan/load.js';
import type { JsonPatchOp } from './kube/guarded-patch.js';
import { RouteError, type RouteLocation } from './route.js';

export const GATEWAY = 'gateway.networking.k8s.io';
/** Istio's backendRef kind for a host of a ServiceEntry (`group: networking.istio.io, kind: Hostname`). */
export const ISTIO_HOSTNAME = { group: 'networking.istio.io', kind: 'Hostname' } as const;

export interface BackendRef {
  group?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  port?: number;
  weight?: number;
  [k: string]: unknown;
}
export interface ParentRef {
  group?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  port?: number;
  [k: string]: unknown;
}
export interface HttpRouteRule {
  name?: string;
  matches?: unknown[];
  filters?: unknown[];
  backendRefs?: BackendRef[];
  [k: string]: unknown;
}
export interface HttpRouteObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  spec?: { parentRefs?: ParentRef[]; hostnames?: string[]; rules?: HttpRouteRule[]; [k: string]: unknown };
  [k: string]: unknown;
}

/** The host a backendRef stands for (a Service's FQDN, or an Istio Hostname), undefined for other kinds. */
export function backendHost(ref: BackendRef, routeNamespace: string): string | undefined {
  const group = ref.group ?? '';
  const kind = ref.kind ?? 'Service';
  if (!ref.name) return undefined;
  if (group === '' && kind === 'Service') return qualifyHost(ref.name, ref.namespace ?? routeNamespace);
  if (group === ISTIO_HOSTNAME.group && kind === ISTIO_HOSTNAME.kind) return ref.name;
  return undefined;
}

export function refersTo(ref: BackendRef, d: Destination, routeNamespace: string): boolean {
  const host = backendHost(ref, routeNamespace);
  return host !== undefined && host === qualifyHost(d.host, routeNamespace);
}

/** A Service backendRef for `host` (`name` or `name.ns.svc.cluster.local`); RouteError for any other host. */
export function serviceRef(host: string, routeNamespace: string): BackendRef {
  if (!host.includes('.')) return { name: host };
  const m = /^([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local$/.exec(host);
  if (!m)
    throw new RouteError(
      `target host ${host} is not a Kubernetes Service: an HTTPRoute needs a Service backendRef for the containers`,
      'set spec.target.host to the containers\u2019 Service (name, or name.namespace.svc.cluster.local)',
    );
  return m[2] === routeNamespace ? { name: m[1]! } : { name: m[1]!, namespace: m[2]! };
}

const describeRule = (rules: HttpRouteRule[], i: number) => rules[i]!.name ?? `#${i} (unnamed)`;

/** The rule to shift: the named one, else the one rule with the source (preferring one with both sides). */
function ruleIndex(
  rules: HttpRouteRule[],
  ref: string,
  has: (r: HttpRouteRule, d: Destination) => number,
  plan: { source: Destination; target: Destination; rule?: string; ruleField: string },
): number {
  if (plan.rule !== undefined) {
    const index = rules.findIndex((r) => r.name === plan.rule);
    if (index === -1)
      throw new RouteError(
        `${ref} has no rule named "${plan.rule}" (rules: ${rules.map((_, i) => describeRule(rules, i)).join(', ')})`,
        `fix ${plan.ruleField}`,
      );
    return index;
  }
  const indexes = (keep: (r: HttpRouteRule) => boolean) =>
    rules.map((r, i) => (keep(r) ? i : -1)).filter((i) => i >= 0);
  const both = indexes((r) => has(r, plan.source) >= 0 && has(r, plan.target) >= 0);
  const candidates = both.length ? both : indexes((r) => has(r, plan.source) >= 0);
  if (candidates.length === 0)
    throw new RouteError(
      `${ref} has no rule with a backendRef to the source (${plan.source.host})`,
      'check spec.source.host against the HTTPRoute backendRefs (a Service name, or an Istio Hostname)',
    );
  if (candidates.length > 1)
    throw new RouteError(
      `${ref} has ${candidates.length} rules to the source (${candidates.map((i) => describeRule(rules, i)).join(', ')}); meshshift will not guess which one to shift`,
      `name the rule in ${plan.ruleField} (give unnamed rules a name)`,
    );
  return candidates[0]!;
}

export interface HttpRouteTarget {
  source: Destination;
  target: Destination;
  rule?: string;
  /** The plan field naming the rule, for messages. */
  ruleField: string;
}

/** Where the source and target sit in the rule to shift, and their shares in percent; RouteError with a fix. */
export function locateHttpRoute(route: HttpRouteObject, want: HttpRouteTarget): RouteLocation {
  const ns = route.metadata.namespace ?? 'default';
  const rules = route.spec?.rules ?? [];
  const ref = `HTTPRoute ${ns}/${route.metadata.name}`;
  if (rules.length === 0)
    throw new RouteError(`${ref} has no rules`, 'add a rule with a backendRef to the VMs\u2019 Service');
  const has = (r: HttpRouteRule, d: Destination) =>
    (r.backendRefs ?? []).findIndex((b) => refersTo(b, d, ns));
  const index = ruleIndex(rules, ref, has, want);
  const refs = rules[index]!.backendRefs ?? [];
  const sourceIndex = has(rules[index]!, want.source);
  const targetIndex = has(rules[index]!, want.target);
  const label = `${ref} rule ${describeRule(rules, index)}`;
  if (sourceIndex === -1)
    throw new RouteError(
      `${label} has no backendRef to the source (${want.source.host})`,
      'check spec.source.host',
    );
  for (const [i, b] of refs.entries())
    if (b.weight !== undefined && (!Number.isInteger(b.weight) || b.weight < 0 || b.weight > 1_000_000))
      throw new RouteError(
        `${label} backendRef ${i} has weight ${String(b.weight)}; weights are integers 0–1000000`,
      );
  // Gateway API: an unset weight is 1.
  const ws = refs[sourceIndex]!.weight ?? 1;
  const wt = targetIndex >= 0 ? (refs[targetIndex]!.weight ?? 1) : 0;
  const targetWeight = ws + wt === 0 ? 0 : Math.round((100 * wt) / (ws + wt));
  const name = rules[index]!.name;
  return {
    httpIndex: index,
    ...(name !== undefined ? { routeName: name } : {}),
    sourceIndex,
    targetIndex,
    sourceWeight: ws + wt === 0 ? 0 : 100 - targetWeight,
    targetWeight,
  };
}

/**
 * A JSON patch that moves the rule to `targetWeight` (the source gets the rest: a pair summing to 100).
 * Preconditions: the resourceVersion and both backendRefs as read, weights included, so a concurrent edit makes
 * the server refuse the patch (422) instead of meshshift writing weights into the wrong place.
 */
export function httpRouteWeightPatch(
  route: HttpRouteObject,
  loc: RouteLocation,
  targetWeight: number,
  target: Destination,
): JsonPatchOp[] {
  if (!Number.isInteger(targetWeight) || targetWeight < 0 || targetWeight > 100)
    throw new RangeError(`target weight must be an integer 0–100, got ${targetWeight}`);
  const base = `/spec/rules/${loc.httpIndex}/backendRefs`;
  const refs = route.spec!.rules![loc.httpIndex]!.backendRefs!;
  const ops: JsonPatchOp[] = [
    { op: 'test', path: '/metadata/resourceVersion', value: route.metadata.resourceVersion },
    { op: 'test', path: `${base}/${loc.sourceIndex}`, value: refs[loc.sourceIndex] },
  ];
  ops.push({ op: 'add', path: `${base}/${loc.sourceIndex}/weight`, value: 100 - targetWeight });
  if (loc.targetIndex >= 0) {
    ops.splice(2, 0, { op: 'test', path: `${base}/${loc.targetIndex}`, value: refs[loc.targetIndex] });
    ops.push({ op: 'add', path: `${base}/${loc.targetIndex}/weight`, value: targetWeight });
  } else {
    // Make-before-break: the target's Service joins the rule with its weight in the same atomic patch.
    const ns = route.metadata.namespace ?? 'default';
    const port = refs[loc.sourceIndex]!.port;
    const added = {
      ...serviceRef(target.host, ns),
      ...(port !== undefined ? { port } : {}),
      weight: targetWeight,
    };
    ops.push({ op: 'add', path: `${base}/-`, value: added });
  }
  return ops;
}
