/** The plan and policy text the plan, CLI, HTTP and mesh tests start from (and mutate). */

/**
 * A MigrationPlan moving productcatalogservice in namespace `shop` from the `vm` subset to the `k8s` subset under
 * the built-in `default` policy. `specTail` (indented lines under `spec`, ending in a newline) is appended last.
 */
export function planYaml(opts: { name?: string; specTail?: string } = {}): string {
  return `apiVersion: meshshift.io/v1alpha1
kind: MigrationPlan
metadata:
  name: ${opts.name ?? 'productcatalog'}
spec:
  namespace: shop
  host: productcatalogservice.shop.svc.cluster.local
  virtualService:
    name: productcatalogservice
  source:
    subset: vm
    serviceEntry: productcatalogservice-vm
  target:
    subset: k8s
    deployment: productcatalogservice
  policy: default
${opts.specTail ?? ''}`;
}

export const GOOD_PLAN = planYaml();

/** A valid Policy named `quick`: 10 → 50 → 100 %, 1 % error budget. */
export const GOOD_POLICY = `apiVersion: meshshift.io/v1alpha1
kind: Policy
metadata:
  name: quick
spec:
  steps: [10, 50, 100]
  stepDuration: 1m
  analysis: { interval: 10s, window: 1m }
  slo: { errorRate: { max: 0.01 } }
`;
