/**
 * The Kubernetes calls of the HTTPRoute path and of the ambient checks, each with its deadline and the caller's
 * AbortSignal. Group and plural are literals at every call so that test/deploy derives the ClusterRole from this
 * file.
 *
 *   get, patch httproutes.gateway.networking.k8s.io     get gateways.gateway.networking.k8s.io
 *   get services, namespaces
 */
import * as k8s from '@kubernetes/client-node';
import { jsonPatch, type KubeCalls, type RequestOptions } from './kube/call.js';
import type { JsonPatchOp } from './kube/guarded-patch.js';
import type { HttpRouteObject } from './http-route.js';

/** Where a call goes: namespace, the served version of the group it addresses, the caller's AbortSignal. */
export interface GatewayAt {
  namespace: string;
  version: string;
  signal?: AbortSignal;
}

export interface GatewayObject {
  metadata: { name: string; labels?: Record<string, string> };
  spec?: { gatewayClassName?: string };
}

/** Literals of this file, for the RBAC scanner (test/deploy/api-calls.ts). */
const GATEWAY = 'gateway.networking.k8s.io';

type Send<T> = (options: RequestOptions) => Promise<T>;

export class GatewayApi {
  private readonly custom: k8s.CustomObjectsApi;
  private readonly core: k8s.CoreV1Api;

  constructor(
    kc: k8s.KubeConfig,
    private readonly calls: KubeCalls,
  ) {
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.core = kc.makeApiClient(k8s.CoreV1Api);
  }

  private run<T>(
    at: { namespace: string; signal?: AbortSignal },
    verb: string,
    resource: string,
    send: Send<T>,
  ) {
    return this.calls.run(verb, `${resource}/${at.namespace}`, send, at.signal);
  }

  getHttpRoute(at: GatewayAt, name: string): Promise<HttpRouteObject> {
    const args = { version: at.version, namespace: at.namespace, name };
    return this.run(at, 'get', `httproutes/${name}`, (o) =>
      this.custom.getNamespacedCustomObject({ group: GATEWAY, plural: 'httproutes', ...args }, o),
    );
  }

  patchHttpRoute(at: GatewayAt, name: string, body: JsonPatchOp[]): Promise<HttpRouteObject> {
    const args = { version: at.version, namespace: at.namespace, name, body };
    return this.run(at, 'patch', `httproutes/${name}`, (o) =>
      this.custom.patchNamespacedCustomObject(
        { group: GATEWAY, plural: 'httproutes', ...args },
        jsonPatch(o),
      ),
    );
  }

  getGateway(at: GatewayAt, name: string): Promise<GatewayObject> {
    const args = { version: at.version, namespace: at.namespace, name };
    return this.run(at, 'get', `gateways/${name}`, (o) =>
      this.custom.getNamespacedCustomObject({ group: GATEWAY, plural: 'gateways', ...args }, o),
    );
  }

  readService(at: { namespace: string; signal?: AbortSignal }, name: string): Promise<k8s.V1Service> {
    return this.run(at, 'get', `services/${name}`, (o) =>
      this.core.readNamespacedService({ namespace: at.namespace, name }, o),
    );
  }

  readNamespace(at: { namespace: string; signal?: AbortSignal }): Promise<k8s.V1Namespace> {
    return this.run(at, 'get', 'namespaces', (o) => this.core.readNamespace({ name: at.namespace }, o));
  }
}
