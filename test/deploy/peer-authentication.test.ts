/**
 * "Policy second" (src/mesh/peer-authentication.ts) against the Kubernetes API test server: the mTLS preflight
 * and the PERMISSIVE → STRICT patch (resourceVersion-guarded, idempotent, touching nothing else).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mtlsTrafficQuery } from '../../src/gate/input/promql.js';
import { MtlsError } from '../../src/mesh/errors.js';
import type { MtlsQuerySeries } from '../../src/mesh/mtls-traffic.js';
import { PeerAuthenticationAdapter } from '../../src/mesh/peer-authentication.js';
import { ValidationError } from '../../src/plan/errors.js';
import { parsePlan, type ResolvedPlan } from '../../src/plan/load.js';
import { startKubeApiServer, type KubeApiServer, type KubeObject } from '../../src/sim/kube/index.js';
import { planYaml as basePlanYaml } from '../harness/plan-fixtures.js';

const NS = 'shop';
const PA_REF = {
  group: 'security.istio.io',
  plural: 'peerauthentications',
  namespace: NS,
  name: 'productcatalogservice',
};

const planYaml = (
  mtls = '  mtls:\n    peerAuthentication: productcatalogservice\n    tightenAfterCompletion: true\n',
) => basePlanYaml({ name: 'pcs', specTail: mtls });

function peerAuthentication(mode: string | undefined, selector = true, version = 'v1'): KubeObject {
  return {
    apiVersion: `security.istio.io/${version}`,
    kind: 'PeerAuthentication',
    metadata: {
      name: 'productcatalogservice',
      namespace: NS,
      labels: { app: 'productcatalogservice', team: 'shop' },
      annotations: { owner: 'platform' },
    },
    spec: {
      ...(selector ? { selector: { matchLabels: { app: 'productcatalogservice' } } } : {}),
      ...(mode ? { mtls: { mode } } : {}),
      portLevelMtls: { '9090': { mode: 'DISABLE' } },
    },
  };
}

const answer =
  (series: Array<[string, number]>, seen: string[] = []) =>
  async (q: string): Promise<MtlsQuerySeries[]> => {
    seen.push(q);
    return series.map(([policy, value]) => ({ labels: { connection_security_policy: policy }, value }));
  };

let kube: KubeApiServer;
let plan: ResolvedPlan;
beforeEach(async () => {
  kube = await startKubeApiServer();
  kube.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  plan = parsePlan(planYaml(), 'plan.yaml');
});
afterEach(async () => {
  await kube.close();
});

const patches = () => kube.requests.filter((r) => r.method === 'PATCH');

describe('plan spec.mtls', () => {
  it('is optional and carried into the resolved plan', () => {
    expect(plan.mtls).toEqual({ peerAuthentication: 'productcatalogservice', tightenAfterCompletion: true });
    expect(parsePlan(planYaml(''), 'p.yaml').mtls).toBeUndefined();
    expect(
      parsePlan(planYaml('  mtls:\n    peerAuthentication: productcatalogservice\n'), 'p.yaml').mtls,
    ).toEqual({ peerAuthentication: 'productcatalogservice', tightenAfterCompletion: false });
  });

  it('rejects unknown fields and wrong types with field-named errors', () => {
    const bad = (block: string) => {
      try {
        parsePlan(planYaml(block), 'p.yaml');
      } catch (e) {
        expect(e).toBeInstanceOf(ValidationError);
        return (e as ValidationError).errors.map((x) => `${x.path}: ${x.message}`).join('\n');
      }
      throw new Error('expected a ValidationError');
    };
    expect(bad('  mtls:\n    peerAuthentication: x\n    strict: true\n')).toMatch(/spec\.mtls/);
    expect(bad('  mtls:\n    peerAuthentication: x\n    tightenAfterCompletion: yes please\n')).toMatch(
      /tightenAfterCompletion must be true or false/,
    );
    expect(bad('  mtls:\n    tightenAfterCompletion: true\n')).toMatch(/spec\.mtls\.peerAuthentication/);
  });
});

describe('preflightMtls', () => {
  it('passes when the PeerAuthentication is PERMISSIVE and all traffic is mutual TLS', async () => {
    kube.put(peerAuthentication('PERMISSIVE'));
    const seen: string[] = [];
    const pa = new PeerAuthenticationAdapter(kube.kubeConfig(), {
      query: answer([['mutual_tls', 1200]], seen),
    });
    const r = await pa.preflightMtls(plan);
    expect(r.checks.filter((c) => !c.ok)).toEqual([]);
    expect(r).toMatchObject({
      ok: true,
      apiVersion: 'v1',
      mode: 'PERMISSIVE',
      alreadyStrict: false,
      requests: 1200,
    });
    expect(r.mutualTlsRatio).toBe(1);
    expect(r.checks.map((c) => c.id)).toEqual(['mtls-api', 'peerauthentication', 'mtls-traffic']);
    expect(seen).toEqual([
      'sum by (connection_security_policy) (increase(istio_requests_total{reporter="destination",destination_service="productcatalogservice.shop.svc.cluster.local"}[600s]))',
    ]);
    expect(patches()).toEqual([]); // read-only
  });

  it('fails when some requests are plaintext, naming them', async () => {
    kube.put(peerAuthentication('PERMISSIVE'));
    const pa = new PeerAuthenticationAdapter(kube.kubeConfig(), {
      query: answer([
        ['mutual_tls', 900],
        ['none', 100],
      ]),
    });
    const r = await pa.preflightMtls(plan);
    expect(r.ok).toBe(false);
    const c = r.checks.find((x) => x.id === 'mtls-traffic')!;
    expect(c.message).toMatch(/90\.00 % of 1000 requests .* \(none: 100\)/);
    expect(c.fix).toBeTruthy();
  });

  it('fails without traffic, without a query function, or when Prometheus errors', async () => {
    kube.put(peerAuthentication('PERMISSIVE'));
    const noTraffic = await new PeerAuthenticationAdapter(kube.kubeConfig(), {
      query: answer([]),
    }).preflightMtls(plan);
    expect(noTraffic.ok).toBe(false);
    expect(noTraffic.checks.at(-1)!.message).toMatch(/too few/);
    const noQuery = await new PeerAuthenticationAdapter(kube.kubeConfig()).preflightMtls(plan);
    expect(noQuery.ok).toBe(false);
    const broken = await new PeerAuthenticationAdapter(kube.kubeConfig(), {
      query: () => Promise.reject(new Error('connection refused')),
    }).preflightMtls(plan);
    expect(broken.ok).toBe(false);
    expect(broken.checks.at(-1)!.message).toMatch(/connection refused/);
  });

  it.each([
    ['DISABLE', /mode DISABLE/],
    [undefined, /mode UNSET/],
  ])('refuses mode %s', async (mode, message) => {
    kube.put(peerAuthentication(mode));
    const r = await new PeerAuthenticationAdapter(kube.kubeConfig(), {
      query: answer([['mutual_tls', 10]]),
    }).preflightMtls(plan);
    expect(r.ok).toBe(false);
    expect(r.checks.find((c) => c.id === 'peerauthentication')!.message).toMatch(message);
  });

  it('reports a missing PeerAuthentication with a fix', async () => {
    const r = await new PeerAuthenticationAdapter(kube.kubeConfig(), {
      query: answer([['mutual_tls', 10]]),
    }).preflightMtls(plan);
    expect(r.ok).toBe(false);
    expect(r.checks.at(-1)).toMatchObject({ id: 'peerauthentication', ok: false });
    expect(r.checks.at(-1)!.fix).toMatch(/PERMISSIVE/);
  });

  it('is satisfied by STRICT already, without querying Prometheus', async () => {
    kube.put(peerAuthentication('STRICT'));
    const seen: string[] = [];
    const r = await new PeerAuthenticationAdapter(kube.kubeConfig(), {
      query: answer([], seen),
    }).preflightMtls(plan);
    expect(r).toMatchObject({ ok: true, alreadyStrict: true, mode: 'STRICT' });
    expect(seen).toEqual([]);
  });

  it('checks the whole namespace for a PeerAuthentication without selector', async () => {
    kube.put(peerAuthentication('PERMISSIVE', false));
    const seen: string[] = [];
    await new PeerAuthenticationAdapter(kube.kubeConfig(), {
      query: answer([['mutual_tls', 5]], seen),
    }).preflightMtls(plan);
    expect(seen[0]).toContain('destination_workload_namespace="shop"');
  });

  it('mtlsTrafficQuery covers both hosts of a two-host plan', () => {
    const q = mtlsTrafficQuery(
      {
        namespace: 'shop',
        source: { destination: { host: 'pcs' }, serviceEntry: 'se' },
        target: { destination: { host: 'pcs-k8s' }, deployment: 'd' },
      },
      { namespaceWide: false, reporter: 'destination', windowMs: 60_000 },
    );
    expect(q).toContain(
      // `\\.` in the PromQL string: a regex-escaped dot (a single backslash is an invalid escape there).
      'destination_service=~"pcs\\\\.shop\\\\.svc\\\\.cluster\\\\.local|pcs-k8s\\\\.shop\\\\.svc\\\\.cluster\\\\.local"',
    );
    expect(q).toContain('[60s]');
  });
});

describe('tightenMtls', () => {
  it('moves PERMISSIVE to STRICT with a resourceVersion-guarded JSON patch and touches nothing else', async () => {
    const before = kube.put(peerAuthentication('PERMISSIVE'));
    const r = await new PeerAuthenticationAdapter(kube.kubeConfig()).tightenMtls(plan);
    expect(r).toMatchObject({ changed: true, from: 'PERMISSIVE', mode: 'STRICT', attempts: 1 });
    const after = kube.get(PA_REF)!;
    expect(after.spec).toEqual({ ...(before.spec as object), mtls: { mode: 'STRICT' } });
    expect(after.metadata.labels).toEqual(before.metadata.labels);
    expect(after.metadata.annotations).toEqual(before.metadata.annotations);
    expect(r.resourceVersion).toBe(after.metadata.resourceVersion);
    const [p] = patches();
    expect(p!.path).toBe(
      '/apis/security.istio.io/v1/namespaces/shop/peerauthentications/productcatalogservice',
    );
    expect(p!.contentType).toBe('application/json-patch+json');
    expect(p!.body).toEqual([
      { op: 'test', path: '/metadata/resourceVersion', value: before.metadata.resourceVersion },
      { op: 'test', path: '/spec/mtls/mode', value: 'PERMISSIVE' },
      { op: 'replace', path: '/spec/mtls/mode', value: 'STRICT' },
    ]);
  });

  it('is idempotent: a second run writes nothing', async () => {
    kube.put(peerAuthentication('PERMISSIVE'));
    const pa = new PeerAuthenticationAdapter(kube.kubeConfig());
    await pa.tightenMtls(plan);
    const rv = kube.get(PA_REF)!.metadata.resourceVersion;
    const again = await pa.tightenMtls(plan);
    expect(again).toMatchObject({ changed: false, from: 'STRICT', mode: 'STRICT', resourceVersion: rv });
    expect(patches()).toHaveLength(1);
  });

  it('re-reads and retries when someone else writes in between (failed test op → 422)', async () => {
    kube.put(peerAuthentication('PERMISSIVE'));
    let raced = false;
    kube.onRequest((req) => {
      if (req.method === 'PATCH' && !raced) {
        raced = true;
        kube.edit(PA_REF, (o) => {
          o.metadata.annotations = { ...o.metadata.annotations, touched: 'by-someone-else' };
        });
      }
    });
    const r = await new PeerAuthenticationAdapter(kube.kubeConfig()).tightenMtls(plan);
    expect(r).toMatchObject({ changed: true, attempts: 2 });
    expect(patches().map((p) => p.status)).toEqual([422, 200]);
    const after = kube.get(PA_REF)!;
    expect(after.metadata.annotations).toMatchObject({ touched: 'by-someone-else', owner: 'platform' });
    expect((after.spec as { mtls: object }).mtls).toEqual({ mode: 'STRICT' });
  });

  it('stops without writing when someone else already set STRICT during the race', async () => {
    kube.put(peerAuthentication('PERMISSIVE'));
    let raced = false;
    kube.onRequest((req) => {
      if (req.method === 'PATCH' && !raced) {
        raced = true;
        kube.edit(PA_REF, (o) => {
          (o.spec as { mtls: { mode: string } }).mtls.mode = 'STRICT';
        });
      }
    });
    const r = await new PeerAuthenticationAdapter(kube.kubeConfig()).tightenMtls(plan);
    expect(r).toMatchObject({ changed: false, attempts: 2 });
  });

  it('refuses to touch DISABLE or UNSET, and a plan without spec.mtls', async () => {
    kube.put(peerAuthentication('DISABLE'));
    const pa = new PeerAuthenticationAdapter(kube.kubeConfig());
    await expect(pa.tightenMtls(plan)).rejects.toBeInstanceOf(MtlsError);
    kube.put(peerAuthentication(undefined));
    await expect(pa.tightenMtls(plan)).rejects.toThrow(/UNSET/);
    await expect(pa.tightenMtls(parsePlan(planYaml(''), 'p.yaml'))).rejects.toThrow(/spec\.mtls/);
    expect(patches()).toEqual([]);
  });
});

describe('security.istio.io version', () => {
  /** A front for the test server whose discovery serves security.istio.io v1beta1 only (Istio < 1.22). */
  async function v1beta1Only(
    upstream: KubeApiServer,
  ): Promise<{ kc: KubeConfig; close: () => Promise<void> }> {
    const server = http.createServer((req, res) => {
      if (req.url === '/apis') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        const gv = { groupVersion: 'security.istio.io/v1beta1', version: 'v1beta1' };
        res.end(
          JSON.stringify({
            kind: 'APIGroupList',
            apiVersion: 'v1',
            groups: [{ name: 'security.istio.io', versions: [gv], preferredVersion: gv }],
          }),
        );
        return;
      }
      if (!req.url?.startsWith('/apis/security.istio.io/v1beta1/')) {
        res.writeHead(404).end();
        return;
      }
      const fwd = http.request(
        `${upstream.url}${req.url}`,
        { method: req.method, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      req.pipe(fwd);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const kc = new KubeConfig();
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: url, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    return {
      kc,
      close: () =>
        new Promise<void>((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }),
    };
  }

  it('falls back to v1beta1 when the cluster does not serve v1', async () => {
    kube.put(peerAuthentication('PERMISSIVE', true, 'v1beta1'));
    const front = await v1beta1Only(kube);
    try {
      const pa = new PeerAuthenticationAdapter(front.kc, { query: answer([['mutual_tls', 10]]) });
      expect(await pa.apiVersion()).toBe('v1beta1');
      expect((await pa.preflightMtls(plan)).ok).toBe(true);
      expect(await pa.tightenMtls(plan)).toMatchObject({ changed: true });
      expect(patches()[0]!.path).toContain('/apis/security.istio.io/v1beta1/');
    } finally {
      await front.close();
    }
  });
});
