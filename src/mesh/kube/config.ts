/** Loading a kubeconfig (file, $KUBECONFIG, ~/.kube/config or in-cluster) with errors that say what to pass. */
import * as k8s from '@kubernetes/client-node';

export interface KubeConnectionOptions {
  /** Path to a kubeconfig file; default: $KUBECONFIG, ~/.kube/config, or in-cluster service account. */
  kubeconfig?: string;
  context?: string;
}

export function loadKubeConfig(opts: KubeConnectionOptions = {}): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
  else kc.loadFromDefault();
  if (opts.context) {
    if (!kc.getContexts().some((c) => c.name === opts.context)) {
      throw new Error(
        `kubeconfig has no context "${opts.context}" (contexts: ${
          kc
            .getContexts()
            .map((c) => c.name)
            .join(', ') || 'none'
        })`,
      );
    }
    kc.setCurrentContext(opts.context);
  }
  if (!kc.getCurrentCluster())
    throw new Error('no Kubernetes cluster configured: pass --kubeconfig or set KUBECONFIG');
  return kc;
}
