/** A request for a resource (collection, object or /status): list, watch, get, create, replace, patch, apply, delete. */
import type { ServerResponse } from 'node:http';
import { serverSideApply } from './apply.js';
import { coreEventField, CORE_EVENT_FIELDS, toCoreEvent } from './core-events.js';
import { resolve } from './discovery.js';
import { listReply } from './list.js';
import { served, type Ctx, type Reply, type Target } from './request.js';
import { MEDIA_APPLY_PATCH } from './resources.js';
import { errMethodNotAllowed, errPathNotFound } from './status.js';
import type { KubeStore } from './store.js';
import { toTable, wantsTable } from './table.js';
import { create, patch, remove, replace } from './writes.js';

export interface ResourceDeps {
  store: KubeStore;
  /** Turns the response into a watch stream. */
  watch(ctx: Ctx, res: ServerResponse, query: string, target: Target): void;
}

export function resourceRequest(
  deps: ResourceDeps,
  ctx: Ctx,
  res: ServerResponse,
  query: string,
  group: string,
  version: string,
  rest: readonly string[],
): Reply | undefined {
  const target = withView(deps.store, resolve(deps.store.types, group, version, rest));
  const { rt, name, subresource } = target;
  const isWatch = /^(true|1)$/i.test(ctx.params.get('watch') ?? '');
  if (target.view && ctx.method !== 'GET') throw errMethodNotAllowed();
  const one = (): Reply => {
    const obj = served(target, deps.store.current(target));
    const body = wantsTable(ctx.accept)
      ? toTable(target.view?.rt ?? rt, version, [obj], ctx.params, {
          resourceVersion: deps.store.resourceVersion,
        })
      : obj;
    return { code: 200, body };
  };

  if (name === undefined) {
    if (ctx.method === 'GET') {
      if (isWatch) {
        deps.watch(ctx, res, query, target);
        return undefined;
      }
      return { code: 200, body: listReply(deps.store, ctx, target) };
    }
    // Creating needs a namespace in the path for namespaced kinds (POST /apis/g/v/plural → 405).
    if (ctx.method === 'POST' && (!rt.namespaced || target.namespace !== undefined)) {
      return { code: 201, body: create(deps.store, ctx, target) };
    }
    throw errMethodNotAllowed();
  }

  if (subresource !== undefined && (subresource !== 'status' || !rt.statusSubresource))
    throw errPathNotFound();
  switch (ctx.method) {
    case 'GET':
      if (isWatch && subresource === undefined) {
        // Watching one object == watching the collection with a metadata.name field selector.
        const params = new URLSearchParams(ctx.params);
        params.set('fieldSelector', `metadata.name=${name}`);
        deps.watch({ ...ctx, params }, res, query, { ...target, name: undefined });
        return undefined;
      }
      return one();
    case 'PUT':
      return { code: 200, body: replace(deps.store, ctx, target) };
    case 'PATCH':
      return ctx.mediaType === MEDIA_APPLY_PATCH
        ? serverSideApply(deps.store, ctx, target)
        : { code: 200, body: patch(deps.store, ctx, target) };
    case 'DELETE':
      if (subresource !== undefined) throw errMethodNotAllowed();
      return { code: 200, body: remove(deps.store, ctx, target) };
    default:
      throw errMethodNotAllowed();
  }
}

/** A type served as a view of another store (core/v1 Events) reads that store through the view. */
function withView(store: KubeStore, target: Target): Target {
  const of = target.rt.viewOf;
  if (!of) return target;
  const storage = store.typeOrThrow(of.group, of.plural);
  const view = {
    rt: target.rt,
    render: toCoreEvent,
    fields: CORE_EVENT_FIELDS,
    fieldValue: coreEventField,
  };
  return { ...target, rt: storage, view };
}
