/**
 * Which version of an API group to talk to. One discovery call (GET /apis, which needs no RBAC) answers every
 * group; it is cached, and forgotten when it fails so that the next call asks again.
 */
import * as k8s from '@kubernetes/client-node';
import { abortable, type KubeCalls } from './call.js';

export interface ServedGroup {
  name: string;
  versions: string[];
  preferred?: string;
}

/** What the caller wants from a group: the versions it supports, best first, and an explicit choice. */
export interface VersionRequest {
  group: string;
  supported: readonly string[];
  /** A version the user asked for; it must be served. */
  wanted?: string;
  /** The plan field that holds `wanted`, for the error message. */
  wantedField?: string;
  /** Appended to "not served" errors, e.g. "is Istio installed?". */
  hint?: string;
}

/** Thrown when the cluster serves no usable version of a group. */
export class ApiVersionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ApiVersionError';
  }
}

/**
 * The version to use: the wanted one if served; else the server's preferred version when supported; else the
 * first supported version the server serves. Pure.
 */
export function chooseVersion(served: ServedGroup | undefined, req: VersionRequest): string {
  if (!served)
    throw new ApiVersionError(`the cluster does not serve ${req.group}${req.hint ? `: ${req.hint}` : ''}`);
  const list = served.versions.join(', ');
  if (req.wanted) {
    if (!served.versions.includes(req.wanted))
      throw new ApiVersionError(
        `the cluster serves ${req.group} ${list}, not ${req.wanted}${req.wantedField ? ` (${req.wantedField})` : ''}`,
      );
    return req.wanted;
  }
  if (served.preferred && req.supported.includes(served.preferred)) return served.preferred;
  const found = req.supported.find((v) => served.versions.includes(v));
  if (!found)
    throw new ApiVersionError(
      `the cluster serves ${req.group} ${list}; meshshift supports ${req.supported.join(', ')}`,
    );
  return found;
}

/** The API groups a cluster serves, by name, from one discovery call (the engine and `meshshift doctor` share it). */
export async function fetchServedGroups(
  calls: KubeCalls,
  apis: k8s.ApisApi,
): Promise<Map<string, ServedGroup>> {
  const list = await calls.run('discover', 'apis', (o) => apis.getAPIVersions({}, o));
  const map = new Map<string, ServedGroup>();
  for (const g of list.groups) {
    const preferred = g.preferredVersion?.version;
    map.set(g.name, {
      name: g.name,
      versions: g.versions.map((v) => v.version),
      ...(preferred ? { preferred } : {}),
    });
  }
  return map;
}

export class ApiDiscovery {
  private readonly apis: k8s.ApisApi;
  private groups: Promise<Map<string, ServedGroup>> | undefined;

  constructor(
    kc: k8s.KubeConfig,
    private readonly calls: KubeCalls,
  ) {
    this.apis = kc.makeApiClient(k8s.ApisApi);
  }

  async version(req: VersionRequest, signal?: AbortSignal): Promise<string> {
    // The cached call is shared, so it runs under its deadline only; each caller waits under its own signal.
    return chooseVersion((await abortable(this.servedGroups(), signal)).get(req.group), req);
  }

  private servedGroups(): Promise<Map<string, ServedGroup>> {
    if (!this.groups) {
      const p = fetchServedGroups(this.calls, this.apis);
      p.catch(() => {
        if (this.groups === p) this.groups = undefined;
      });
      this.groups = p;
    }
    return this.groups;
  }
}
