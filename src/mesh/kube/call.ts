/**
 * One Kubernetes call with a deadline and cancellation. @kubernetes/client-node 1.x sends requests through
 * node-fetch with the RequestContext's AbortSignal, so a per-request middleware that sets the signal makes an
 * abort (or the deadline) close the connection: the API server sees the client go away instead of a request
 * that lives on after its caller gave up.
 */
import * as k8s from '@kubernetes/client-node';
import { KubeApiError, TIMEOUT_REASON, toKubeError } from './errors.js';

export interface KubeCallInfo {
  verb: string;
  resource: string;
  ms: number;
  ok: boolean;
  code?: number;
}

export interface KubeCallOptions {
  /** Deadline of one Kubernetes call, request and response body, in ms. Default 10 s. */
  callTimeoutMs?: number;
  /** Called after every Kubernetes call (for metrics and logs). */
  onCall?: (info: KubeCallInfo) => void;
}

export const DEFAULT_CALL_TIMEOUT_MS = 10_000;

/** Per-request options of a client-node API method. */
export type RequestOptions = k8s.ConfigurationOptions<k8s.ObservableMiddleware>;

/** Request options that make client-node send the request with `signal`. */
export function signalOptions(signal: AbortSignal): RequestOptions {
  const middleware: k8s.ObservableMiddleware = {
    pre: (ctx) => {
      ctx.setSignal(signal);
      return new k8s.Observable(Promise.resolve(ctx));
    },
    post: (res) => new k8s.Observable(Promise.resolve(res)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' };
}

/** The same options, sending the body as a JSON patch. */
export const jsonPatch = (options: RequestOptions): RequestOptions =>
  k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch, options);

/** Waits for `p`, or rejects with the signal's reason as soon as it aborts (`p` itself is not cancelled). */
export function abortable<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export class KubeCalls {
  readonly timeoutMs: number;

  constructor(private readonly opts: KubeCallOptions = {}) {
    const ms = opts.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    if (!Number.isFinite(ms) || ms <= 0)
      throw new RangeError(`callTimeoutMs must be a positive number of milliseconds, got ${ms}`);
    this.timeoutMs = ms;
  }

  /**
   * Runs `send` with request options carrying an AbortSignal that fires when `signal` aborts or the deadline
   * passes. A deadline becomes a retryable KubeApiError (code 0, reason Timeout); an abort rethrows the
   * signal's reason. Either way the request is cancelled, not left running.
   */
  async run<T>(
    verb: string,
    resource: string,
    send: (options: RequestOptions) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    signal?.throwIfAborted();
    const what = `${verb} ${resource}`;
    const started = performance.now();
    const controller = new AbortController();
    const timer = setTimeout(() => {
      const seconds = +(this.timeoutMs / 1000).toFixed(3);
      const msg = `${what}: no answer within ${seconds} s (callTimeoutMs ${this.timeoutMs})`;
      controller.abort(new KubeApiError(msg, 0, TIMEOUT_REASON));
    }, this.timeoutMs);
    const forward = () => controller.abort(signal?.reason);
    signal?.addEventListener('abort', forward, { once: true });
    // Settles with the abort even if a response body were still streaming.
    const aborted = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason as Error), {
        once: true,
      });
    });
    try {
      const out = await Promise.race([send(signalOptions(controller.signal)), aborted]);
      this.report(verb, resource, started, true);
      return out;
    } catch (err) {
      const e = controller.signal.aborted ? (controller.signal.reason as Error) : toKubeError(err, what);
      this.report(verb, resource, started, false, e instanceof KubeApiError ? e.code : 0);
      throw e;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', forward);
    }
  }

  private report(verb: string, resource: string, started: number, ok: boolean, code?: number) {
    this.opts.onCall?.({
      verb,
      resource,
      ms: performance.now() - started,
      ok,
      ...(code !== undefined ? { code } : {}),
    });
  }
}
