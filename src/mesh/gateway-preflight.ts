/**
 * Preflight of an HTTPRoute plan (Gateway API in the mesh, GAMMA), sidecar or ambient. Nothing is written; every
 * problem is reported at once, each with its fix: the Gateway API served, the rule to shift, what the route is
 * attached to, no VirtualService for the same host, both backends resolving to workloads, and the data plane.
 */
import { qualifyHost, type ResolvedPlan } from '../plan/load.js';
import { checkAmbient } from './ambient-preflight.js';
import type { GatewayCtx } from './gateway-ctx.js';
import type { GatewayApi } from './gateway-api.js';
import { ISTIO_HOSTNAME, locateHttpRoute, type BackendRef, type HttpRouteObject } from './http-route.js';
import type { IstioApi } from './istio-api.js';
import {
  checkDeployment,
  checkMetricSelectors,
  checkServiceEntry,
  planSelectors,
} from './istio-preflight.js';
import { CheckList } from './kube/checks.js';
import type { PreflightReport } from './types.js';

export interface Versions {
  istio: (signal?: AbortSignal) => Promise<string>;
  gateway: (signal?: AbortSignal) => Promise<string>;
}

const selectorText = (labels: Record<string, string>) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

/** The served versions of both groups; null (with the failed checks added) when one is not served. */
async function servedVersions(checks: CheckList, versions: Versions, signal?: AbortSignal) {
  const got: { gateway?: string; istio?: string } = {};
  try {
    got.gateway = await versions.gateway(signal);
    checks.add('gateway-api', true, `gateway.networking.k8s.io/${got.gateway} is served (HTTPRoute)`);
  } catch (err) {
    checks.failed(
      'gateway-api',
      err,
      'install the Gateway API CRDs, standard channel ≥ v1.0 (Istio ≥ 1.22 uses them for the mesh)',
    );
  }
  try {
    got.istio = await versions.istio(signal);
    checks.add('istio-api', true, `networking.istio.io/${got.istio} is served`);
  } catch (err) {
    checks.failed('istio-api', err, 'install Istio ≥ 1.22 (sidecar or ambient)');
  }
  return got.gateway && got.istio ? { gateway: got.gateway, istio: got.istio } : null;
}

export async function runGatewayPreflight(
  apis: { api: IstioApi; gateway: GatewayApi },
  plan: ResolvedPlan,
  versions: Versions,
  signal?: AbortSignal,
): Promise<PreflightReport> {
  const checks = new CheckList(signal);
  const fqdn = (h: string) => qualifyHost(h, plan.namespace);
  const selectors = planSelectors(plan);
  const served = await servedVersions(checks, versions, signal);
  if (!served) return { ok: false, checks: checks.checks, initialWeight: 0, selectors, istioVersion: 'v1' };
  const where = { namespace: plan.namespace, ...(signal ? { signal } : {}) };
  const c: GatewayCtx = {
    api: apis.api,
    gateway: apis.gateway,
    plan,
    checks,
    fqdn,
    at: { ...where, version: served.istio },
    gatewayAt: { ...where, version: served.gateway },
  };
  const { initialWeight, sourceRef } = await checkHttpRoute(c);
  await checkNoVirtualService(c);
  if (sourceRef) await checkSourceBackend(c, sourceRef);
  await checkTargetBackend(c);
  await checkDeployment(c, undefined);
  await checkAmbient(c);
  checkMetricSelectors(c, selectors, {});
  return { ok: checks.ok, checks: checks.checks, initialWeight, selectors, istioVersion: served.istio };
}

/** The HTTPRoute, the rule to shift and what the route is attached to; returns the target's share. */
async function checkHttpRoute(c: GatewayCtx): Promise<{ initialWeight: number; sourceRef?: BackendRef }> {
  const { plan, checks } = c;
  const ref = `HTTPRoute ${plan.namespace}/${plan.route.name}`;
  let route: HttpRouteObject;
  try {
    route = await c.gateway.getHttpRoute(c.gatewayAt, plan.route.name);
  } catch (err) {
    checks.failedRead(
      'httproute',
      err,
      ref,
      'create it with parentRefs to the Service and the VMs\u2019 backendRef at weight 100 (see docs/gateway-api.md)',
    );
    return { initialWeight: 0 };
  }
  checkParents(c, route);
  try {
    const loc = locateHttpRoute(route, {
      source: plan.source.destination,
      target: plan.target.destination,
      ...(plan.route.rule !== undefined ? { rule: plan.route.rule } : {}),
      ruleField: 'spec.route.rule',
    });
    const added = loc.targetIndex < 0 ? ' (target will be added)' : '';
    const others =
      (route.spec?.rules?.[loc.httpIndex]?.backendRefs?.length ?? 0) - 1 - (loc.targetIndex >= 0 ? 1 : 0);
    checks.add(
      'httproute',
      true,
      `rule ${loc.routeName ?? `#${loc.httpIndex}`} of ${ref}: ${loc.sourceWeight} % source / ${loc.targetWeight} % target${added}${others > 0 ? `; ${others} other backendRef(s) kept as they are` : ''}`,
    );
    return {
      initialWeight: loc.targetWeight,
      sourceRef: route.spec!.rules![loc.httpIndex]!.backendRefs![loc.sourceIndex]!,
    };
  } catch (err) {
    checks.failed('httproute', err);
    return { initialWeight: 0 };
  }
}

/** GAMMA: a mesh route is attached to the Service clients call (or, in ambient, may be to a waypoint). */
function checkParents({ plan, checks, fqdn }: GatewayCtx, route: HttpRouteObject): void {
  const ns = route.metadata.namespace ?? plan.namespace;
  const parents = route.spec?.parentRefs ?? [];
  const toService = parents.some(
    (p) =>
      (p.group ?? '') === '' &&
      p.kind === 'Service' &&
      p.name &&
      qualifyHost(p.name, p.namespace ?? ns) === fqdn(plan.host),
  );
  const shown = parents.map((p) => `${p.kind ?? 'Gateway'} ${p.name ?? '?'}`).join(', ') || 'nothing';
  checks.add(
    'httproute-parent',
    toService,
    toService
      ? `${plan.route.name} is attached to Service ${plan.host} (GAMMA): mesh traffic to it follows the route`
      : `${plan.route.name} is attached to ${shown}, not to Service ${plan.host}: traffic inside the mesh does not follow it`,
    `add parentRefs: [{group: "", kind: Service, name: ${plan.host.split('.')[0]}}] (a mesh route is attached to the Service clients call)`,
  );
}

/** Mixing a VirtualService and an HTTPRoute for one host is undefined in Istio: refused. */
async function checkNoVirtualService({ api, plan, at, checks, fqdn }: GatewayCtx): Promise<void> {
  try {
    const hosts = new Set([plan.host, plan.source.destination.host, plan.target.destination.host].map(fqdn));
    const clash = (await api.listVirtualServices(at)).filter((vs) =>
      (vs.spec?.hosts ?? []).some((h) => hosts.has(fqdn(h))),
    );
    const names = clash.map((vs) => vs.metadata.name).join(', ');
    checks.add(
      'no-virtualservice',
      clash.length === 0,
      clash.length === 0
        ? `no VirtualService routes ${[...hosts].join(', ')}`
        : `VirtualService ${names} also routes ${[...hosts].filter((h) => clash.some((vs) => (vs.spec?.hosts ?? []).map(fqdn).includes(h))).join(', ')}: Istio leaves a VirtualService and an HTTPRoute for the same host undefined, so the weights meshshift writes might not be the ones that apply`,
      `delete VirtualService ${names} (or migrate with spec.route.kind: VirtualService and leave the HTTPRoute out)`,
    );
  } catch (err) {
    checks.failed('no-virtualservice', err);
  }
}

/** The VMs: a Service selecting WorkloadEntries, or an Istio Hostname of a MESH_INTERNAL ServiceEntry. */
async function checkSourceBackend(c: GatewayCtx, ref: BackendRef): Promise<void> {
  const { plan, checks } = c;
  if ((ref.group ?? '') === ISTIO_HOSTNAME.group && ref.kind === ISTIO_HOSTNAME.kind) {
    if (plan.source.serviceEntry) return checkServiceEntry(c);
    return checks.add(
      'vm-backend',
      false,
      `the source backendRef is the Istio Hostname ${ref.name ?? ''}, and the plan names no ServiceEntry to check it against`,
      'set spec.source.serviceEntry to the MESH_INTERNAL ServiceEntry of that host',
    );
  }
  const name = ref.name ?? '';
  try {
    const svc = await c.gateway.readService(c.at, name);
    const selector = svc.spec?.selector ?? {};
    if (Object.keys(selector).length === 0)
      return checks.add(
        'vm-backend',
        false,
        `Service ${name} has no selector: it selects no WorkloadEntry`,
        'give the VMs\u2019 Service a selector matching the WorkloadEntries\u2019 labels',
      );
    const n = (await c.api.listWorkloadEntries(c.at, selectorText(selector))).length;
    checks.add(
      'vm-backend',
      n > 0,
      n > 0
        ? `Service ${name} selects ${n} WorkloadEntr${n === 1 ? 'y' : 'ies'} (${selectorText(selector)})`
        : `Service ${name} selects no WorkloadEntry (${selectorText(selector)}): the VMs would get no traffic`,
      'register the VMs (a WorkloadEntry per VM, with the labels the Service selects)',
    );
  } catch (err) {
    checks.failedRead(
      'vm-backend',
      err,
      `Service ${plan.namespace}/${name}`,
      'create the VMs\u2019 Service (selecting their WorkloadEntries), or fix spec.source.host',
    );
  }
}

/** The containers: the target Service selects the Deployment's pods. */
async function checkTargetBackend(c: GatewayCtx): Promise<void> {
  const { plan, checks } = c;
  const name = plan.target.destination.host.split('.')[0]!;
  try {
    const [svc, d] = await Promise.all([
      c.gateway.readService(c.at, name),
      c.api.readDeployment(c.at, plan.target.deployment),
    ]);
    const selector = svc.spec?.selector ?? {};
    const pods = d.spec?.template?.metadata?.labels ?? {};
    const ok = Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => pods[k] === v);
    checks.add(
      'k8s-backend',
      ok,
      ok
        ? `Service ${name} selects the pods of Deployment ${plan.target.deployment}`
        : `Service ${name} selects {${selectorText(selector)}} but the pods of ${plan.target.deployment} have {${selectorText(pods)}}: traffic would reach no pod`,
      'align the Service selector with the pod template labels',
    );
  } catch (err) {
    checks.failedRead(
      'k8s-backend',
      err,
      `Service ${plan.namespace}/${name} or Deployment ${plan.target.deployment}`,
      'create the containers\u2019 Service, or fix spec.target.host / spec.target.deployment',
    );
  }
}
