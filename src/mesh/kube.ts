/** Kubernetes client plumbing: kubeconfig loading and readable errors from ApiException. */
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

/** A Kubernetes API error with the Status message, reason and HTTP code pulled out of the response body. */
export class KubeApiError extends Error {
  constructor(
    message: string,
    readonly code: number,
    readonly reason?: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

export function toKubeError(err: unknown, what: string): Error {
  if (err instanceof k8s.ApiException) {
    const code = Number(err.code);
    let reason: string | undefined;
    let message = `HTTP ${code}`;
    try {
      const body = (typeof err.body === 'string' ? JSON.parse(err.body) : err.body) as {
        message?: string;
        reason?: string;
      };
      if (body?.message) message = body.message;
      reason = body?.reason;
    } catch {
      // Not a Status body (a proxy error page, say): keep the HTTP code.
    }
    return new KubeApiError(`${what}: ${message}`, code, reason);
  }
  const e = err as { code?: string; message?: string; cause?: { code?: string } };
  const sys = e?.cause?.code ?? e?.code;
  return new KubeApiError(`${what}: ${sys ? `${sys} ` : ''}${e?.message ?? String(err)}`, 0);
}

export const isNotFound = (e: unknown) => e instanceof KubeApiError && e.code === 404;
/** 409 from a stale resourceVersion, or 422 from a failed JSON-patch `test` precondition. */
export const isConflict = (e: unknown) =>
  e instanceof KubeApiError &&
  (e.code === 409 || (e.code === 422 && /test|precondition|resourceVersion/i.test(e.message)));
export const isRetryable = (e: unknown) =>
  e instanceof KubeApiError && (e.code === 0 || e.code === 429 || e.code >= 500);
