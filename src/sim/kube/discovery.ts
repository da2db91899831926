/** API discovery (/api, /apis, APIGroup, APIResourceList) and resolving a resource path to its target. */
import type { UnknownRecord } from './json.js';
import type { Target } from './request.js';
import { ALL_VERBS, groupVersion, type ResourceType } from './resources.js';
import { errPathNotFound } from './status.js';

/** Non-core API groups → served versions (first = preferred), in discovery order. */
export type Groups = ReadonlyMap<string, readonly string[]>;

export function groupsOf(types: readonly ResourceType[]): Map<string, readonly string[]> {
  const groups = new Map<string, readonly string[]>();
  for (const rt of types) {
    if (rt.group !== '' && !groups.has(rt.group)) groups.set(rt.group, rt.versions);
  }
  return groups;
}

export function apiGroup(groups: Groups, group: string): UnknownRecord {
  const versions = (groups.get(group) ?? []).map((v) => ({
    groupVersion: `${group}/${v}`,
    version: v,
  }));
  return { name: group, versions, preferredVersion: versions[0] };
}

export function resourceList(types: readonly ResourceType[], group: string, version: string): UnknownRecord {
  const resources: UnknownRecord[] = [];
  for (const rt of types.filter((t) => t.group === group && t.versions.includes(version))) {
    resources.push({
      name: rt.plural,
      singularName: rt.singular,
      namespaced: rt.namespaced,
      kind: rt.kind,
      verbs: rt.verbs ?? ALL_VERBS,
      ...(rt.crd && rt.crd.categories.length > 0 ? { categories: rt.crd.categories } : {}),
      ...(rt.shortNames.length > 0 ? { shortNames: rt.shortNames } : {}),
    });
    if (rt.statusSubresource && !rt.viewOf) {
      resources.push({
        name: `${rt.plural}/status`,
        singularName: '',
        namespaced: rt.namespaced,
        kind: rt.kind,
        verbs: ['get', 'patch', 'update'],
      });
    }
  }
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: groupVersion(group, version),
    resources,
  };
}

/** Resolves `rest` (the path after /api/v1 or /apis/{group}/{version}) to a resource target. */
export function resolve(
  types: readonly ResourceType[],
  group: string,
  version: string,
  rest: readonly string[],
): Target {
  const typeFor = (plural: string | undefined): ResourceType | undefined =>
    types.find((t) => t.group === group && t.plural === plural && t.versions.includes(version));
  const [p0, p1, p2, p3, p4] = rest;
  // /namespaces/{ns}/{plural}[/{name}[/{sub}]]
  if (p0 === 'namespaces' && rest.length >= 3 && p1 !== undefined) {
    const rt = typeFor(p2);
    if (rt?.namespaced && rest.length <= 5) {
      const target: Target = { rt, version, namespace: p1 };
      if (p3 !== undefined) target.name = p3;
      if (p4 !== undefined) target.subresource = p4;
      return target;
    }
  }
  // /{plural}[/{name}[/{sub}]]: cluster-wide list of a namespaced kind, or a cluster-scoped kind.
  const rt = typeFor(p0);
  if (rt && rest.length === 1) return { rt, version };
  if (rt && !rt.namespaced && rest.length <= 3 && p1 !== undefined) {
    const target: Target = { rt, version, name: p1 };
    if (p2 !== undefined) target.subresource = p2;
    return target;
  }
  throw errPathNotFound();
}
