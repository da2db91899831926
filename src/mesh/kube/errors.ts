/** Readable Kubernetes API errors (Status message, reason, HTTP code) and how the retry loop classifies them. */
import * as k8s from '@kubernetes/client-node';

/**
 * A Kubernetes API error with the Status message, reason and HTTP code pulled out of the response body.
 * `code` is 0 when no HTTP answer arrived (connection refused, reset, or the call's deadline passed).
 */
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

/** reason of a KubeApiError raised because a call did not answer within its deadline. */
export const TIMEOUT_REASON = 'Timeout';

export function toKubeError(err: unknown, what: string): Error {
  if (err instanceof KubeApiError) return err;
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

export const isNotFound = (e: unknown): boolean => e instanceof KubeApiError && e.code === 404;
/** 409 from a stale resourceVersion, or 422 from a failed JSON-patch `test` precondition. */
export const isConflict = (e: unknown): boolean =>
  e instanceof KubeApiError &&
  (e.code === 409 || (e.code === 422 && /test|precondition|resourceVersion/i.test(e.message)));
/** No answer (network error or deadline), throttled, or a server error: worth another attempt. */
export const isRetryable = (e: unknown): boolean =>
  e instanceof KubeApiError && (e.code === 0 || e.code === 429 || e.code >= 500);
