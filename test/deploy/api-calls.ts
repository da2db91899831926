/**
 * Derives the Kubernetes API calls meshshift's source makes (group, resource, verb) by scanning src/**.ts for
 * @kubernetes/client-node calls. Used by rbac.test.ts to hold deploy/'s ClusterRole to exactly those.
 *
 * Recognised:
 *  - CustomObjectsApi: get/list/patch/replace/create/delete{Namespaced,Cluster}CustomObject[Status]({group, plural})
 *    where group/plural are string literals, `const X = '...'` of the same file, or such a constant imported by
 *    name from a relative module;
 *  - typed APIs: {read,list,patch,replace,create,delete}Namespaced<Kind>[Status|Scale], list<Kind>ForAllNamespaces,
 *    and the cluster-scoped {read,list,patch}Namespace / Node;
 *  - discovery (getAPIVersions, getAPIResources, getCode): no RBAC needed (system:discovery);
 *  - `watch: true` in a list call, or a Watch on a literal /apis path, adds the watch verb (a file that builds a
 *    Watch must spell its paths as literals, `/apis/<group>/<version>/[namespaces/${ns}/]<plural>`, where
 *    `${NAME}` of a known constant counts as its value).
 * Anything that talks to Kubernetes in a way the scanner cannot resolve is reported as `unresolved`, and the
 * test fails on it: new code must stay statically derivable (or this scanner must learn it).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

export interface ApiCall {
  group: string;
  resource: string;
  verb: string;
  /** file:line of the call. */
  at: string;
}

export interface ScanResult {
  calls: ApiCall[];
  discovery: string[];
  unresolved: string[];
}

const CUSTOM =
  /\.(get|list|patch|replace|create|delete)(Namespaced|Cluster)CustomObject(Status|Scale)?\s*\(/g;
const TYPED =
  /\.(read|list|patch|replace|create|delete|deleteCollection)Namespaced(?!CustomObject)([A-Z][A-Za-z]*?)(Status|Scale|Log)?\s*\(/g;
const ALL_NS = /\.list([A-Z][A-Za-z]*)ForAllNamespaces\s*\(/g;
/** Typed calls on cluster-scoped kinds: readNamespace, listNode … */
const CLUSTER_TYPED = /\.(read|list|patch)(Namespace|Node)(Status)?\s*\(/g;
const CLUSTER_KINDS: Record<string, string> = { Namespace: 'namespaces', Node: 'nodes' };
const DISCOVERY = /\.(getAPIVersions|getAPIResources|getCode)\s*\(/g;
/** Client-node surfaces whose calls cannot be resolved statically here. */
const OPAQUE = /\b(KubernetesObjectApi|makeInformer|\.listCustomObjectForAllNamespaces)/g;
const NEW_WATCH = /new\s+(?:k8s\.)?Watch\s*\(/g;
/** Literal watch paths in a file that builds a Watch: /apis/<group>/<version>/[namespaces/${ns}/]<plural>. */
const WATCH_PATH = /['"`]\/apis\/([a-z0-9.-]+)\/[a-z0-9]+\/(?:namespaces\/\$\{[^}]+\}\/)?([a-z]+)['"`]/g;

const VERB: Record<string, string> = {
  get: 'get',
  read: 'get',
  list: 'list',
  patch: 'patch',
  replace: 'update',
  create: 'create',
  delete: 'delete',
  deleteCollection: 'deletecollection',
};

/** Typed kinds → (group, plural). Extend when the code starts using another kind. */
export const KINDS: Record<string, { group: string; plural: string }> = {
  Deployment: { group: 'apps', plural: 'deployments' },
  StatefulSet: { group: 'apps', plural: 'statefulsets' },
  ReplicaSet: { group: 'apps', plural: 'replicasets' },
  Pod: { group: '', plural: 'pods' },
  Service: { group: '', plural: 'services' },
  Endpoints: { group: '', plural: 'endpoints' },
  ConfigMap: { group: '', plural: 'configmaps' },
  Secret: { group: '', plural: 'secrets' },
  Event: { group: '', plural: 'events' },
  ServiceAccount: { group: '', plural: 'serviceaccounts' },
  Lease: { group: 'coordination.k8s.io', plural: 'leases' },
};

export function listSourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const p = path.join(dir, entry);
    if (statSync(p).isDirectory()) out.push(...listSourceFiles(p));
    else if (p.endsWith('.ts') && !p.endsWith('.test.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out.sort();
}

/** Removes comments (keeps line breaks so positions map to the same lines). */
function stripComments(src: string): string {
  return src
    .replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, ' '))
    .replace(/(^|[^:'"`])\/\/[^\n]*/g, (m, p1: string) => p1 + ' '.repeat(m.length - p1.length));
}

/** The text between the `(` at `open` and its matching `)`. */
function argumentText(src: string, open: number): string {
  let depth = 0;
  for (let i = open; i < src.length; i++) {
    const c = src[i];
    if (c === '(') depth++;
    else if (c === ')') {
      depth--;
      if (depth === 0) return src.slice(open + 1, i);
    }
  }
  return src.slice(open + 1);
}

function localConstants(src: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of src.matchAll(/\bconst\s+([A-Za-z_$][\w$]*)\s*=\s*['"]([^'"]*)['"]/g)) out.set(m[1]!, m[2]!);
  return out;
}

/**
 * String constants a file can use: its own, and those it imports by name from a relative module of src/
 * (`import { CRD_GROUP, CRD_PLURAL as P } from './crd-schema.js'`), one level deep — so a name such as a CRD's
 * group is spelled once and every call that uses it stays derivable.
 */
function constants(src: string, file: string): Map<string, string> {
  const out = localConstants(src);
  for (const m of src.matchAll(
    /\bimport\s*(?:type\s*)?\{([^}]*)\}\s*from\s*['"](\.{1,2}\/[^'"]+)\.js['"]/g,
  )) {
    const from = path.resolve(path.dirname(file), `${m[2]!}.ts`);
    let theirs: Map<string, string>;
    try {
      theirs = localConstants(stripComments(readFileSync(from, 'utf8')));
    } catch {
      continue;
    }
    for (const spec of m[1]!.split(',')) {
      const [name, alias] = spec
        .replace(/^\s*type\s+/, '')
        .split(/\s+as\s+/)
        .map((x) => x.trim());
      const value = name ? theirs.get(name) : undefined;
      if (value !== undefined) out.set(alias || name!, value);
    }
  }
  return out;
}

/** Template literals' `${NAME}` replaced by known constants (a watch path built from the CRD's names). */
const withConstants = (src: string, consts: Map<string, string>): string =>
  src.replace(/\$\{([A-Za-z_$][\w$]*)\}/g, (whole, name: string) => consts.get(name) ?? whole);

function resolveValue(raw: string | undefined, consts: Map<string, string>): string | undefined {
  if (raw === undefined) return undefined;
  const v = raw.trim();
  const lit = /^['"]([^'"]*)['"]$/.exec(v);
  if (lit) return lit[1];
  if (/^[A-Za-z_$][\w$]*$/.test(v)) return consts.get(v);
  return undefined;
}

function property(args: string, name: string): string | undefined {
  const m = new RegExp(`\\b${name}\\s*:\\s*([^,}\\n]+)`).exec(args);
  return m?.[1];
}

export function scanSource(files: string[], root: string): ScanResult {
  const calls: ApiCall[] = [];
  const discovery: string[] = [];
  const unresolved: string[] = [];
  for (const file of files) {
    const raw = stripComments(readFileSync(file, 'utf8'));
    const consts = constants(raw, file);
    const src = withConstants(raw, consts);
    const rel = path.relative(root, file);
    const at = (index: number) => `${rel}:${src.slice(0, index).split('\n').length}`;

    for (const m of src.matchAll(CUSTOM)) {
      const open = m.index + m[0].length - 1;
      const args = argumentText(src, open);
      const group = resolveValue(property(args, 'group'), consts);
      const plural = resolveValue(property(args, 'plural'), consts);
      if (group === undefined || plural === undefined) {
        unresolved.push(
          `${at(m.index)}: ${m[0].trim()} with group/plural that are not literals or constants`,
        );
        continue;
      }
      const sub = m[3] ? `/${m[3].toLowerCase()}` : '';
      calls.push({ group, resource: plural + sub, verb: VERB[m[1]!]!, at: at(m.index) });
      if (m[1] === 'list' && /\bwatch\s*:\s*true\b/.test(args))
        calls.push({ group, resource: plural + sub, verb: 'watch', at: at(m.index) });
    }
    for (const m of src.matchAll(TYPED)) {
      const kind = KINDS[m[2]!];
      if (!kind) {
        unresolved.push(
          `${at(m.index)}: ${m[0].trim()}: kind ${m[2]} is not in KINDS (test/deploy/api-calls.ts)`,
        );
        continue;
      }
      const sub = m[3] ? `/${m[3].toLowerCase()}` : '';
      calls.push({ group: kind.group, resource: kind.plural + sub, verb: VERB[m[1]!]!, at: at(m.index) });
      const args = argumentText(src, m.index + m[0].length - 1);
      if (m[1] === 'list' && /\bwatch\s*:\s*true\b/.test(args))
        calls.push({ group: kind.group, resource: kind.plural + sub, verb: 'watch', at: at(m.index) });
    }
    for (const m of src.matchAll(ALL_NS)) {
      const kind = KINDS[m[1]!];
      if (!kind) unresolved.push(`${at(m.index)}: ${m[0].trim()}: kind ${m[1]} is not in KINDS`);
      else calls.push({ group: kind.group, resource: kind.plural, verb: 'list', at: at(m.index) });
    }
    for (const m of src.matchAll(CLUSTER_TYPED)) {
      const sub = m[3] ? `/${m[3].toLowerCase()}` : '';
      calls.push({ group: '', resource: CLUSTER_KINDS[m[2]!]! + sub, verb: VERB[m[1]!]!, at: at(m.index) });
    }
    for (const m of src.matchAll(DISCOVERY)) discovery.push(`${at(m.index)}: ${m[1]}`);
    const watchPaths = [...src.matchAll(WATCH_PATH)];
    for (const m of src.matchAll(NEW_WATCH)) {
      if (watchPaths.length === 0)
        unresolved.push(`${at(m.index)}: Watch without a literal /apis/<group>/<version>/<plural> path`);
    }
    if (NEW_WATCH.test(src)) {
      for (const w of watchPaths)
        calls.push({ group: w[1]!, resource: w[2]!, verb: 'watch', at: at(w.index) });
    }
    NEW_WATCH.lastIndex = 0;
    for (const m of src.matchAll(OPAQUE)) {
      unresolved.push(`${at(m.index)}: ${m[1]} (cannot derive group/resource/verb statically)`);
    }
  }
  return { calls, discovery, unresolved };
}

/** `group|resource` → sorted verbs. */
export function verbsByResource(
  calls: ReadonlyArray<Pick<ApiCall, 'group' | 'resource' | 'verb'>>,
): Record<string, string[]> {
  const map = new Map<string, Set<string>>();
  for (const c of calls) {
    const key = `${c.group}|${c.resource}`;
    let s = map.get(key);
    if (!s) map.set(key, (s = new Set()));
    s.add(c.verb);
  }
  return Object.fromEntries(
    [...map.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, [...v].sort()]),
  );
}
