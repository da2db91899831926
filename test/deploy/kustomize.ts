/**
 * A small kustomize-compatible renderer for the subset of kustomization.yaml that deploy/ uses:
 * `resources` (files and directories, recursively), `namespace`, `commonLabels`, `labels`
 * (includeSelectors / includeTemplates), `configMapGenerator` with `files` and `generatorOptions`
 * (disableNameSuffixHash must be true: we do not reproduce kustomize's hash). Any other field is an error, so
 * the renderer can never silently disagree with `kubectl kustomize`.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

export interface RenderedObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

interface LabelsEntry {
  pairs: Record<string, string>;
  includeSelectors?: boolean;
  includeTemplates?: boolean;
}

interface Kustomization {
  apiVersion?: string;
  kind?: string;
  resources?: string[];
  namespace?: string;
  commonLabels?: Record<string, string>;
  labels?: LabelsEntry[];
  generatorOptions?: { disableNameSuffixHash?: boolean };
  configMapGenerator?: Array<{
    name: string;
    files?: string[];
    options?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  }>;
}

const KNOWN = new Set([
  'apiVersion',
  'kind',
  'resources',
  'namespace',
  'commonLabels',
  'labels',
  'generatorOptions',
  'configMapGenerator',
]);

/** Kinds that are not namespaced (the ones deploy/ may contain). */
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'PersistentVolume',
  'StorageClass',
]);

/** Kinds whose pod template / selector kustomize's label transformer knows. */
const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job']);

export function readYamlObjects(file: string): RenderedObject[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  const out: RenderedObject[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) continue;
    out.push(value as RenderedObject);
  }
  return out;
}

export function readKustomization(dir: string): Kustomization {
  const file = path.join(dir, 'kustomization.yaml');
  const k = readYamlObjects(file)[0] as unknown as Kustomization;
  for (const key of Object.keys(k)) {
    if (!KNOWN.has(key)) throw new Error(`${file}: field "${key}" is not supported by the test renderer`);
  }
  return k;
}

function addLabels(target: Record<string, unknown>, key: string, labels: Record<string, string>): void {
  const current = (target[key] as Record<string, string> | undefined) ?? {};
  target[key] = { ...current, ...labels };
}

function applyLabels(
  obj: RenderedObject,
  labels: Record<string, string>,
  selectors: boolean,
  templates: boolean,
) {
  addLabels(obj.metadata as Record<string, unknown>, 'labels', labels);
  const spec = obj.spec as Record<string, unknown> | undefined;
  if (!spec) return;
  if (WORKLOADS.has(obj.kind)) {
    if (templates) {
      const template = (spec.template ??= {}) as Record<string, unknown>;
      addLabels((template.metadata ??= {}) as Record<string, unknown>, 'labels', labels);
    }
    if (selectors) addLabels((spec.selector ??= {}) as Record<string, unknown>, 'matchLabels', labels);
  }
  if (selectors && obj.kind === 'Service') addLabels(spec, 'selector', labels);
  if (selectors && obj.kind === 'PodDisruptionBudget')
    addLabels((spec.selector ??= {}) as Record<string, unknown>, 'matchLabels', labels);
}

/** Renders a kustomization directory into the objects `kubectl kustomize DIR` would print. */
export function renderKustomization(dir: string): RenderedObject[] {
  const k = readKustomization(dir);
  let objects: RenderedObject[] = [];
  for (const r of k.resources ?? []) {
    const p = path.join(dir, r);
    if (!existsSync(p)) throw new Error(`${dir}/kustomization.yaml: resource ${r} does not exist`);
    objects.push(...(statSync(p).isDirectory() ? renderKustomization(p) : readYamlObjects(p)));
  }
  for (const g of k.configMapGenerator ?? []) {
    if (!k.generatorOptions?.disableNameSuffixHash)
      throw new Error(`${dir}: configMapGenerator needs generatorOptions.disableNameSuffixHash: true here`);
    const data: Record<string, string> = {};
    for (const spec of g.files ?? []) {
      const [key, file] = spec.includes('=')
        ? (spec.split('=', 2) as [string, string])
        : [path.basename(spec), spec];
      data[key] = readFileSync(path.join(dir, file), 'utf8');
    }
    objects.push({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: g.name,
        ...(g.options?.labels ? { labels: { ...g.options.labels } } : {}),
        ...(g.options?.annotations ? { annotations: { ...g.options.annotations } } : {}),
      },
      data,
    });
  }
  objects = objects.map((o) => structuredClone(o));
  if (k.namespace) {
    for (const o of objects) {
      if (o.kind === 'Namespace') {
        if (o.metadata.name !== k.namespace)
          throw new Error(`${dir}: Namespace ${o.metadata.name} differs from namespace: ${k.namespace}`);
        continue;
      }
      if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
      // kustomize v5 (RoleBindingSubjects: defaultOnly): ServiceAccount subjects in "default" or none follow.
      if (o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding') {
        for (const s of (o.subjects as Array<{ kind: string; namespace?: string }> | undefined) ?? []) {
          if (s.kind === 'ServiceAccount' && (!s.namespace || s.namespace === 'default'))
            s.namespace = k.namespace;
        }
      }
    }
  }
  if (k.commonLabels) for (const o of objects) applyLabels(o, k.commonLabels, true, true);
  for (const l of k.labels ?? []) {
    for (const o of objects)
      applyLabels(o, l.pairs, l.includeSelectors ?? false, l.includeTemplates ?? false);
  }
  const seen = new Set<string>();
  for (const o of objects) {
    const id = `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    if (seen.has(id)) throw new Error(`${dir}: duplicate object ${id} (kustomize refuses this)`);
    seen.add(id);
  }
  return objects;
}
