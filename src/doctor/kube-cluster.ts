/** Is the Kubernetes API server reachable with these credentials, and which version is it? */
import * as k8s from '@kubernetes/client-node';
import { KubeCalls } from '../mesh/kube/call.js';
import { loadKubeConfig } from '../mesh/kube/config.js';
import { KubeApiError } from '../mesh/kube/errors.js';
import { errorText, type CheckResult, type DoctorOptions } from './types.js';

export interface KubeTarget {
  kc: k8s.KubeConfig;
  calls: KubeCalls;
  server: string;
}

/** Loads the kubeconfig; a result (✗) instead when there is none or the context does not exist. */
export function loadKube(o: DoctorOptions): KubeTarget | CheckResult {
  try {
    const kc = loadKubeConfig({
      ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}),
      ...(o.context ? { context: o.context } : {}),
    });
    return {
      kc,
      calls: new KubeCalls({ callTimeoutMs: o.timeoutMs }),
      server: kc.getCurrentCluster()!.server,
    };
  } catch (err) {
    return {
      id: 'kube.config',
      ok: false,
      message: `cannot load a kubeconfig: ${errorText(err)}`,
      fix: 'pass --kubeconfig <file> (and --context <name>), or set KUBECONFIG',
    };
  }
}

export async function checkCluster(t: KubeTarget): Promise<CheckResult> {
  const id = 'kube.cluster';
  try {
    const v = await t.calls.run('get', 'version', (o) => t.kc.makeApiClient(k8s.VersionApi).getCode({}, o));
    return { id, ok: true, message: `${t.server} answers: Kubernetes ${v.gitVersion}` };
  } catch (err) {
    const code = err instanceof KubeApiError ? err.code : 0;
    const fix =
      code === 401
        ? 'the credentials were refused: refresh the token or client certificate in the kubeconfig'
        : code === 0
          ? `nothing answered at ${t.server}: check the network/VPN and the cluster address in the kubeconfig context`
          : 'check the API server address and credentials of the kubeconfig context';
    return { id, ok: false, message: `${t.server}: ${errorText(err)}`, fix };
  }
}
