/** LIST: label and field selectors, limit/continue paging, kube's list shape (or a Table when one is asked for). */
import { type UnknownRecord } from './json.js';
import { served, type Ctx, type Target } from './request.js';
import { groupVersion } from './resources.js';
import { fieldsMatch, labelsMatch, parseFieldSelector, parseLabelSelector } from './selectors.js';
import { errBadRequest } from './status.js';
import type { KubeStore } from './store.js';
import { toTable, wantsTable } from './table.js';

export function listReply(store: KubeStore, ctx: Ctx, target: Target): UnknownRecord {
  const { view, version } = target;
  const rt = view?.rt ?? target.rt;
  const labels = parseLabelSelector(ctx.params.get('labelSelector') ?? '');
  const fields = parseFieldSelector(ctx.params.get('fieldSelector') ?? '', view?.fields);
  let items = store
    .select(target.rt, target.namespace)
    .map((o) => served(target, o))
    .filter((o) => labelsMatch(labels, o.metadata.labels) && fieldsMatch(fields, o, view?.fieldValue));

  // limit/continue paging; the token is just the offset into the (sorted) result.
  const metadata: UnknownRecord = { resourceVersion: store.resourceVersion };
  const cont = ctx.params.get('continue');
  let offset = 0;
  if (cont) {
    const decoded = Number(Buffer.from(cont, 'base64url').toString('utf8'));
    if (!Number.isInteger(decoded) || decoded < 0)
      throw errBadRequest(`invalid continue token ${JSON.stringify(cont)}`);
    offset = decoded;
  }
  const limit = Number(ctx.params.get('limit') ?? '0');
  items = items.slice(offset);
  if (Number.isInteger(limit) && limit > 0 && items.length > limit) {
    metadata.continue = Buffer.from(String(offset + limit), 'utf8').toString('base64url');
    metadata.remainingItemCount = items.length - limit;
    items = items.slice(0, limit);
  }
  if (wantsTable(ctx.accept)) return toTable(rt, version, items, ctx.params, metadata);

  return {
    apiVersion: groupVersion(rt.group, version),
    kind: `${rt.kind}List`,
    metadata,
    items: items.map((o) => {
      const item: UnknownRecord = o;
      if (rt.builtin) {
        // Built-in list items come without apiVersion/kind from a real apiserver.
        delete item.apiVersion;
        delete item.kind;
      }
      return item;
    }),
  };
}
