/** The VirtualService is shared property: meshshift changes two weights and nothing else, and loses no write. */
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { KubeObject } from '../../src/sim/kube/index.js';
import { startScenario, type Scenario } from '../../src/sim/scenario.js';

const prom = () => ({ prometheusUrl: inject('prometheusUrl'), sdDir: inject('prometheusSdDir') });
let s: Scenario | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

type Http = Array<{
  name?: string;
  route: Array<{ weight?: number; [k: string]: unknown }>;
  [k: string]: unknown;
}>;
const vsOf = (sc: Scenario): KubeObject =>
  sc.kube.get({
    group: 'networking.istio.io',
    plural: 'virtualservices',
    namespace: sc.fixture.namespace,
    name: sc.fixture.virtualService,
  })!;
/** The VirtualService with the shifted route's weights blanked, to compare everything else. */
function withoutWeights(vs: KubeObject, routeName: string): unknown {
  const copy = structuredClone(vs) as KubeObject & { spec: { http: Http } };
  for (const r of copy.spec.http) if (r.name === routeName) for (const d of r.route) delete d.weight;
  delete (copy.metadata as { resourceVersion?: string }).resourceVersion;
  // The API server records who wrote which fields (as kube-apiserver does): bookkeeping, not the route.
  delete (copy.metadata as { managedFields?: unknown }).managedFields;
  delete (copy.metadata as { generation?: number }).generation;
  return copy;
}

describe('VirtualService hygiene', () => {
  it('a header-match route before the default one stays byte-for-byte; only two weights change', async () => {
    s = await startScenario({ metrics: prom(), policy: 'default', seed: { extraHeaderRoute: true } });
    const before = vsOf(s);
    await s.waitForTraffic();
    const { result } = await s.run({ timeScale: 0.05 });
    expect(result.phase, result.reason).toBe('completed');
    const after = vsOf(s);
    expect(JSON.stringify(withoutWeights(after, 'primary'))).toBe(
      JSON.stringify(withoutWeights(before, 'primary')),
    );
    const http = (after.spec as { http: Http }).http;
    expect(http[0]!.name).toBe('canary-header');
    expect(JSON.stringify(http[0])).toBe(JSON.stringify((before.spec as { http: Http }).http[0]));
    expect(http[1]!.route.map((d) => d.weight)).toEqual([0, 100]);
    // Every write was a JSON patch guarded by a resourceVersion test.
    const patches = s.kube.requests.filter((r) => r.method === 'PATCH');
    expect(patches.every((p) => p.contentType?.startsWith('application/json-patch+json'))).toBe(true);
    expect(
      patches.every(
        (p) => (p.body as Array<{ op: string; path: string }>)[0]!.path === '/metadata/resourceVersion',
      ),
    ).toBe(true);
  });

  it('a concurrent edit between read and write loses no write (ours or theirs)', async () => {
    s = await startScenario({ metrics: prom(), policy: 'default' });
    const sc = s;
    let injected = 0;
    const ref = {
      group: 'networking.istio.io',
      plural: 'virtualservices',
      namespace: sc.fixture.namespace,
      name: sc.fixture.virtualService,
    };
    sc.kube.onRequest((req) => {
      // Right before meshshift's 3rd and 5th weight PATCHes land, someone else edits the object.
      if (req.method !== 'PATCH' || !req.path.endsWith(`/virtualservices/${sc.fixture.virtualService}`))
        return;
      const n = sc.kube.requests.filter((r) => r.method === 'PATCH').length;
      if (n === 2 || n === 5) {
        injected++;
        sc.kube.edit(ref, (vs) => {
          vs.metadata.annotations = {
            ...vs.metadata.annotations,
            [`edited-by-someone-else-${injected}`]: 'true',
          };
          (vs.spec as { http: Http }).http[0]!.timeout = `${5 + injected}s`;
        });
      }
    });
    await sc.waitForTraffic();
    const { result, events } = await sc.run({ timeScale: 0.05 });
    expect(result.phase, result.reason).toBe('completed');
    expect(injected).toBe(2);
    expect(sc.weightWrites()).toEqual([1, 5, 10, 25, 50, 100]);
    const rejected = sc.kube.requests.filter((r) => r.method === 'PATCH' && r.status >= 400);
    expect(rejected.map((r) => r.status)).toEqual([422, 422]);
    expect(events.filter((e) => e.type === 'weight' && e.attempts > 1)).toHaveLength(2);
    const vs = vsOf(sc);
    expect(vs.metadata.annotations).toMatchObject({
      'edited-by-someone-else-1': 'true',
      'edited-by-someone-else-2': 'true',
    });
    expect((vs.spec as { http: Http }).http[0]!.timeout).toBe('7s');
  });

  it('two-host split (VM ServiceEntry host vs the pods’ Service) migrates too', async () => {
    s = await startScenario({ metrics: prom(), policy: 'default', mode: 'hosts' });
    await s.waitForTraffic();
    const { result } = await s.run({ timeScale: 0.05 });
    expect(result.phase, result.reason).toBe('completed');
    expect(s.weightWrites()).toEqual([1, 5, 10, 25, 50, 100]);
    expect(s.sim.stats().k8s!.requests).toBeGreaterThan(1000);
  });
});

describe('HTTPRoute hygiene', () => {
  it('ABORT at 5 % rolls back in one write; the header rule, its filter and the third backendRef never change', async () => {
    s = await startScenario({
      metrics: prom(),
      policy: 'default',
      routeKind: 'HTTPRoute',
      dataPlane: 'ambient',
      seed: { extraHeaderRoute: true, extraBackend: true },
    });
    const sc = s;
    await sc.waitForTraffic();
    const { result } = await sc.run({
      timeScale: 0.05,
      onEvent: (e, runner) => {
        if (e.type === 'weight' && e.weight === 5 && !e.rollback)
          runner.command('ABORT', 'tester', 'customer complaint');
      },
    });
    expect(result.phase, result.reason).toBe('aborted');
    expect(sc.weightWrites()).toEqual([1, 5, 0]);
    // Asserted on the writes the API server recorded: only the two weights of rule 1, refs 0 and 1, were written.
    const patches = sc.kube.requests.filter((r) => r.method === 'PATCH');
    expect(patches).toHaveLength(3);
    for (const p of patches) {
      const writes = (p.body as Array<{ op: string; path: string }>).filter((o) => o.op !== 'test');
      expect(writes.map((o) => `${o.op} ${o.path}`)).toEqual([
        'add /spec/rules/1/backendRefs/0/weight',
        'add /spec/rules/1/backendRefs/1/weight',
      ]);
    }
    const route = sc.kube.get({
      group: 'gateway.networking.k8s.io',
      plural: 'httproutes',
      namespace: sc.fixture.namespace,
      name: sc.fixture.virtualService,
    })!;
    const rules = (route.spec as { rules: Array<{ name: string; backendRefs: Array<{ weight: number }> }> })
      .rules;
    expect(rules[1]!.backendRefs.map((b) => b.weight)).toEqual([100, 0, 0]);
    expect(rules[0]).toMatchObject({ name: 'canary-header', filters: [{ type: 'RequestHeaderModifier' }] });
  });
});
