/**
 * The Istio adapter: reads and patches the VirtualService's weights (one guarded JSON patch per write) and runs
 * the preflight checks. Every Kubernetes call has a deadline and honours the caller's AbortSignal.
 */
import type * as k8s from '@kubernetes/client-node';
import type { ResolvedPlan } from '../plan/load.js';
import { DriftError } from './errors.js';
import { IstioApi, NETWORKING, type At } from './istio-api.js';
import { runPreflight } from './istio-preflight.js';
import { KubeCalls, type KubeCallOptions } from './kube/call.js';
import { ApiDiscovery } from './kube/discovery.js';
import { guardedPatch, type JsonPatchOp } from './kube/guarded-patch.js';
import { retryPolicy, type RetryPolicy } from './kube/retry.js';
import { locateRoute, weightPatch, type VirtualServiceObject } from './route.js';
import type { CallOptions, MeshAdapter, PreflightReport, SetWeightOptions, WeightWrite } from './types.js';

const SUPPORTED = ['v1', 'v1beta1', 'v1alpha3'] as const;

export interface IstioAdapterOptions extends KubeCallOptions {
  /** Attempts for one weight write when the object changes under us (409/422) or the API blips (5xx). */
  maxAttempts?: number;
  /** Backoff between those attempts. */
  retry?: Partial<Omit<RetryPolicy, 'maxAttempts'>>;
  now?: () => number;
}

export class IstioMeshAdapter implements MeshAdapter {
  private readonly api: IstioApi;
  private readonly discovery: ApiDiscovery;
  private readonly policy: RetryPolicy;
  private readonly now: () => number;
  /** Kubernetes writes made (successful PATCHes), for benchmarks and metrics. */
  writes = 0;

  constructor(kc: k8s.KubeConfig, opts: IstioAdapterOptions = {}) {
    const calls = new KubeCalls(opts);
    this.api = new IstioApi(kc, calls);
    this.discovery = new ApiDiscovery(kc, calls);
    this.policy = retryPolicy({
      ...opts.retry,
      ...(opts.maxAttempts !== undefined ? { maxAttempts: opts.maxAttempts } : {}),
    });
    this.now = opts.now ?? Date.now;
  }

  /** The networking.istio.io version to use: the plan's choice if served, else the cluster's preferred one. */
  istioVersion(plan: ResolvedPlan, signal?: AbortSignal): Promise<string> {
    const wanted = plan.virtualService.apiVersion;
    return this.discovery.version(
      {
        group: NETWORKING,
        supported: SUPPORTED,
        ...(wanted ? { wanted, wantedField: 'spec.virtualService.apiVersion' } : {}),
        hint: 'is Istio installed?',
      },
      signal,
    );
  }

  private async at(plan: ResolvedPlan, signal?: AbortSignal): Promise<At> {
    const version = await this.istioVersion(plan, signal);
    return { namespace: plan.namespace, version, ...(signal ? { signal } : {}) };
  }

  async currentWeight(plan: ResolvedPlan, opts: CallOptions = {}): Promise<number> {
    const vs = await this.api.getVirtualService(await this.at(plan, opts.signal), plan.virtualService.name);
    return locateRoute(vs, plan.source.destination, plan.target.destination, plan.virtualService.route)
      .targetWeight;
  }

  /**
   * One guarded write of the weights: re-read, check for drift, `opts.beforeAttempt` (the fencing check), then
   * a JSON patch whose `test` ops pin the resourceVersion and both destinations. Conflicts and transient errors
   * are retried from the read; drift, a route error, a fence failure or an abort stop at once.
   */
  async setWeight(plan: ResolvedPlan, weight: number, opts: SetWeightOptions): Promise<WeightWrite> {
    const at = await this.at(plan, opts.signal);
    const name = plan.virtualService.name;
    const r = await guardedPatch<VirtualServiceObject>({
      what: `set weight ${weight} % on VirtualService ${plan.namespace}/${name}`,
      policy: this.policy,
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.beforeAttempt ? { beforeWrite: opts.beforeAttempt } : {}),
      read: () => this.api.getVirtualService(at, name),
      decide: (vs) => decideWeight(plan, vs, weight, opts),
      write: (ops) => this.api.patchVirtualService(at, name, ops),
    });
    if (r.wrote) this.writes++;
    const resourceVersion = r.object.metadata?.resourceVersion;
    return {
      at: this.now(),
      weight,
      wrote: r.wrote,
      attempts: r.attempts,
      ...(resourceVersion ? { resourceVersion } : {}),
    };
  }

  preflight(plan: ResolvedPlan, opts: CallOptions = {}): Promise<PreflightReport> {
    return runPreflight(this.api, plan, (signal) => this.istioVersion(plan, signal), opts.signal);
  }
}

/** The patch that moves the route to `weight`, null when it is there already; DriftError when someone moved it. */
function decideWeight(
  plan: ResolvedPlan,
  vs: VirtualServiceObject,
  weight: number,
  opts: SetWeightOptions,
): JsonPatchOp[] | null {
  const loc = locateRoute(vs, plan.source.destination, plan.target.destination, plan.virtualService.route);
  // Already there (a retried step after a restart): nothing to write.
  if (loc.targetWeight === weight && loc.sourceWeight === 100 - weight) return null;
  if (!opts.force && loc.targetWeight !== opts.expected) {
    throw new DriftError(
      `VirtualService ${plan.namespace}/${plan.virtualService.name} sends ${loc.targetWeight} % to the target, but meshshift last set ${opts.expected} %; someone else changed it`,
      loc.targetWeight,
      opts.expected,
    );
  }
  return weightPatch(vs, loc, weight, plan.target.destination);
}
