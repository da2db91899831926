/**
 * Least privilege, checked against the code: the ClusterRole in deploy/base grants exactly the (group,
 * resource, verb) triples that src/ calls through @kubernetes/client-node — no more, no less — and those are
 * exactly the permissions `meshshift doctor` checks (src/doctor/permissions.ts).
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REQUIRED_PERMISSIONS } from '../../src/doctor/permissions.js';
import { listSourceFiles, scanSource, verbsByResource } from './api-calls.js';
import { readYamlObjects, renderKustomization, type RenderedObject } from './kustomize.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const DEPLOY = path.join(ROOT, 'deploy');

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

function clusterRole(): RenderedObject & { rules: PolicyRule[] } {
  const roles = renderKustomization(path.join(DEPLOY, 'base')).filter((o) => o.kind === 'ClusterRole');
  expect(roles.map((r) => r.metadata.name)).toEqual(['meshshift-migrator']);
  return roles[0] as RenderedObject & { rules: PolicyRule[] };
}

function granted(rules: PolicyRule[]): Record<string, string[]> {
  const triples: Array<{ group: string; resource: string; verb: string }> = [];
  for (const r of rules) {
    for (const group of r.apiGroups ?? [])
      for (const resource of r.resources ?? [])
        for (const verb of r.verbs ?? []) triples.push({ group, resource, verb });
  }
  return verbsByResource(triples);
}

describe('RBAC derived from the code', () => {
  // src/sim is the simulated cluster (demo and tests), not a client of the real API server the Deployment talks to.
  const SIM = path.join(ROOT, 'src', 'sim') + path.sep;
  const scan = scanSource(
    listSourceFiles(path.join(ROOT, 'src')).filter((f) => !f.startsWith(SIM)),
    ROOT,
  );

  it('every Kubernetes call in src/ is statically derivable', () => {
    expect(scan.unresolved, scan.unresolved.join('\n')).toEqual([]);
  });

  it('the scanner finds the calls the engine is known to make (guards against a scanner that finds nothing)', () => {
    const derived = verbsByResource(scan.calls);
    expect(derived['networking.istio.io|virtualservices']).toEqual(expect.arrayContaining(['get', 'patch']));
    expect(derived['apps|deployments']).toEqual(expect.arrayContaining(['get']));
    expect(derived['security.istio.io|peerauthentications']).toEqual(
      expect.arrayContaining(['get', 'patch']),
    );
    // Discovery (GET /apis) needs no rule: system:discovery allows it to every authenticated user.
    expect(scan.discovery.length).toBeGreaterThan(0);
  });

  it('the ClusterRole grants exactly the derived (group, resource, verb) set', () => {
    const role = clusterRole();
    const derived = verbsByResource(scan.calls);
    const where = scan.calls.map((c) => `${c.verb} ${c.resource}.${c.group || 'core'} at ${c.at}`).join('\n');
    expect(granted(role.rules), `calls found in src/:\n${where}`).toEqual(derived);
  });

  it('the permissions doctor checks are exactly the derived set and the ClusterRole', () => {
    const derived = verbsByResource(scan.calls);
    const listed = verbsByResource(REQUIRED_PERMISSIONS);
    const doubles = REQUIRED_PERMISSIONS.filter(
      (p, i) =>
        REQUIRED_PERMISSIONS.findIndex(
          (q) => q.group === p.group && q.resource === p.resource && q.verb === p.verb,
        ) !== i,
    );
    expect(doubles, 'listed twice in src/doctor/permissions.ts').toEqual([]);
    expect(listed, 'src/doctor/permissions.ts vs the calls found in src/').toEqual(derived);
    expect(listed, 'src/doctor/permissions.ts vs deploy/base/clusterrole.yaml').toEqual(
      granted(clusterRole().rules),
    );
  });

  it('the ClusterRole has no wildcards, resourceNames or nonResourceURLs', () => {
    for (const r of clusterRole().rules) {
      expect(r.nonResourceURLs).toBeUndefined();
      expect(r.resourceNames).toBeUndefined();
      for (const v of [...(r.apiGroups ?? []), ...(r.resources ?? []), ...(r.verbs ?? [])])
        expect(v).not.toContain('*');
    }
  });

  it('only the worker account is bound; the API account has no token and no binding', () => {
    const base = renderKustomization(path.join(DEPLOY, 'base'));
    const deployment = (name: string) =>
      base.find((o) => o.kind === 'Deployment' && o.metadata.name === name) as RenderedObject & {
        spec: { template: { spec: { serviceAccountName: string; automountServiceAccountToken?: boolean } } };
      };
    expect(deployment('meshshift-worker').spec.template.spec.serviceAccountName).toBe('meshshift-worker');
    const api = deployment('meshshift-api').spec.template.spec;
    expect(api.serviceAccountName).toBe('meshshift-api');
    expect(api.automountServiceAccountToken).toBe(false);

    const bindings = [
      ...renderKustomization(path.join(DEPLOY, 'cluster-wide')),
      ...readYamlObjects(path.join(DEPLOY, 'examples/productcatalogservice/cluster/rolebinding.yaml')),
    ];
    expect(bindings.map((b) => b.kind).sort()).toEqual(['ClusterRoleBinding', 'RoleBinding']);
    for (const b of bindings) {
      expect(b.roleRef).toEqual({
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'ClusterRole',
        name: 'meshshift-migrator',
      });
      expect(b.subjects).toEqual([
        { kind: 'ServiceAccount', name: 'meshshift-worker', namespace: 'meshshift' },
      ]);
    }
  });

  it('the scanner itself resolves constants, typed kinds, subresources and watch', () => {
    // A synthetic source through the same code path (guards the regexes against silent drift).
    const r = scanSource([path.join(import.meta.dirname, 'fixtures/k8s-calls.ts.txt')], ROOT);
    expect(r.unresolved).toHaveLength(1);
    expect(verbsByResource(r.calls)).toEqual({
      '|namespaces': ['get'],
      '|pods': ['list', 'watch'],
      'apps|deployments/status': ['update'],
      'coordination.k8s.io|leases': ['create', 'get'],
      'example.com|gadgets': ['watch'],
      'example.com|widgets': ['delete', 'get'],
    });
  });
});
