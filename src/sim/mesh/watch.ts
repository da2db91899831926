/** Where each route kind lives. */
const ROUTE_RESOURCE = {
  VirtualService: { group: 'networking.istio.io', plural: 'virtualservices' },
  HTTPRoute: { group: 'gateway.networking.k8s.io', plural: 'httproutes' },
} as const;

/**
 * Follows one VirtualService (or HTTPRoute) on a Kubernetes API server like istiod does: GET, then WATCH from its
 * resourceVersion; re-watch on a normal close, relist after 410 Expired or an error, back off on failures.
 */
import { performance } from 'node:perf_hooks';
import { CustomObjectsApi, Watch } from '@kubernetes/client-node';
import { isRecord } from './route-match.js';
import type { Router } from './routing.js';
import type { KubeRouting } from './types.js';

export function errorCode(err: unknown): number | undefined {
  if (!isRecord(err) && !(err instanceof Error)) return undefined;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}

export class RouteWatch {
  private watchController: AbortController | undefined;
  private watchStarting: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private resourceVersion: string | undefined;
  private needRelist = false;
  private backoffMs = 250;
  private readonly group: string;
  private readonly plural: string;
  private readonly version: string;
  private readonly api: CustomObjectsApi;
  private readonly watch: Watch;
  private readonly watchPath: string;

  constructor(
    private readonly r: KubeRouting,
    private readonly router: Router,
    private readonly isClosed: () => boolean,
  ) {
    const kind = r.kind ?? 'VirtualService';
    this.group = ROUTE_RESOURCE[kind].group;
    this.plural = ROUTE_RESOURCE[kind].plural;
    this.version = r.version ?? 'v1';
    this.api = r.kubeConfig.makeApiClient(CustomObjectsApi);
    this.watch = new Watch(r.kubeConfig);
    this.watchPath = `/apis/${this.group}/${this.version}/namespaces/${r.namespace}/${this.plural}`;
  }

  /** Reads the VirtualService once (throws when it cannot), then keeps watching in the background. */
  async start(): Promise<void> {
    await this.relist();
    void this.startWatch();
  }

  async stop(): Promise<void> {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.watchStarting !== undefined) await this.watchStarting.catch(() => undefined);
    this.watchController?.abort();
    this.watchController = undefined;
  }

  private apply(obj: unknown): void {
    if (!isRecord(obj) || !isRecord(obj.metadata)) return;
    if (obj.metadata.name !== this.r.name) return;
    if (typeof obj.metadata.resourceVersion === 'string') this.resourceVersion = obj.metadata.resourceVersion;
    if (this.plural === 'httproutes') this.router.setHttpRoute(obj);
    else this.router.setVirtualService(obj);
  }

  private async relist(): Promise<void> {
    try {
      const obj: unknown = await this.api.getNamespacedCustomObject({
        group: this.group,
        version: this.version,
        namespace: this.r.namespace,
        plural: this.plural,
        name: this.r.name,
      });
      this.apply(obj);
    } catch (err) {
      if (errorCode(err) !== 404) throw err;
      this.resourceVersion = undefined;
      this.router.clear();
    }
    this.needRelist = false;
  }

  private scheduleRetry(): void {
    if (this.isClosed() || this.retryTimer !== undefined) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, 2000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.startWatch();
    }, delay);
  }

  private onEvent(phase: string, obj: unknown): void {
    this.backoffMs = 250;
    if (phase === 'ADDED' || phase === 'MODIFIED') {
      this.apply(obj);
    } else if (phase === 'DELETED') {
      if (isRecord(obj) && isRecord(obj.metadata) && obj.metadata.name === this.r.name) {
        this.resourceVersion =
          typeof obj.metadata.resourceVersion === 'string' ? obj.metadata.resourceVersion : undefined;
        this.router.clear();
      }
    } else if (phase === 'BOOKMARK') {
      if (isRecord(obj) && isRecord(obj.metadata) && typeof obj.metadata.resourceVersion === 'string') {
        this.resourceVersion = obj.metadata.resourceVersion;
      }
    } else if (phase === 'ERROR') {
      // 410 Gone (resourceVersion too old) or any other error status: relist.
      this.needRelist = true;
    }
  }

  private async startWatch(): Promise<void> {
    if (this.isClosed()) return;
    try {
      if (this.needRelist) await this.relist();
    } catch {
      this.scheduleRetry();
      return;
    }
    if (this.isClosed()) return;
    const query: Record<string, string | number | boolean> = {
      fieldSelector: `metadata.name=${this.r.name}`,
      allowWatchBookmarks: true,
      timeoutSeconds: this.r.watchTimeoutSeconds ?? 300,
    };
    if (this.resourceVersion !== undefined) query.resourceVersion = this.resourceVersion;
    let gotDone = false;
    const startedAt = performance.now();
    const p = this.watch
      .watch(
        this.watchPath,
        query,
        (phase: string, obj: unknown) => this.onEvent(phase, obj),
        (err: unknown) => {
          gotDone = true;
          this.watchController = undefined;
          if (this.isClosed()) return;
          if (
            (err === null || err === undefined) &&
            !this.needRelist &&
            performance.now() - startedAt > 100
          ) {
            // Normal close (timeoutSeconds elapsed, server restart...): resume from resourceVersion.
            void this.startWatch();
            return;
          }
          // 410 Expired (as HTTP status or ERROR event), any other failure, or a watch that closed
          // right away: start over from a fresh GET after a back-off.
          if (err !== null && err !== undefined) this.needRelist = true;
          this.scheduleRetry();
        },
      )
      .then((c) => {
        if (this.isClosed() || gotDone) {
          c.abort();
          return;
        }
        this.watchController = c;
      })
      .catch(() => {
        if (!this.isClosed()) {
          this.needRelist = true;
          this.scheduleRetry();
        }
      });
    this.watchStarting = p;
    await p;
  }
}
