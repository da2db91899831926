/**
 * Which Istio API versions the cluster serves (one discovery call, GET /apis, which needs no RBAC), and the one
 * meshshift would use — the same choice as the engine's (`chooseVersion`).
 */
import * as k8s from '@kubernetes/client-node';
import { chooseVersion, fetchServedGroups, type ServedGroup } from '../mesh/kube/discovery.js';
import type { KubeTarget } from './kube-cluster.js';
import { errorText, type CheckResult } from './types.js';

/** The versions the engine supports, best first (src/mesh/istio.ts, src/mesh/peer-authentication.ts). */
export const ISTIO_GROUPS = [
  {
    id: 'kube.istio-networking',
    group: 'networking.istio.io',
    supported: ['v1', 'v1beta1', 'v1alpha3'],
    fix: 'install Istio (≥ 1.22 serves networking.istio.io/v1) in this cluster, or pick the cluster that runs it with --context',
  },
  {
    id: 'kube.istio-security',
    group: 'security.istio.io',
    supported: ['v1', 'v1beta1'],
    fix: 'install Istio in this cluster: the mTLS step (PeerAuthentication PERMISSIVE → STRICT) needs security.istio.io',
  },
] as const;

/** Gateway API: needed only by HTTPRoute plans, so its absence is reported as skipped, not failed. */
export const GATEWAY_GROUP = {
  id: 'kube.gateway-api',
  group: 'gateway.networking.k8s.io',
  supported: ['v1'],
  fix: 'install the Gateway API CRDs (standard channel ≥ v1.0) for HTTPRoute plans',
} as const;

function gatewayCheck(served: ServedGroup | undefined): CheckResult {
  const g = GATEWAY_GROUP;
  if (!served)
    return {
      id: g.id,
      ok: true,
      skipped: true,
      message: `${g.group} is not served: HTTPRoute plans (spec.route.kind HTTPRoute) cannot run here; VirtualService plans are unaffected`,
    };
  try {
    const use = chooseVersion(served, { group: g.group, supported: g.supported });
    return {
      id: g.id,
      ok: true,
      message: `${g.group} served as ${served.versions.join(', ')}; HTTPRoute plans use ${use}`,
    };
  } catch (err) {
    return { id: g.id, ok: false, message: errorText(err), fix: g.fix };
  }
}

export function servedGroups(t: KubeTarget): Promise<Map<string, ServedGroup>> {
  return fetchServedGroups(t.calls, t.kc.makeApiClient(k8s.ApisApi));
}

export async function checkIstioApis(t: KubeTarget): Promise<CheckResult[]> {
  let groups: Map<string, ServedGroup>;
  try {
    groups = await servedGroups(t);
  } catch (err) {
    return [...ISTIO_GROUPS, GATEWAY_GROUP].map((g) => ({
      id: g.id,
      ok: false,
      message: `API discovery failed: ${errorText(err)}`,
      fix: 'check the kubeconfig context can reach the API server',
    }));
  }
  const istio = ISTIO_GROUPS.map((g): CheckResult => {
    const served = groups.get(g.group);
    try {
      const use = chooseVersion(served, { group: g.group, supported: g.supported });
      return {
        id: g.id,
        ok: true,
        message: `${g.group} served as ${served!.versions.join(', ')}; meshshift uses ${use}`,
      };
    } catch (err) {
      return { id: g.id, ok: false, message: errorText(err), fix: g.fix };
    }
  });
  return [...istio, gatewayCheck(groups.get(GATEWAY_GROUP.group))];
}
