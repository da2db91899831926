/**
 * Preflight of the Istio adapter: nothing is written; every problem is reported at once, each with its fix.
 * One function per check group: API version, VirtualService route, DestinationRule subsets, the VMs'
 * ServiceEntry and endpoints, the containers' Deployment, and how the two sides are told apart in metrics.
 */
import type { MetricSelectors } from '../gate/types.js';
import { qualifyHost, routeField, type ResolvedPlan } from '../plan/load.js';
import type { At, IstioApi, ServiceEntryObject } from './istio-api.js';
import { CheckList } from './kube/checks.js';
import { locateRoute } from './route.js';
import type { PreflightReport } from './types.js';

type Labels = Record<string, string>;
type Role = 'source' | 'target';

export interface Ctx {
  api: IstioApi;
  plan: ResolvedPlan;
  at: At;
  checks: CheckList;
  fqdn: (host: string) => string;
}

/** What to do when an object the plan names does not exist. */
const NOT_FOUND_FIX = {
  virtualservice: 'create it with the source at weight 100 (see deploy/examples)',
  serviceentry: 'create the MESH_INTERNAL ServiceEntry for the VMs, or fix spec.source.serviceEntry',
  deployment: 'deploy the containerized service first, or fix spec.target.deployment',
};

export async function runPreflight(
  api: IstioApi,
  plan: ResolvedPlan,
  istioVersion: (signal?: AbortSignal) => Promise<string>,
  signal?: AbortSignal,
): Promise<PreflightReport> {
  const checks = new CheckList(signal);
  const fqdn = (h: string) => qualifyHost(h, plan.namespace);
  const selectors = planSelectors(plan);
  let version = 'v1';
  try {
    version = await istioVersion(signal);
    checks.add('istio-api', true, `networking.istio.io/${version} is served`);
  } catch (err) {
    checks.failed(
      'istio-api',
      err,
      `install Istio ≥ 1.22 or set ${routeField(plan, 'apiVersion')} to a served version`,
    );
    return { ok: false, checks: checks.checks, initialWeight: 0, selectors, istioVersion: version };
  }
  const at: At = { namespace: plan.namespace, version, ...(signal ? { signal } : {}) };
  const c: Ctx = { api, plan, at, checks, fqdn };
  const initialWeight = await checkVirtualService(c);
  const subsetLabels = plan.mode === 'subsets' ? await checkDestinationRule(c) : {};
  await checkServiceEntry(c);
  await checkDeployment(c, subsetLabels.target);
  checkMetricSelectors(c, selectors, subsetLabels);
  return { ok: checks.ok, checks: checks.checks, initialWeight, selectors, istioVersion: version };
}

/** The VirtualService and the one route to shift; returns the target's current weight. */
async function checkVirtualService({ api, plan, at, checks }: Ctx): Promise<number> {
  const ref = `${plan.namespace}/${plan.route.name}`;
  try {
    const vs = await api.getVirtualService(at, plan.route.name);
    const loc = locateRoute(
      vs,
      plan.source.destination,
      plan.target.destination,
      plan.route.rule,
      routeField(plan, 'rule'),
    );
    const added = loc.targetIndex < 0 ? ' (target will be added)' : '';
    checks.add(
      'virtualservice',
      true,
      `route ${loc.routeName ?? `#${loc.httpIndex}`} of ${ref}: ${loc.sourceWeight} % source / ${loc.targetWeight} % target${added}`,
    );
    return loc.targetWeight;
  } catch (err) {
    checks.failedRead('virtualservice', err, `VirtualService ${ref}`, NOT_FOUND_FIX.virtualservice);
    return 0;
  }
}

/** Make-before-break: both subsets must exist before any weight moves. Returns each subset's labels. */
async function checkDestinationRule({
  api,
  plan,
  at,
  checks,
  fqdn,
}: Ctx): Promise<Partial<Record<Role, Labels>>> {
  const found: Partial<Record<Role, Labels>> = {};
  const want = { source: plan.source.destination.subset!, target: plan.target.destination.subset! };
  try {
    const drs = (await api.listDestinationRules(at)).filter(
      (d) => d.spec?.host && fqdn(d.spec.host) === fqdn(plan.host),
    );
    if (drs.length === 0) {
      checks.add(
        'destinationrule',
        false,
        `no DestinationRule in ${plan.namespace} for host ${plan.host}`,
        `create one with subsets "${want.source}" and "${want.target}"`,
      );
      return found;
    }
    const subsets = drs.flatMap((d) => d.spec?.subsets ?? []);
    const missing: string[] = [];
    for (const role of ['source', 'target'] as const) {
      const s = subsets.find((x) => x.name === want[role]);
      if (s) found[role] = s.labels ?? {};
      else missing.push(want[role]);
    }
    const names = drs.map((d) => d.metadata.name).join(', ');
    checks.add(
      'destinationrule',
      missing.length === 0,
      missing.length === 0
        ? `DestinationRule ${names} defines subsets ${want.source} and ${want.target}`
        : `DestinationRule ${names} lacks subset${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`,
      'add the missing subset(s) to the DestinationRule before shifting (routes to an undefined subset fail with 503)',
    );
  } catch (err) {
    checks.failed('destinationrule', err);
  }
  return found;
}

/** The VMs: a MESH_INTERNAL ServiceEntry for the source host, with endpoints or selected WorkloadEntries. */
export async function checkServiceEntry(c: Ctx): Promise<void> {
  const { api, plan, at, checks, fqdn } = c;
  // The plan schema requires it with a VirtualService; an HTTPRoute plan calls this only when it names one.
  const name = plan.source.serviceEntry!;
  try {
    const se = await api.getServiceEntry(at, name);
    const location = se.spec?.location ?? 'MESH_EXTERNAL';
    checks.add(
      'serviceentry',
      location === 'MESH_INTERNAL',
      location === 'MESH_INTERNAL'
        ? `ServiceEntry ${name} is MESH_INTERNAL`
        : `ServiceEntry ${name} is ${location}${se.spec?.location ? '' : ' (the default when location is not set)'}: the VMs have no sidecar, so Istio reports only client-side metrics and the gate could not compare the two sides`,
      'run the VMs in the mesh (istio-proxy on the VM, WorkloadEntry) and set location: MESH_INTERNAL',
    );
    const hosts = se.spec?.hosts ?? [];
    if (!hosts.map(fqdn).includes(fqdn(plan.source.destination.host))) {
      checks.add(
        'serviceentry-host',
        false,
        `ServiceEntry ${name} hosts [${hosts.join(', ')}] do not include ${plan.source.destination.host}`,
        'fix spec.source.serviceEntry or the ServiceEntry hosts',
      );
    }
    await checkEndpoints(c, se);
  } catch (err) {
    checks.failedRead(
      'serviceentry',
      err,
      `ServiceEntry ${plan.namespace}/${name}`,
      NOT_FOUND_FIX.serviceentry,
    );
  }
}

const ENDPOINTS_FIX =
  'register the VMs (WorkloadEntry per VM, or endpoints in the ServiceEntry) so the mesh can reach them';

async function checkEndpoints({ api, plan, at, checks }: Ctx, se: ServiceEntryObject): Promise<void> {
  const named = plan.source.workloadEntries ?? [];
  if (named.length > 0) {
    const missing: string[] = [];
    for (const name of named) if (!(await api.hasWorkloadEntry(at, name))) missing.push(name);
    const ok = missing.length === 0;
    const message = ok
      ? `${named.length} WorkloadEntries present`
      : `WorkloadEntries not found: ${missing.join(', ')}`;
    return checks.add('vm-endpoints', ok, message, ENDPOINTS_FIX);
  }
  if (se.spec?.endpoints?.length)
    return checks.add('vm-endpoints', true, `ServiceEntry lists ${se.spec.endpoints.length} endpoint(s)`);
  const labels = se.spec?.workloadSelector?.labels ?? {};
  if (Object.keys(labels).length === 0) {
    const message = `ServiceEntry ${se.metadata.name} has neither endpoints nor a workloadSelector`;
    return checks.add('vm-endpoints', false, message, ENDPOINTS_FIX);
  }
  const selector = Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const n = (await api.listWorkloadEntries(at, selector)).length;
  checks.add(
    'vm-endpoints',
    n > 0,
    n > 0
      ? `${n} WorkloadEntr${n === 1 ? 'y' : 'ies'} match ${selector}`
      : `no WorkloadEntry matches the ServiceEntry's workloadSelector ${selector}`,
    ENDPOINTS_FIX,
  );
}

const showLabels = (labels: Labels) =>
  `{${Object.entries(labels)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ')}}`;

/** The containers: all desired replicas available, and pods that the target subset selects. */
export async function checkDeployment(
  { api, plan, at, checks }: Ctx,
  targetSubset: Labels | undefined,
): Promise<void> {
  const name = plan.target.deployment;
  try {
    const d = await api.readDeployment(at, name);
    const desired = d.spec?.replicas ?? 1;
    const available = d.status?.availableReplicas ?? 0;
    const updated = d.status?.updatedReplicas ?? 0;
    const current = (d.status?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0);
    const ready = desired > 0 && available >= desired && updated >= desired && current;
    checks.add(
      'deployment',
      ready,
      ready
        ? `Deployment ${name}: ${available}/${desired} replicas available`
        : desired === 0
          ? `Deployment ${name} is scaled to 0`
          : `Deployment ${name}: ${available}/${desired} available, ${updated} updated${current ? '' : ', rollout not yet observed'}`,
      'wait for the rollout (kubectl rollout status) before shifting traffic',
    );
    if (!targetSubset) return;
    const podLabels = d.spec?.template?.metadata?.labels ?? {};
    const ok = Object.entries(targetSubset).every(([k, v]) => podLabels[k] === v);
    const subset = plan.target.destination.subset;
    checks.add(
      'target-subset-pods',
      ok,
      ok
        ? `subset ${subset} selects the Deployment's pods`
        : `subset ${subset} selects ${showLabels(targetSubset)} but the pods of ${name} have ${showLabels(podLabels)}: traffic would reach no pod`,
      'align the subset labels with the pod template labels',
    );
  } catch (err) {
    checks.failedRead('deployment', err, `Deployment ${plan.namespace}/${name}`, NOT_FOUND_FIX.deployment);
  }
}

/** The metric selectors a plan starts from: each side's destination service, fully qualified. */
export function planSelectors(plan: ResolvedPlan): MetricSelectors {
  const fqdn = (h: string) => qualifyHost(h, plan.namespace);
  return {
    source: { destination_service: fqdn(plan.source.destination.host) },
    target: { destination_service: fqdn(plan.target.destination.host) },
  };
}
/** How the two sides are told apart in Istio metrics (destination_version comes from the subset's label). */
export function checkMetricSelectors(
  { plan, checks }: Ctx,
  selectors: MetricSelectors,
  subsetLabels: Partial<Record<Role, Labels>>,
): void {
  for (const role of ['source', 'target'] as const) {
    const override = plan[role].metrics;
    if (override) {
      selectors[role] = { ...selectors[role], ...override };
      continue;
    }
    const labels = subsetLabels[role];
    if (plan.mode === 'hosts' || !labels) continue; // two hosts: destination_service differs already
    if (labels.version) selectors[role].destination_version = labels.version;
    else
      checks.add(
        `${role}-metrics`,
        false,
        `subset ${plan[role].destination.subset} has no "version" label, so Istio metrics cannot tell it apart (destination_version comes from that label)`,
        `set spec.${role}.metrics, e.g. {destination_workload: <name>}`,
      );
  }
  const version = selectors.source.destination_version;
  if (plan.mode === 'subsets' && version && version === selectors.target.destination_version) {
    checks.add(
      'metrics-selectors',
      false,
      `both subsets have version "${version}": metrics cannot tell them apart`,
      'give the subsets different version labels or set spec.*.metrics',
    );
  }
}
