/**
 * The Kubernetes calls the Istio adapter makes, each with its deadline and the caller's AbortSignal. Group and
 * plural are literals at every call so that test/deploy derives the ClusterRole from this file.
 *
 *   get, list, patch virtualservices.networking.istio.io     list destinationrules.networking.istio.io
 *   get serviceentries.networking.istio.io             get, list workloadentries.networking.istio.io
 *   get deployments.apps
 */
import * as k8s from '@kubernetes/client-node';
import { jsonPatch, type KubeCalls, type RequestOptions } from './kube/call.js';
import { isNotFound } from './kube/errors.js';
import type { JsonPatchOp } from './kube/guarded-patch.js';
import type { VirtualServiceObject } from './route.js';

export const NETWORKING = 'networking.istio.io';

export interface KubeList<T> {
  items?: T[];
}
export interface SubsetSpec {
  name: string;
  labels?: Record<string, string>;
}
export interface DestinationRuleObject {
  metadata: { name: string };
  spec?: { host?: string; subsets?: SubsetSpec[] };
}
export interface ServiceEntryObject {
  metadata: { name: string };
  spec?: {
    hosts?: string[];
    location?: string;
    endpoints?: unknown[];
    workloadSelector?: { labels?: Record<string, string> };
  };
}

/** Where a call goes: namespace and served networking.istio.io version, and the caller's AbortSignal. */
export interface At {
  namespace: string;
  version: string;
  signal?: AbortSignal;
}

type Send<T> = (options: RequestOptions) => Promise<T>;
const where = (at: At) => ({ namespace: at.namespace, version: at.version });

export class IstioApi {
  private readonly custom: k8s.CustomObjectsApi;
  private readonly apps: k8s.AppsV1Api;

  constructor(
    kc: k8s.KubeConfig,
    private readonly calls: KubeCalls,
  ) {
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.apps = kc.makeApiClient(k8s.AppsV1Api);
  }

  private run<T>(at: At, verb: string, plural: string, name: string | null, send: Send<T>): Promise<T> {
    const resource = `${plural}/${at.namespace}${name === null ? '' : `/${name}`}`;
    return this.calls.run(verb, resource, send, at.signal);
  }

  getVirtualService(at: At, name: string): Promise<VirtualServiceObject> {
    const args = { ...where(at), name };
    return this.run(at, 'get', 'virtualservices', name, (o) =>
      this.custom.getNamespacedCustomObject({ group: NETWORKING, plural: 'virtualservices', ...args }, o),
    );
  }

  patchVirtualService(at: At, name: string, body: JsonPatchOp[]): Promise<VirtualServiceObject> {
    const args = { ...where(at), name, body };
    return this.run(at, 'patch', 'virtualservices', name, (o) =>
      this.custom.patchNamespacedCustomObject(
        { group: NETWORKING, plural: 'virtualservices', ...args },
        jsonPatch(o),
      ),
    );
  }

  /** The namespace's VirtualServices (an HTTPRoute plan refuses to share its host with one). */
  async listVirtualServices(at: At): Promise<VirtualServiceObject[]> {
    const list: KubeList<VirtualServiceObject> = await this.run(at, 'list', 'virtualservices', null, (o) =>
      this.custom.listNamespacedCustomObject(
        { group: NETWORKING, plural: 'virtualservices', ...where(at) },
        o,
      ),
    );
    return list.items ?? [];
  }

  async listDestinationRules(at: At): Promise<DestinationRuleObject[]> {
    const list: KubeList<DestinationRuleObject> = await this.run(at, 'list', 'destinationrules', null, (o) =>
      this.custom.listNamespacedCustomObject(
        { group: NETWORKING, plural: 'destinationrules', ...where(at) },
        o,
      ),
    );
    return list.items ?? [];
  }

  getServiceEntry(at: At, name: string): Promise<ServiceEntryObject> {
    const args = { ...where(at), name };
    return this.run(at, 'get', 'serviceentries', name, (o) =>
      this.custom.getNamespacedCustomObject({ group: NETWORKING, plural: 'serviceentries', ...args }, o),
    );
  }

  /** Whether a WorkloadEntry exists (false on 404; other errors are thrown). */
  async hasWorkloadEntry(at: At, name: string): Promise<boolean> {
    const args = { ...where(at), name };
    const send: Send<unknown> = (o) =>
      this.custom.getNamespacedCustomObject({ group: NETWORKING, plural: 'workloadentries', ...args }, o);
    return this.run(at, 'get', 'workloadentries', name, send).then(
      () => true,
      (err: unknown) => (isNotFound(err) ? false : Promise.reject(err as Error)),
    );
  }

  /** Names of the WorkloadEntries matching a label selector (`k=v,k2=v2`). */
  async listWorkloadEntries(at: At, labelSelector: string): Promise<string[]> {
    const args = { ...where(at), labelSelector };
    const list: KubeList<{ metadata: { name: string } }> = await this.run(
      at,
      'list',
      'workloadentries',
      null,
      (o) =>
        this.custom.listNamespacedCustomObject({ group: NETWORKING, plural: 'workloadentries', ...args }, o),
    );
    return (list.items ?? []).map((i) => i.metadata.name);
  }

  readDeployment(at: At, name: string): Promise<k8s.V1Deployment> {
    const { namespace } = at;
    return this.run(at, 'get', 'deployments', name, (o) =>
      this.apps.readNamespacedDeployment({ namespace, name }, o),
    );
  }
}
