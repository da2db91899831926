/** Does this account hold every permission meshshift uses? One SelfSubjectAccessReview per (group, resource, verb). */
import * as k8s from '@kubernetes/client-node';
import type { KubeTarget } from './kube-cluster.js';
import { REQUIRED_PERMISSIONS, qualified, type Permission } from './permissions.js';
import { errorText, type CheckResult } from './types.js';

interface Answer {
  p: Permission;
  allowed: boolean;
  error?: string;
}

async function ask(t: KubeTarget, p: Permission, namespace: string | undefined): Promise<Answer> {
  const [resource, subresource] = p.resource.split('/');
  const body: k8s.V1SelfSubjectAccessReview = {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SelfSubjectAccessReview',
    spec: {
      resourceAttributes: {
        group: p.group,
        resource: resource!,
        verb: p.verb,
        ...(subresource ? { subresource } : {}),
        ...(namespace ? { namespace } : {}),
      },
    },
  };
  try {
    const review = await t.calls.run('create', 'selfsubjectaccessreviews', (o) =>
      t.kc.makeApiClient(k8s.AuthorizationV1Api).createSelfSubjectAccessReview({ body }, o),
    );
    return { p, allowed: review.status?.allowed === true };
  } catch (err) {
    return { p, allowed: false, error: errorText(err) };
  }
}

const describe = (a: Answer) => `${a.p.verb} ${qualified(a.p)}`;

export async function checkRbac(t: KubeTarget, namespace?: string): Promise<CheckResult> {
  const id = 'kube.rbac';
  const scope = namespace ? `in namespace ${namespace}` : 'cluster-wide';
  const answers = await Promise.all(REQUIRED_PERMISSIONS.map((p) => ask(t, p, namespace)));
  const failed = answers.filter((a) => a.error !== undefined);
  if (failed.length > 0)
    return {
      id,
      ok: false,
      message: `could not ask the cluster (SelfSubjectAccessReview): ${failed[0]!.error}`,
      fix: 'check the API server is reachable; SelfSubjectAccessReview is allowed to every authenticated user by system:basic-user',
    };
  const denied = answers.filter((a) => !a.allowed);
  if (denied.length === 0)
    return { id, ok: true, message: `all ${answers.length} permissions meshshift uses are granted ${scope}` };
  const subject = namespace
    ? `kubectl create rolebinding meshshift-migrator -n ${namespace} --clusterrole=meshshift-migrator --serviceaccount=<namespace>:<account>`
    : 'kubectl create clusterrolebinding meshshift-migrator --clusterrole=meshshift-migrator --serviceaccount=<namespace>:<account>';
  return {
    id,
    ok: false,
    message: `${denied.length} of ${answers.length} permissions denied ${scope}: ${denied.map((a) => `${describe(a)} (${a.p.why})`).join(', ')}`,
    fix: `apply deploy/base/clusterrole.yaml (ClusterRole meshshift-migrator) and bind it to the account meshshift runs as: ${subject}`,
  };
}
