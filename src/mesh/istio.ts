/**
 * The Istio adapter: reads and patches the route's weights (a VirtualService, or a Gateway API HTTPRoute; one
 * guarded JSON patch per write) and runs the preflight checks. Every Kubernetes call has a deadline and honours
 * the caller's AbortSignal.
 */
import type * as k8s from '@kubernetes/client-node';
import { routeField, type ResolvedPlan } from '../plan/load.js';
import { DriftError } from './errors.js';
import { GatewayApi } from './gateway-api.js';
import { runGatewayPreflight } from './gateway-preflight.js';
import { IstioApi, type At } from './istio-api.js';
import { runPreflight } from './istio-preflight.js';
import { KubeCalls, type KubeCallOptions } from './kube/call.js';
import { ApiDiscovery } from './kube/discovery.js';
import { guardedPatch, type JsonPatchOp } from './kube/guarded-patch.js';
import { retryPolicy, type RetryPolicy } from './kube/retry.js';
import { httpRouteOps, virtualServiceOps, type RouteKindOps, type RouteObject } from './route-kinds.js';
import type { CallOptions, MeshAdapter, PreflightReport, SetWeightOptions, WeightWrite } from './types.js';

export interface IstioAdapterOptions extends KubeCallOptions {
  /** Attempts for one weight write when the object changes under us (409/422) or the API blips (5xx). */
  maxAttempts?: number;
  /** Backoff between those attempts. */
  retry?: Partial<Omit<RetryPolicy, 'maxAttempts'>>;
  now?: () => number;
}

export class IstioMeshAdapter implements MeshAdapter {
  private readonly api: IstioApi;
  private readonly gateway: GatewayApi;
  private readonly discovery: ApiDiscovery;
  private readonly kinds: Record<ResolvedPlan['route']['kind'], RouteKindOps>;
  private readonly policy: RetryPolicy;
  private readonly now: () => number;
  /** Kubernetes writes made (successful PATCHes), for benchmarks and metrics. */
  writes = 0;

  constructor(kc: k8s.KubeConfig, opts: IstioAdapterOptions = {}) {
    const calls = new KubeCalls(opts);
    this.api = new IstioApi(kc, calls);
    this.gateway = new GatewayApi(kc, calls);
    this.discovery = new ApiDiscovery(kc, calls);
    this.kinds = { VirtualService: virtualServiceOps(this.api), HTTPRoute: httpRouteOps(this.gateway) };
    this.policy = retryPolicy({
      ...opts.retry,
      ...(opts.maxAttempts !== undefined ? { maxAttempts: opts.maxAttempts } : {}),
    });
    this.now = opts.now ?? Date.now;
  }

  /** The version of the route's API group to use: the plan's choice if served, else the cluster's preferred. */
  routeVersion(plan: ResolvedPlan, signal?: AbortSignal): Promise<string> {
    const ops = this.kinds[plan.route.kind];
    const wanted = plan.route.apiVersion;
    return this.discovery.version(
      {
        group: ops.group,
        supported: ops.supported,
        ...(wanted ? { wanted, wantedField: routeField(plan, 'apiVersion') } : {}),
        hint: ops.hint,
      },
      signal,
    );
  }

  /** The networking.istio.io version to use (the VirtualService's when the plan names one). */
  istioVersion(plan: ResolvedPlan, signal?: AbortSignal): Promise<string> {
    if (plan.route.kind === 'VirtualService') return this.routeVersion(plan, signal);
    const ops = virtualServiceOps(this.api);
    return this.discovery.version({ group: ops.group, supported: ops.supported, hint: ops.hint }, signal);
  }

  private async at(plan: ResolvedPlan, signal?: AbortSignal): Promise<At> {
    const version = await this.routeVersion(plan, signal);
    return { namespace: plan.namespace, version, ...(signal ? { signal } : {}) };
  }

  async currentWeight(plan: ResolvedPlan, opts: CallOptions = {}): Promise<number> {
    const ops = this.kinds[plan.route.kind];
    const obj = await ops.read(await this.at(plan, opts.signal), plan.route.name);
    return ops.locate(obj, plan).targetWeight;
  }

  /**
   * One guarded write of the weights: re-read, check for drift, `opts.beforeAttempt` (the fencing check), then
   * a JSON patch whose `test` ops pin the resourceVersion and both sides. Conflicts and transient errors are
   * retried from the read; drift, a route error, a fence failure or an abort stop at once.
   */
  async setWeight(plan: ResolvedPlan, weight: number, opts: SetWeightOptions): Promise<WeightWrite> {
    const at = await this.at(plan, opts.signal);
    const ops = this.kinds[plan.route.kind];
    const { name } = plan.route;
    const r = await guardedPatch<RouteObject>({
      what: `set weight ${weight} % on ${ops.kind} ${plan.namespace}/${name}`,
      policy: this.policy,
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.beforeAttempt ? { beforeWrite: opts.beforeAttempt } : {}),
      read: () => ops.read(at, name),
      decide: (obj) => decideWeight(ops, plan, obj, weight, opts),
      write: (patch) => ops.write(at, name, patch),
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
    const istio = (signal?: AbortSignal) => this.istioVersion(plan, signal);
    if (plan.route.kind === 'HTTPRoute') {
      const gateway = (signal?: AbortSignal) => this.routeVersion(plan, signal);
      return runGatewayPreflight(
        { api: this.api, gateway: this.gateway },
        plan,
        { istio, gateway },
        opts.signal,
      );
    }
    return runPreflight(this.api, plan, istio, opts.signal);
  }
}

/** The patch that moves the route to `weight`, null when it is there already; DriftError when someone moved it. */
function decideWeight(
  ops: RouteKindOps,
  plan: ResolvedPlan,
  obj: RouteObject,
  weight: number,
  opts: SetWeightOptions,
): JsonPatchOp[] | null {
  const loc = ops.locate(obj, plan);
  // Already there (a retried step after a restart): nothing to write.
  if (loc.targetWeight === weight && loc.sourceWeight === 100 - weight) return null;
  if (!opts.force && loc.targetWeight !== opts.expected) {
    throw new DriftError(
      `${ops.kind} ${plan.namespace}/${plan.route.name} sends ${loc.targetWeight} % to the target, but meshshift last set ${opts.expected} %; someone else changed it`,
      loc.targetWeight,
      opts.expected,
    );
  }
  return ops.patch(obj, loc, weight, plan);
}
