/**
 * `authorization.k8s.io/v1 selfsubjectaccessreviews`: "may I do this?" answered from configurable grants and
 * denials. Strict like kube-apiserver: POST only (create), a JSON SelfSubjectAccessReview body, and exactly one of
 * `spec.resourceAttributes` / `spec.nonResourceAttributes` (else 422 Invalid). Nothing is stored.
 */
import type { UnknownRecord } from './json.js';
import type { Ctx, Reply } from './request.js';
import { KubeStatusError, errMethodNotAllowed, errPathNotFound } from './status.js';
import type { AccessPolicy, AccessRule } from './types.js';

export const AUTHORIZATION_GROUP = 'authorization.k8s.io';
const KIND = 'SelfSubjectAccessReview';
const PLURAL = 'selfsubjectaccessreviews';

export interface ResourceAttributes {
  group: string;
  resource: string;
  verb: string;
  namespace: string;
}

const matches = (r: AccessRule, a: ResourceAttributes): boolean =>
  (r.group === undefined || r.group === a.group) &&
  (r.resource === undefined || r.resource === a.resource) &&
  (r.verb === undefined || r.verb === a.verb) &&
  // A rule for one namespace (a RoleBinding) does not answer a cluster-wide question.
  (r.namespace === undefined || r.namespace === a.namespace);

export function decide(policy: AccessPolicy, a: ResourceAttributes): { allowed: boolean; reason: string } {
  const denial = policy.denials?.find((r) => matches(r, a));
  if (denial) return { allowed: false, reason: 'denied by the test server access policy' };
  if (!policy.grants) return { allowed: true, reason: 'allowed by default (no grants configured)' };
  return policy.grants.some((r) => matches(r, a))
    ? { allowed: true, reason: 'granted by the test server access policy' }
    : { allowed: false, reason: '' };
}

function invalid(message: string, field: string): KubeStatusError {
  return new KubeStatusError(
    422,
    'Invalid',
    `${KIND}.${AUTHORIZATION_GROUP} "" is invalid: ${field}: ${message}`,
    { group: AUTHORIZATION_GROUP, kind: KIND, causes: [{ reason: 'FieldValueInvalid', message, field }] },
  );
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Handles the path after `/apis/authorization.k8s.io` (e.g. `['v1', 'selfsubjectaccessreviews']`). */
export function accessReview(ctx: Ctx, rest: readonly string[], policy: AccessPolicy): Reply {
  const [version, plural] = rest;
  if (rest.length === 1 && version === 'v1' && ctx.method === 'GET')
    return { code: 200, body: accessResourceList() };
  if (rest.length !== 2 || version !== 'v1' || plural !== PLURAL) throw errPathNotFound();
  if (ctx.method !== 'POST') throw errMethodNotAllowed();
  if (ctx.mediaType !== 'application/json' || ctx.parseError !== undefined)
    throw new KubeStatusError(400, 'BadRequest', `the body of the request was in an unknown format`);
  const body = ctx.body as UnknownRecord | undefined;
  if (!body || typeof body !== 'object') throw new KubeStatusError(400, 'BadRequest', 'empty body');
  if (body.kind !== KIND || body.apiVersion !== `${AUTHORIZATION_GROUP}/v1`)
    throw new KubeStatusError(
      400,
      'BadRequest',
      `the API version in the data (${str(body.apiVersion)}) and kind (${str(body.kind)}) do not match ${AUTHORIZATION_GROUP}/v1 ${KIND}`,
    );
  const spec = (body.spec ?? {}) as UnknownRecord;
  const ra = spec.resourceAttributes as UnknownRecord | undefined;
  const nra = spec.nonResourceAttributes as UnknownRecord | undefined;
  if ((ra === undefined) === (nra === undefined))
    throw invalid('exactly one of nonResourceAttributes or resourceAttributes must be specified', 'spec');
  let status: { allowed: boolean; reason: string };
  if (ra) {
    const resource = str(ra.resource) + (str(ra.subresource) ? `/${str(ra.subresource)}` : '');
    status = decide(policy, {
      group: str(ra.group),
      resource,
      verb: str(ra.verb),
      namespace: str(ra.namespace),
    });
  } else {
    // Non-resource URLs (/healthz, /metrics, ...) are not part of the policy: the default discovery roles.
    status = { allowed: true, reason: 'non-resource URLs are allowed' };
  }
  return {
    code: 201,
    body: {
      kind: KIND,
      apiVersion: `${AUTHORIZATION_GROUP}/v1`,
      metadata: { creationTimestamp: null },
      spec,
      status: status.reason ? status : { allowed: status.allowed },
    },
  };
}

function accessResourceList(): UnknownRecord {
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: `${AUTHORIZATION_GROUP}/v1`,
    resources: [
      {
        name: PLURAL,
        singularName: 'selfsubjectaccessreview',
        namespaced: false,
        kind: KIND,
        verbs: ['create'],
      },
    ],
  };
}

export const accessGroupEntry = (): UnknownRecord => ({
  name: AUTHORIZATION_GROUP,
  versions: [{ groupVersion: `${AUTHORIZATION_GROUP}/v1`, version: 'v1' }],
  preferredVersion: { groupVersion: `${AUTHORIZATION_GROUP}/v1`, version: 'v1' },
});
