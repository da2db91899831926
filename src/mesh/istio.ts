/**
 * The Istio adapter: reads and patches VirtualServices, checks the ServiceEntry / WorkloadEntries /
 * DestinationRule / Deployment before anything changes. Talks to Kubernetes only through @kubernetes/client-node.
 */
import * as k8s from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MetricSelectors } from '../gate/types.js';
import { qualifyHost, type ResolvedPlan } from '../plan/load.js';
import type { KubeApiError } from './kube.js';
import { isConflict, isNotFound, isRetryable, toKubeError } from './kube.js';
import { RouteError, locateRoute, weightPatch, type VirtualServiceObject } from './route.js';
import { DriftError } from '../machine/types.js';
import type { MeshAdapter, PreflightCheck, PreflightReport, SetWeightOptions, WeightWrite } from './types.js';

const GROUP = 'networking.istio.io';
const SUPPORTED = ['v1', 'v1beta1', 'v1alpha3'] as const;

export interface IstioAdapterOptions {
  /** Attempts for one weight write when the object changes under us (409/422) or the API blips (5xx). */
  maxAttempts?: number;
  /** Called for every Kubernetes call (for metrics and logs). */
  onCall?: (info: { verb: string; resource: string; ms: number; ok: boolean; code?: number }) => void;
  now?: () => number;
}

interface KubeList<T> {
  items?: T[];
}
interface SubsetSpec {
  name: string;
  labels?: Record<string, string>;
}
interface DestinationRuleObject {
  metadata: { name: string };
  spec?: { host?: string; subsets?: SubsetSpec[] };
}
interface ServiceEntryObject {
  metadata: { name: string };
  spec?: {
    hosts?: string[];
    location?: string;
    endpoints?: unknown[];
    workloadSelector?: { labels?: Record<string, string> };
  };
}

export class IstioMeshAdapter implements MeshAdapter {
  private readonly custom: k8s.CustomObjectsApi;
  private readonly apps: k8s.AppsV1Api;
  private readonly apis: k8s.ApisApi;
  private versionCache = new Map<string, Promise<string>>();
  private readonly maxAttempts: number;
  private readonly now: () => number;
  /** Kubernetes writes made (successful PATCHes), for benchmarks and metrics. */
  writes = 0;

  constructor(
    kc: k8s.KubeConfig,
    private readonly opts: IstioAdapterOptions = {},
  ) {
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.apps = kc.makeApiClient(k8s.AppsV1Api);
    this.apis = kc.makeApiClient(k8s.ApisApi);
    this.maxAttempts = opts.maxAttempts ?? 6;
    this.now = opts.now ?? Date.now;
  }

  private async call<T>(verb: string, resource: string, fn: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const out = await fn();
      this.opts.onCall?.({ verb, resource, ms: performance.now() - started, ok: true });
      return out;
    } catch (err) {
      const e = toKubeError(err, `${verb} ${resource}`);
      this.opts.onCall?.({
        verb,
        resource,
        ms: performance.now() - started,
        ok: false,
        code: (e as KubeApiError).code,
      });
      throw e;
    }
  }

  /** The networking.istio.io version to use: the plan's choice if served, else the cluster's preferred one. */
  istioVersion(plan: ResolvedPlan): Promise<string> {
    const key = plan.virtualService.apiVersion ?? '';
    let p = this.versionCache.get(key);
    if (!p) {
      p = this.discoverVersion(plan.virtualService.apiVersion);
      p.catch(() => this.versionCache.delete(key));
      this.versionCache.set(key, p);
    }
    return p;
  }

  private async discoverVersion(wanted?: string): Promise<string> {
    const groups = await this.call('discover', 'apis', () => this.apis.getAPIVersions());
    const group = groups.groups.find((g) => g.name === GROUP);
    if (!group) throw new Error(`the cluster does not serve ${GROUP}: is Istio installed?`);
    const served = group.versions.map((v) => v.version);
    if (wanted) {
      if (!served.includes(wanted))
        throw new Error(
          `the cluster serves ${GROUP} ${served.join(', ')}, not ${wanted} (spec.virtualService.apiVersion)`,
        );
      return wanted;
    }
    const preferred = group.preferredVersion?.version;
    if (preferred && (SUPPORTED as readonly string[]).includes(preferred)) return preferred;
    const found = SUPPORTED.find((v) => served.includes(v));
    if (!found)
      throw new Error(
        `the cluster serves ${GROUP} ${served.join(', ')}; meshshift supports ${SUPPORTED.join(', ')}`,
      );
    return found;
  }

  private async getVs(plan: ResolvedPlan, version: string): Promise<VirtualServiceObject> {
    const { namespace } = plan;
    const name = plan.virtualService.name;
    return (await this.call('get', `virtualservices/${namespace}/${name}`, () =>
      this.custom.getNamespacedCustomObject({
        group: GROUP,
        version,
        namespace,
        plural: 'virtualservices',
        name,
      }),
    )) as VirtualServiceObject;
  }

  async currentWeight(plan: ResolvedPlan): Promise<number> {
    const vs = await this.getVs(plan, await this.istioVersion(plan));
    return locateRoute(vs, plan.source.destination, plan.target.destination, plan.virtualService.route)
      .targetWeight;
  }

  async setWeight(plan: ResolvedPlan, weight: number, opts: SetWeightOptions): Promise<WeightWrite> {
    const version = await this.istioVersion(plan);
    const { namespace } = plan;
    const name = plan.virtualService.name;
    let lastError: unknown;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      opts.signal?.throwIfAborted();
      try {
        const vs = await this.getVs(plan, version);
        const loc = locateRoute(
          vs,
          plan.source.destination,
          plan.target.destination,
          plan.virtualService.route,
        );
        if (loc.targetWeight === weight && loc.sourceWeight === 100 - weight) {
          // Already there (a retried step after a restart): nothing to write.
          return {
            at: this.now(),
            weight,
            wrote: false,
            attempts: attempt,
            ...(vs.metadata.resourceVersion ? { resourceVersion: vs.metadata.resourceVersion } : {}),
          };
        }
        if (!opts.force && loc.targetWeight !== opts.expected) {
          throw new DriftError(
            `VirtualService ${namespace}/${name} sends ${loc.targetWeight} % to the target, but meshshift last set ${opts.expected} %; someone else changed it`,
            loc.targetWeight,
            opts.expected,
          );
        }
        const patch = weightPatch(vs, loc, weight, plan.target.destination);
        opts.signal?.throwIfAborted();
        const updated = (await this.call('patch', `virtualservices/${namespace}/${name}`, () =>
          this.custom.patchNamespacedCustomObject(
            { group: GROUP, version, namespace, plural: 'virtualservices', name, body: patch },
            k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
          ),
        )) as VirtualServiceObject;
        this.writes++;
        return {
          at: this.now(),
          weight,
          wrote: true,
          attempts: attempt,
          ...(updated.metadata?.resourceVersion ? { resourceVersion: updated.metadata.resourceVersion } : {}),
        };
      } catch (err) {
        if (err instanceof DriftError || err instanceof RouteError) throw err;
        if (!(isConflict(err) || isRetryable(err))) throw err;
        lastError = err;
        // Someone wrote in between (or the API blipped): re-read and try again, with jittered backoff.
        if (attempt < this.maxAttempts)
          await sleep(
            Math.min(1000, 25 * 2 ** attempt) * (0.5 + Math.random()),
            undefined,
            opts.signal ? { signal: opts.signal } : {},
          );
      }
    }
    throw new Error(
      `gave up setting weight ${weight} % after ${this.maxAttempts} attempts: ${(lastError as Error)?.message}`,
    );
  }

  async preflight(plan: ResolvedPlan): Promise<PreflightReport> {
    const checks: PreflightCheck[] = [];
    const add = (id: string, ok: boolean, message: string, fix?: string) =>
      checks.push({ id, ok, message, ...(fix && !ok ? { fix } : {}) });
    /** A failed read: "not found" gets its own message and fix; anything else reports the API's error. */
    const failedRead = (id: string, err: unknown, notFound: string, notFoundFix: string) =>
      isNotFound(err)
        ? add(id, false, notFound, notFoundFix)
        : add(id, false, (err as Error).message, (err as RouteError).fix);
    const { namespace } = plan;
    const fqdn = (h: string) => qualifyHost(h, namespace);
    let version = 'v1';
    let initialWeight = 0;
    const selectors: MetricSelectors = {
      source: { destination_service: fqdn(plan.source.destination.host) },
      target: { destination_service: fqdn(plan.target.destination.host) },
    };

    try {
      version = await this.istioVersion(plan);
      add('istio-api', true, `${GROUP}/${version} is served`);
    } catch (err) {
      add(
        'istio-api',
        false,
        (err as Error).message,
        'install Istio ≥ 1.22 or set spec.virtualService.apiVersion to a served version',
      );
      return { ok: false, checks, initialWeight, selectors, istioVersion: version };
    }

    // VirtualService and the route to shift.
    try {
      const vs = await this.getVs(plan, version);
      const loc = locateRoute(
        vs,
        plan.source.destination,
        plan.target.destination,
        plan.virtualService.route,
      );
      initialWeight = loc.targetWeight;
      add(
        'virtualservice',
        true,
        `route ${loc.routeName ?? `#${loc.httpIndex}`} of ${namespace}/${plan.virtualService.name}: ${loc.sourceWeight} % source / ${loc.targetWeight} % target${loc.targetIndex < 0 ? ' (target will be added)' : ''}`,
      );
    } catch (err) {
      failedRead(
        'virtualservice',
        err,
        `VirtualService ${namespace}/${plan.virtualService.name} not found`,
        'create it with the source at weight 100 (see deploy/examples)',
      );
    }

    // DestinationRule subsets (make-before-break: both must exist before any weight moves).
    const subsetLabels: Record<'source' | 'target', Record<string, string> | undefined> = {
      source: undefined,
      target: undefined,
    };
    if (plan.mode === 'subsets') {
      try {
        const list = (await this.call('list', `destinationrules/${namespace}`, () =>
          this.custom.listNamespacedCustomObject({
            group: GROUP,
            version,
            namespace,
            plural: 'destinationrules',
          }),
        )) as KubeList<DestinationRuleObject>;
        const drs = (list.items ?? []).filter((d) => d.spec?.host && fqdn(d.spec.host) === fqdn(plan.host));
        if (drs.length === 0) {
          add(
            'destinationrule',
            false,
            `no DestinationRule in ${namespace} for host ${plan.host}`,
            `create one with subsets "${plan.source.destination.subset}" and "${plan.target.destination.subset}"`,
          );
        } else {
          const subsets = drs.flatMap((d) => d.spec?.subsets ?? []);
          const missing: string[] = [];
          for (const role of ['source', 'target'] as const) {
            const want = plan[role].destination.subset!;
            const s = subsets.find((x) => x.name === want);
            if (!s) missing.push(want);
            else subsetLabels[role] = s.labels ?? {};
          }
          add(
            'destinationrule',
            missing.length === 0,
            missing.length === 0
              ? `DestinationRule ${drs.map((d) => d.metadata.name).join(', ')} defines subsets ${plan.source.destination.subset} and ${plan.target.destination.subset}`
              : `DestinationRule ${drs.map((d) => d.metadata.name).join(', ')} lacks subset${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`,
            'add the missing subset(s) to the DestinationRule before shifting (routes to an undefined subset fail with 503)',
          );
        }
      } catch (err) {
        add('destinationrule', false, (err as Error).message);
      }
    }

    // The VMs: a MESH_INTERNAL ServiceEntry with endpoints or selected WorkloadEntries.
    try {
      const se = (await this.call('get', `serviceentries/${namespace}/${plan.source.serviceEntry}`, () =>
        this.custom.getNamespacedCustomObject({
          group: GROUP,
          version,
          namespace,
          plural: 'serviceentries',
          name: plan.source.serviceEntry,
        }),
      )) as ServiceEntryObject;
      const location = se.spec?.location ?? 'MESH_EXTERNAL';
      add(
        'serviceentry',
        location === 'MESH_INTERNAL',
        location === 'MESH_INTERNAL'
          ? `ServiceEntry ${plan.source.serviceEntry} is MESH_INTERNAL`
          : `ServiceEntry ${plan.source.serviceEntry} is ${location}${se.spec?.location ? '' : ' (the default when location is not set)'}: the VMs have no sidecar, so Istio reports only client-side metrics and the gate could not compare the two sides`,
        'run the VMs in the mesh (istio-proxy on the VM, WorkloadEntry) and set location: MESH_INTERNAL',
      );
      const hosts = (se.spec?.hosts ?? []).map(fqdn);
      if (!hosts.includes(fqdn(plan.source.destination.host))) {
        add(
          'serviceentry-host',
          false,
          `ServiceEntry ${plan.source.serviceEntry} hosts [${(se.spec?.hosts ?? []).join(', ')}] do not include ${plan.source.destination.host}`,
          'fix spec.source.serviceEntry or the ServiceEntry hosts',
        );
      }
      await this.checkEndpoints(plan, version, se, add);
    } catch (err) {
      failedRead(
        'serviceentry',
        err,
        `ServiceEntry ${namespace}/${plan.source.serviceEntry} not found`,
        'create the MESH_INTERNAL ServiceEntry for the VMs, or fix spec.source.serviceEntry',
      );
    }

    // The containers: a Deployment with all desired replicas available and pods the target subset selects.
    try {
      const d = await this.call('get', `deployments/${namespace}/${plan.target.deployment}`, () =>
        this.apps.readNamespacedDeployment({ namespace, name: plan.target.deployment }),
      );
      const desired = d.spec?.replicas ?? 1;
      const available = d.status?.availableReplicas ?? 0;
      const updated = d.status?.updatedReplicas ?? 0;
      const current = (d.status?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0);
      const ready = desired > 0 && available >= desired && updated >= desired && current;
      add(
        'deployment',
        ready,
        ready
          ? `Deployment ${plan.target.deployment}: ${available}/${desired} replicas available`
          : desired === 0
            ? `Deployment ${plan.target.deployment} is scaled to 0`
            : `Deployment ${plan.target.deployment}: ${available}/${desired} available, ${updated} updated${current ? '' : ', rollout not yet observed'}`,
        'wait for the rollout (kubectl rollout status) before shifting traffic',
      );
      const podLabels = d.spec?.template?.metadata?.labels ?? {};
      const sel = subsetLabels.target;
      if (sel) {
        const mismatched = Object.entries(sel).filter(([k, v]) => podLabels[k] !== v);
        add(
          'target-subset-pods',
          mismatched.length === 0,
          mismatched.length === 0
            ? `subset ${plan.target.destination.subset} selects the Deployment's pods`
            : `subset ${plan.target.destination.subset} selects {${Object.entries(sel)
                .map(([k, v]) => `${k}: ${v}`)
                .join(', ')}} but the pods of ${plan.target.deployment} have {${Object.entries(podLabels)
                .map(([k, v]) => `${k}: ${v}`)
                .join(', ')}}: traffic would reach no pod`,
          'align the subset labels with the pod template labels',
        );
      }
    } catch (err) {
      failedRead(
        'deployment',
        err,
        `Deployment ${namespace}/${plan.target.deployment} not found`,
        'deploy the containerized service first, or fix spec.target.deployment',
      );
    }

    // How the two sides are told apart in Istio metrics.
    for (const role of ['source', 'target'] as const) {
      const override = plan[role].metrics;
      if (override) {
        selectors[role] = { ...selectors[role], ...override };
        continue;
      }
      if (plan.mode === 'hosts') continue; // destination_service differs already
      const labels = subsetLabels[role];
      if (!labels) continue;
      if (labels.version) selectors[role].destination_version = labels.version;
      else {
        add(
          `${role}-metrics`,
          false,
          `subset ${plan[role].destination.subset} has no "version" label, so Istio metrics cannot tell it apart (destination_version comes from that label)`,
          `set spec.${role}.metrics, e.g. {destination_workload: <name>}`,
        );
      }
    }
    if (
      plan.mode === 'subsets' &&
      selectors.source.destination_version &&
      selectors.source.destination_version === selectors.target.destination_version
    ) {
      add(
        'metrics-selectors',
        false,
        `both subsets have version "${selectors.source.destination_version}": metrics cannot tell them apart`,
        'give the subsets different version labels or set spec.*.metrics',
      );
    }

    return { ok: checks.every((c) => c.ok), checks, initialWeight, selectors, istioVersion: version };
  }

  private async checkEndpoints(
    plan: ResolvedPlan,
    version: string,
    se: ServiceEntryObject,
    add: (id: string, ok: boolean, m: string, fix?: string) => void,
  ) {
    const { namespace } = plan;
    const fix =
      'register the VMs (WorkloadEntry per VM, or endpoints in the ServiceEntry) so the mesh can reach them';
    if (plan.source.workloadEntries?.length) {
      const missing: string[] = [];
      for (const name of plan.source.workloadEntries) {
        try {
          await this.call('get', `workloadentries/${namespace}/${name}`, () =>
            this.custom.getNamespacedCustomObject({
              group: GROUP,
              version,
              namespace,
              plural: 'workloadentries',
              name,
            }),
          );
        } catch (err) {
          if (isNotFound(err)) missing.push(name);
          else throw err;
        }
      }
      add(
        'vm-endpoints',
        missing.length === 0,
        missing.length
          ? `WorkloadEntries not found: ${missing.join(', ')}`
          : `${plan.source.workloadEntries.length} WorkloadEntries present`,
        fix,
      );
      return;
    }
    if (se.spec?.endpoints?.length) {
      add('vm-endpoints', true, `ServiceEntry lists ${se.spec.endpoints.length} endpoint(s)`);
      return;
    }
    const labels = se.spec?.workloadSelector?.labels;
    if (!labels || Object.keys(labels).length === 0) {
      add(
        'vm-endpoints',
        false,
        `ServiceEntry ${se.metadata.name} has neither endpoints nor a workloadSelector`,
        fix,
      );
      return;
    }
    const labelSelector = Object.entries(labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const list = (await this.call('list', `workloadentries/${namespace}`, () =>
      this.custom.listNamespacedCustomObject({
        group: GROUP,
        version,
        namespace,
        plural: 'workloadentries',
        labelSelector,
      }),
    )) as KubeList<{ metadata: { name: string } }>;
    const n = list.items?.length ?? 0;
    add(
      'vm-endpoints',
      n > 0,
      n > 0
        ? `${n} WorkloadEntr${n === 1 ? 'y' : 'ies'} match ${labelSelector}`
        : `no WorkloadEntry matches the ServiceEntry's workloadSelector ${labelSelector}`,
      fix,
    );
  }
}
