/**
 * deploy/examples/productcatalogservice-ambient: the HTTPRoute plan validates, its HTTPRoute is accepted by the
 * published Gateway API schema, and the plan finds its rule and both backendRefs in it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { migrationPlanCrd } from '../../src/controller/crd-schema.js';
import { locateHttpRoute, type HttpRouteObject } from '../../src/mesh/http-route.js';
import { loadPlanFile } from '../../src/plan/load.js';
import { gatewayApiCrds } from '../../src/sim/gateway-api.js';
import { startKubeApiServer, type KubeApiServer, type KubeObject } from '../../src/sim/kube/index.js';

const DIR = path.join(import.meta.dirname, '../../deploy/examples/productcatalogservice-ambient');
let kube: KubeApiServer | undefined;
afterEach(async () => {
  await kube?.close();
  kube = undefined;
});

describe('ambient example (HTTPRoute)', () => {
  it('the plan validates; the HTTPRoute passes the published schema; the plan finds its rule at 0 %', async () => {
    const plan = loadPlanFile(path.join(DIR, 'migrationplan.yaml'));
    expect(plan).toMatchObject({
      route: { kind: 'HTTPRoute', name: 'productcatalogservice', rule: 'primary' },
      dataPlane: 'ambient',
      mode: 'hosts',
    });
    expect(plan.policy.analysis.reporter).toBe('waypoint');
    kube = await startKubeApiServer({ crds: [migrationPlanCrd() as KubeObject, ...gatewayApiCrds()] });
    kube.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
    const body = parse(readFileSync(path.join(DIR, 'httproute.yaml'), 'utf8')) as KubeObject;
    const api = kube.kubeConfig().makeApiClient(k8s.CustomObjectsApi);
    const created = (await api.createNamespacedCustomObject({
      group: 'gateway.networking.k8s.io',
      version: 'v1',
      plural: 'httproutes',
      namespace: 'shop',
      body,
      fieldValidation: 'Strict',
    })) as HttpRouteObject;
    const loc = locateHttpRoute(created, {
      source: plan.source.destination,
      target: plan.target.destination,
      rule: plan.route.rule!,
      ruleField: 'spec.route.rule',
    });
    expect(loc).toMatchObject({ routeName: 'primary', sourceIndex: 0, targetIndex: 1, targetWeight: 0 });
  });
});
