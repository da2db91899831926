/**
 * List + watch of MigrationPlans (one stream per configured namespace, or cluster-wide), as an informer does it:
 * list to get a resourceVersion, watch from there, re-watch on a normal close, relist on 410 Gone (history
 * compacted) or any error, and relist every `resyncMs` anyway. Keeps a cache of the objects it saw and calls
 * `onChange(key)` for every change (and for every object after a relist).
 */
import * as k8s from '@kubernetes/client-node';
import type { Logger } from '../log/logger.js';
import { toKubeError } from '../mesh/kube/errors.js';
import { CRD_GROUP as GROUP, CRD_KIND, CRD_PLURAL as PLURAL, CRD_VERSION } from './crd-schema.js';
import type { MigrationPlanObject } from './types.js';

export const keyOf = (o: { metadata: { namespace?: string; name: string } }): string =>
  `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

export interface PlanWatchOptions {
  /** Namespaces to watch; empty = all namespaces. */
  namespaces: readonly string[];
  resyncMs: number;
  logger: Logger;
  onChange(key: string): void;
}

export class PlanWatch {
  readonly cache = new Map<string, MigrationPlanObject>();
  private readonly api: k8s.CustomObjectsApi;
  private readonly watcher: k8s.Watch;
  private readonly aborts = new Set<AbortController>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private failures = 0;
  /** Lists completed so far (a relist after 410 adds one). */
  lists = 0;

  constructor(
    kc: k8s.KubeConfig,
    private readonly o: PlanWatchOptions,
  ) {
    this.api = kc.makeApiClient(k8s.CustomObjectsApi);
    this.watcher = new k8s.Watch(kc);
  }

  start(): void {
    for (const ns of this.o.namespaces.length ? this.o.namespaces : [undefined]) void this.relist(ns);
  }

  stop(): void {
    this.stopped = true;
    for (const a of this.aborts) a.abort();
    for (const t of this.timers) clearTimeout(t);
  }

  /** Replaces a cached object with a newer one the controller itself just wrote. */
  remember(obj: MigrationPlanObject): void {
    const key = keyOf(obj);
    const prev = this.cache.get(key);
    if (!prev || Number(prev.metadata.resourceVersion) < Number(obj.metadata.resourceVersion))
      this.cache.set(key, obj);
  }

  forget(key: string): void {
    this.cache.delete(key);
  }

  private later(fn: () => void, ms: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(t);
  }

  private async list(ns: string | undefined): Promise<{ items: MigrationPlanObject[]; rv: string }> {
    const res = (
      ns
        ? await this.api.listNamespacedCustomObject({
            group: GROUP,
            version: CRD_VERSION,
            namespace: ns,
            plural: PLURAL,
          })
        : await this.api.listClusterCustomObject({ group: GROUP, version: CRD_VERSION, plural: PLURAL })
    ) as { items: MigrationPlanObject[]; metadata: { resourceVersion: string } };
    return { items: res.items, rv: res.metadata.resourceVersion };
  }

  private async relist(ns: string | undefined): Promise<void> {
    if (this.stopped) return;
    let listed: { items: MigrationPlanObject[]; rv: string };
    try {
      listed = await this.list(ns);
    } catch (err) {
      // Backs off to a minute (e.g. the CRD is not installed yet, or RBAC is missing).
      this.failures++;
      const waitMs = Math.min(60_000, 1000 * 2 ** Math.min(6, this.failures));
      this.o.logger.warn(
        { err: toKubeError(err, 'list MigrationPlans').message, namespace: ns, retryInMs: waitMs },
        'list failed; retrying',
      );
      this.later(() => void this.relist(ns), waitMs);
      return;
    }
    this.failures = 0;
    this.lists++;
    const seen = new Set<string>();
    for (const item of listed.items) {
      item.apiVersion ??= `${GROUP}/${CRD_VERSION}`;
      item.kind ??= CRD_KIND;
      seen.add(keyOf(item));
      this.cache.set(keyOf(item), item);
    }
    for (const key of [...this.cache.keys()]) {
      if ((ns === undefined || key.startsWith(`${ns}/`)) && !seen.has(key)) this.cache.delete(key);
    }
    for (const key of this.cache.keys())
      if (ns === undefined || key.startsWith(`${ns}/`)) this.o.onChange(key);
    const generation = this.lists;
    this.later(() => {
      if (this.lists === generation) void this.relist(ns); // periodic resync
    }, this.o.resyncMs);
    void this.watch(ns, listed.rv, generation);
  }

  private async watch(ns: string | undefined, rv: string, generation: number): Promise<void> {
    if (this.stopped) return;
    let lastRv = rv;
    let gone = false;
    const path = ns
      ? `/apis/${GROUP}/${CRD_VERSION}/namespaces/${ns}/${PLURAL}`
      : `/apis/${GROUP}/${CRD_VERSION}/${PLURAL}`;
    const onEvent = (type: string, obj: MigrationPlanObject & { code?: number }): void => {
      if (type === 'ERROR') {
        gone = obj.code === 410;
        return;
      }
      if (type === 'BOOKMARK') {
        lastRv = obj.metadata.resourceVersion ?? lastRv;
        return;
      }
      lastRv = obj.metadata.resourceVersion ?? lastRv;
      const key = keyOf(obj);
      if (type === 'DELETED') this.cache.delete(key);
      else this.cache.set(key, obj);
      this.o.onChange(key);
    };
    let abort: AbortController | undefined;
    const onDone = (err: unknown): void => {
      if (abort) this.aborts.delete(abort);
      if (this.stopped || this.lists !== generation) return;
      if (gone || err) {
        if (err)
          this.o.logger.warn({ err: String((err as Error).message ?? err) }, 'watch failed; relisting');
        this.later(() => void this.relist(ns), gone ? 0 : 1000);
      } else {
        void this.watch(ns, lastRv, generation);
      }
    };
    try {
      abort = await this.watcher.watch(
        path,
        { resourceVersion: lastRv, allowWatchBookmarks: true },
        onEvent,
        onDone,
      );
      this.aborts.add(abort);
    } catch (err) {
      onDone(err);
    }
  }
}
