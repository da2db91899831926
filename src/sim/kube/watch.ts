/**
 * Watches: an event history for resuming from a resourceVersion (410 Expired once compacted away), live delivery
 * to every open stream, and MODIFIED events translated into ADDED/DELETED across a selector boundary, as kube does.
 */
import type { ServerResponse } from 'node:http';
import { jsonClone } from './json.js';
import { served, type Ctx, type Target, type View } from './request.js';
import { MEDIA_JSON, type ResourceType } from './resources.js';
import {
  fieldsMatch,
  labelsMatch,
  parseFieldSelector,
  parseLabelSelector,
  type FieldRequirement,
  type LabelRequirement,
} from './selectors.js';
import { errBadRequest } from './status.js';
import { toTable, wantsTable } from './table.js';
import type { KubeObject } from './types.js';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

interface StoredEvent {
  rv: number;
  type: EventType;
  rt: ResourceType;
  object: KubeObject;
  /** The state before a MODIFIED event (lets label-filtered watches synthesise ADDED/DELETED). */
  previous?: KubeObject;
}

interface Watcher {
  rt: ResourceType;
  version: string;
  namespace?: string;
  labels: LabelRequirement[];
  fields: FieldRequirement[];
  res: ServerResponse;
  timer?: NodeJS.Timeout;
  /** The stored object as this watch serves it (another API's view, a one-row Table). */
  render: (obj: KubeObject) => unknown;
  view?: View;
}

export class WatchHub {
  private readonly history: StoredEvent[] = [];
  private readonly watchers = new Set<Watcher>();
  /** resourceVersion of the newest event dropped from history (0 = nothing dropped yet). */
  private compactedRv = 0;

  /** `historySize`: watch events kept for resuming a watch from a resourceVersion. */
  constructor(private readonly historySize: number) {}

  emit(rv: number, type: EventType, rt: ResourceType, object: KubeObject, previous?: KubeObject): void {
    const event: StoredEvent = { rv, type, rt, object: jsonClone(object) };
    if (previous) event.previous = jsonClone(previous);
    this.history.push(event);
    while (this.history.length > this.historySize) {
      const dropped = this.history.shift();
      if (dropped) this.compactedRv = dropped.rv;
    }
    for (const w of this.watchers) this.deliver(w, event);
  }

  /**
   * Turns the response into a watch stream. Validates everything before committing to a 200 stream;
   * `accepted` is called once the 200 is decided. `current` lists the objects for a watch without resourceVersion.
   */
  serve(
    ctx: Ctx,
    res: ServerResponse,
    target: Target,
    current: () => KubeObject[],
    accepted: () => void,
  ): void {
    const labels = parseLabelSelector(ctx.params.get('labelSelector') ?? '');
    const fields = parseFieldSelector(ctx.params.get('fieldSelector') ?? '', target.view?.fields);
    const rvParam = ctx.params.get('resourceVersion') ?? '';
    let since: number | undefined;
    if (rvParam !== '' && rvParam !== '0') {
      since = Number(rvParam);
      if (!Number.isInteger(since) || since < 0) {
        throw errBadRequest(`invalid resource version: ${JSON.stringify(rvParam)}`);
      }
    }
    const timeoutSeconds = Number(ctx.params.get('timeoutSeconds') ?? '0');

    accepted();
    res.writeHead(200, {
      'Content-Type': MEDIA_JSON,
      'Transfer-Encoding': 'chunked',
      'Cache-Control': 'no-cache, private',
    });
    res.flushHeaders();

    const table = wantsTable(ctx.accept);
    const servedRt = target.view?.rt ?? target.rt;
    const render = (obj: KubeObject): unknown => {
      const shown = served(target, obj);
      return table ? toTable(servedRt, target.version, [shown], ctx.params, {}) : shown;
    };
    const w: Watcher = { rt: target.rt, version: target.version, labels, fields, res, render };
    if (target.namespace !== undefined) w.namespace = target.namespace;
    if (target.view) w.view = target.view;

    if (since !== undefined && since < this.compactedRv) {
      // The events after `since` are gone: tell the client to relist, as the watch cache does.
      this.writeEvent(w, 'ERROR', {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: `too old resource version: ${since} (${this.compactedRv})`,
        reason: 'Expired',
        code: 410,
      });
      res.end();
      return;
    }

    if (since === undefined) {
      // No (or "0") resourceVersion: synthetic ADDED for the current state, then live events.
      for (const obj of current()) {
        if (this.watchMatches(w, obj)) this.writeEvent(w, 'ADDED', obj);
      }
    } else {
      for (const e of this.history) if (e.rv > since) this.deliver(w, e);
    }

    this.watchers.add(w);
    if (Number.isFinite(timeoutSeconds) && timeoutSeconds > 0) {
      w.timer = setTimeout(() => this.endWatch(w), timeoutSeconds * 1000);
    }
    res.on('close', () => this.endWatch(w));
  }

  closeAll(): void {
    for (const w of [...this.watchers]) this.endWatch(w);
  }

  private watchMatches(w: Watcher, obj: KubeObject): boolean {
    if (w.namespace !== undefined && w.rt.namespaced && obj.metadata.namespace !== w.namespace) return false;
    const shown = w.view ? w.view.render(obj) : obj;
    return labelsMatch(w.labels, obj.metadata.labels) && fieldsMatch(w.fields, shown, w.view?.fieldValue);
  }

  /** Sends one event to one watcher, translating MODIFIED across a selector boundary into ADDED/DELETED. */
  private deliver(w: Watcher, e: StoredEvent): void {
    if (e.rt !== w.rt) return;
    const now = this.watchMatches(w, e.object);
    if (e.type !== 'MODIFIED') {
      if (now) this.writeEvent(w, e.type, e.object);
      return;
    }
    const before = e.previous !== undefined && this.watchMatches(w, e.previous);
    if (now) this.writeEvent(w, before ? 'MODIFIED' : 'ADDED', e.object);
    else if (before && e.previous) {
      const last = jsonClone(e.previous);
      last.metadata.resourceVersion = e.object.metadata.resourceVersion;
      this.writeEvent(w, 'DELETED', last);
    }
  }

  private writeEvent(w: Watcher, type: EventType | 'ERROR', object: unknown): void {
    if (w.res.writableEnded || w.res.destroyed) return;
    const payload = type === 'ERROR' ? object : w.render(object as KubeObject);
    w.res.write(`${JSON.stringify({ type, object: payload })}\n`);
  }

  private endWatch(w: Watcher): void {
    if (w.timer) clearTimeout(w.timer);
    this.watchers.delete(w);
    if (!w.res.writableEnded) w.res.end();
  }
}
