/** The migration view names the route it shifts, kind included, as every interface shows it. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { routeLabel } from '../../src/engine/route-label.js';
import { viewOf, type ViewSource } from '../../src/engine/view.js';
import { loadPlanFile, upgradeResolvedPlan, type ResolvedPlan } from '../../src/plan/load.js';
import { describeRoute } from '../../src/store/record.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const example = (dir: string) => loadPlanFile(path.join(root, 'deploy/examples', dir, 'migrationplan.yaml'));

const source = (plan: ResolvedPlan): ViewSource => ({
  id: `${plan.name}-1a2b3c`,
  name: plan.name,
  namespace: plan.namespace,
  plan,
  timeScale: 1,
  phase: 'pending',
  weight: 0,
  createdAt: 1_700_000_000_000,
  createdBy: 'alice',
  updatedAt: 1_700_000_000_000,
  heldByWindow: false,
  seq: 0,
});

describe('the route in the migration view', () => {
  it('an HTTPRoute plan (spec.route, ambient)', () => {
    const m = viewOf(source(example('productcatalogservice-ambient')));
    expect(m.route).toEqual({ kind: 'HTTPRoute', namespace: 'shop', name: 'productcatalogservice' });
    expect(routeLabel(m.route)).toBe('HTTPRoute shop/productcatalogservice');
  });

  it('a VirtualService plan (the older spec.virtualService spelling)', () => {
    const m = viewOf(source(example('productcatalogservice')));
    expect(m.route).toEqual({ kind: 'VirtualService', namespace: 'shop', name: 'productcatalogservice' });
    expect(routeLabel(m.route)).toBe('VirtualService shop/productcatalogservice');
  });

  it('a plan stored before spec.route existed reads as its VirtualService', () => {
    const { route: _route, dataPlane: _dataPlane, ...rest } = example('productcatalogservice');
    const stored = {
      ...rest,
      virtualService: { name: 'legacy-vs', route: 'primary' },
    } as unknown as ResolvedPlan;
    const m = viewOf(source(upgradeResolvedPlan(stored)));
    expect(routeLabel(m.route)).toBe('VirtualService shop/legacy-vs');
  });

  it('the one-migration-per-route claim starts with the same words', () => {
    for (const dir of ['productcatalogservice', 'productcatalogservice-ambient']) {
      const plan = example(dir);
      expect(describeRoute(plan)).toMatch(
        new RegExp(`^${routeLabel(viewOf(source(plan)).route)} (route|rule) primary$`),
      );
    }
  });
});
