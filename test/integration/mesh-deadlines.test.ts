/**
 * Deadlines, cancellation and fencing of Kubernetes calls, through the real @kubernetes/client-node against the
 * strict Kubernetes API test server: a hung call ends at its deadline, an aborted write closes its connection
 * so the server never applies it (not even after the hang ends), and the fencing check runs before every PATCH.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { DriftError } from '../../src/mesh/errors.js';
import { IstioMeshAdapter, type IstioAdapterOptions } from '../../src/mesh/istio.js';
import { KubeApiError } from '../../src/mesh/kube/errors.js';
import { RetriesExhaustedError } from '../../src/mesh/kube/guarded-patch.js';
import { PeerAuthenticationAdapter } from '../../src/mesh/peer-authentication.js';
import { parsePlan, type ResolvedPlan } from '../../src/plan/load.js';
import { seedMigrationScenario } from '../../src/sim/istio-fixtures.js';
import type { ScenarioFixture } from '../../src/sim/scenario-fixture.js';
import { KubeStatusError, startKubeApiServer, type KubeApiServer } from '../../src/sim/kube/index.js';
import { planYamlFor } from '../../src/sim/scenario.js';

let kube: KubeApiServer | undefined;
afterEach(async () => {
  await kube?.close();
  kube = undefined;
});

async function world(opts: IstioAdapterOptions = {}, extra = '') {
  kube = await startKubeApiServer();
  const fx = seedMigrationScenario(kube, {});
  const plan = parsePlan(planYamlFor(fx, 'default', extra), 'plan.yaml');
  return { kube, fx, plan, mesh: new IstioMeshAdapter(kube.kubeConfig(), opts) };
}

const vsRef = (fx: ScenarioFixture) => ({
  group: 'networking.istio.io',
  plural: 'virtualservices',
  namespace: fx.namespace,
  name: fx.virtualService,
});
const weights = (k: KubeApiServer, fx: ScenarioFixture) =>
  (k.get(vsRef(fx))!.spec as { http: Array<{ route: Array<{ weight?: number }> }> }).http[0]!.route.map(
    (d) => d.weight ?? 100,
  );
const requestsOf = (k: KubeApiServer, method: string) => k.requests.filter((r) => r.method === method);

/** Hangs every request with `method` (matching `path`) for `ms`; resolves `arrived` when the first one is in. */
function hang(k: KubeApiServer, method: string, ms: number, path = '') {
  let arrive!: () => void;
  const arrived = new Promise<void>((r) => (arrive = r));
  const off = k.onRequest(async (r) => {
    if (r.method !== method || !r.path.includes(path)) return;
    arrive();
    await sleep(ms);
  });
  return { arrived, off };
}

async function elapsed<T>(p: Promise<T>): Promise<{ ms: number; result?: T; error?: unknown }> {
  const t0 = performance.now();
  try {
    const result = await p;
    return { ms: performance.now() - t0, result };
  } catch (error) {
    return { ms: performance.now() - t0, error };
  }
}

describe('deadlines', () => {
  it('a hung GET ends at callTimeoutMs with a retryable Timeout error naming the call and the option', async () => {
    const { kube: k, plan, mesh } = await world({ callTimeoutMs: 300 });
    await mesh.currentWeight(plan); // discovery cached
    hang(k, 'GET', 5_000, '/virtualservices/');
    const r = await elapsed(mesh.currentWeight(plan));
    expect(r.error).toBeInstanceOf(KubeApiError);
    expect(r.error).toMatchObject({ code: 0, reason: 'Timeout' });
    expect((r.error as Error).message).toMatch(
      /^get virtualservices\/shop\/.* no answer within 0\.3 s \(callTimeoutMs 300\)/,
    );
    expect(r.ms).toBeGreaterThanOrEqual(290);
    expect(r.ms).toBeLessThan(1_500);
  });

  it('control: a slow PATCH within its deadline is applied (the hang itself drops nothing)', async () => {
    const { kube: k, fx, plan, mesh } = await world({ callTimeoutMs: 3_000 });
    hang(k, 'PATCH', 300);
    const w = await mesh.setWeight(plan, 5, { expected: 0, force: false });
    expect(w).toMatchObject({ wrote: true, attempts: 1 });
    expect(weights(k, fx)).toEqual([95, 5]);
  });

  it('a PATCH that times out is cancelled, never lands later, and the retry re-reads and writes once', async () => {
    const { kube: k, fx, plan, mesh } = await world({ callTimeoutMs: 400 });
    let patches = 0;
    k.onRequest(async (r) => {
      if (r.method === 'PATCH' && ++patches === 1) await sleep(1_500);
    });
    const w = await mesh.setWeight(plan, 5, { expected: 0, force: false });
    expect(w).toMatchObject({ wrote: true, attempts: 2 });
    const rvAfterWrite = k.get(vsRef(fx))!.metadata.resourceVersion;
    await sleep(1_500); // the first PATCH's hang is over by now
    expect(weights(k, fx)).toEqual([95, 5]);
    expect(k.get(vsRef(fx))!.metadata.resourceVersion).toBe(rvAfterWrite);
    // The retry was applied first; the abandoned first attempt was dropped when its hang ended.
    expect(requestsOf(k, 'PATCH').map((p) => p.status)).toEqual([200, 499]);
  });
});

describe('cancellation', () => {
  it('aborting a write in flight closes its request: the object never changes, not even after the hang', async () => {
    const { kube: k, fx, plan, mesh } = await world();
    await mesh.currentWeight(plan);
    const before = k.get(vsRef(fx))!;
    const { arrived } = hang(k, 'PATCH', 1_000);
    const ac = new AbortController();
    const write = elapsed(mesh.setWeight(plan, 5, { expected: 0, force: false, signal: ac.signal }));
    await arrived;
    const abortedAt = performance.now();
    ac.abort();
    const r = await write;
    expect((r.error as Error).name).toBe('AbortError');
    expect(performance.now() - abortedAt).toBeLessThan(1_000);
    const seen = k.requests.length;
    await sleep(1_500);
    expect(k.get(vsRef(fx))!).toEqual(before);
    expect(requestsOf(k, 'PATCH').map((p) => p.status)).toEqual([499]);
    // After the abort the server only recorded the dropped PATCH: no retry, no other request was sent.
    expect(k.requests.slice(seen).map((q) => `${q.method} ${q.status}`)).toEqual(['PATCH 499']);
  });

  it('an abort during the backoff between attempts stops the write without another request', async () => {
    const { kube: k, fx, plan, mesh } = await world({ retry: { baseDelayMs: 5_000, maxDelayMs: 5_000 } });
    k.onRequest((r) => {
      if (r.method === 'PATCH') throw new KubeStatusError(500, 'InternalError', 'etcd is unhappy');
    });
    const ac = new AbortController();
    const write = elapsed(mesh.setWeight(plan, 5, { expected: 0, force: false, signal: ac.signal }));
    await sleep(300);
    const sent = k.requests.length;
    ac.abort();
    const r = await write;
    expect((r.error as Error).name).toBe('AbortError');
    expect(r.ms).toBeLessThan(1_500);
    await sleep(200);
    expect(k.requests.length).toBe(sent);
    expect(requestsOf(k, 'PATCH')).toHaveLength(1);
    expect(weights(k, fx)).toEqual([100, 0]);
  });

  it('an already aborted signal sends nothing at all', async () => {
    const { kube: k, plan, mesh } = await world();
    const ac = new AbortController();
    ac.abort();
    await expect(
      mesh.setWeight(plan, 5, { expected: 0, force: false, signal: ac.signal }),
    ).rejects.toMatchObject({
      name: 'AbortError',
    });
    expect(k.requests).toEqual([]);
  });

  it('preflight honours its signal: an abort is an error, not a failed check', async () => {
    const { kube: k, plan, mesh } = await world();
    const { arrived } = hang(k, 'GET', 2_000, '/deployments/');
    const ac = new AbortController();
    const p = elapsed(mesh.preflight(plan, { signal: ac.signal }));
    await arrived;
    ac.abort();
    const r = await p;
    expect((r.error as Error).name).toBe('AbortError');
    expect(r.result).toBeUndefined();
  });

  it('a preflight call past its deadline is a failed check that says so', async () => {
    const { kube: k, plan, mesh } = await world({ callTimeoutMs: 300 });
    hang(k, 'GET', 2_000, '/deployments/');
    const report = await mesh.preflight(plan);
    expect(report.ok).toBe(false);
    const failed = report.checks.filter((c) => !c.ok);
    expect(failed.map((c) => c.id)).toEqual(['deployment']);
    expect(failed[0]!.message).toMatch(/no answer within 0\.3 s/);
  });
});

describe('fencing before every write attempt', () => {
  it('runs beforeAttempt before each PATCH, retries included, and not when nothing is written', async () => {
    const { kube: k, fx, plan, mesh } = await world();
    let conflicts = 1;
    k.onRequest((r) => {
      if (r.method === 'PATCH' && conflicts-- > 0)
        throw new KubeStatusError(409, 'Conflict', 'the object has been modified');
    });
    const fenced: number[] = [];
    const beforeAttempt = async () => {
      fenced.push(requestsOf(k, 'PATCH').length);
    };
    const w = await mesh.setWeight(plan, 5, { expected: 0, force: false, beforeAttempt });
    expect(w).toMatchObject({ wrote: true, attempts: 2 });
    expect(fenced).toEqual([0, 1]); // once before each of the two PATCHes
    expect(weights(k, fx)).toEqual([95, 5]);
    await mesh.setWeight(plan, 5, { expected: 5, force: false, beforeAttempt });
    expect(fenced).toHaveLength(2); // already at 5 %: no write, no fence check
  });

  it('a fence that fails on a retry stops the write: no PATCH after it', async () => {
    const { kube: k, fx, plan, mesh } = await world();
    k.onRequest((r) => {
      if (r.method === 'PATCH') throw new KubeStatusError(503, 'ServiceUnavailable', 'try later');
    });
    let calls = 0;
    const lost = new Error('lease lost: another worker holds migration m-1');
    const beforeAttempt = async () => {
      if (++calls === 2) throw lost;
    };
    await expect(mesh.setWeight(plan, 5, { expected: 0, force: false, beforeAttempt })).rejects.toBe(lost);
    expect(requestsOf(k, 'PATCH')).toHaveLength(1);
    expect(weights(k, fx)).toEqual([100, 0]);
  });

  it('drift is final (not retried) and reported with both weights', async () => {
    const { kube: k, fx, plan, mesh } = await world();
    k.edit(vsRef(fx), (vs) => {
      const [vm, k8s] = (vs.spec as { http: Array<{ route: Array<{ weight?: number }> }> }).http[0]!.route;
      vm!.weight = 80;
      k8s!.weight = 20;
    });
    const err = await mesh.setWeight(plan, 5, { expected: 0, force: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DriftError);
    expect(err).toMatchObject({ found: 20, expected: 0 });
    expect(requestsOf(k, 'PATCH')).toEqual([]);
  });

  it('gives up after maxAttempts with the last error, each attempt fenced', async () => {
    const { kube: k, plan, mesh } = await world({ maxAttempts: 3, retry: { baseDelayMs: 1, maxDelayMs: 5 } });
    k.onRequest((r) => {
      if (r.method === 'PATCH') throw new KubeStatusError(500, 'InternalError', 'etcd is unhappy');
    });
    let fenced = 0;
    const err = await mesh
      .setWeight(plan, 5, { expected: 0, force: false, beforeAttempt: async () => void fenced++ })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetriesExhaustedError);
    expect((err as Error).message).toMatch(
      /gave up: set weight 5 % on VirtualService shop\/.* after 3 attempts: .*etcd is unhappy/,
    );
    expect(fenced).toBe(3);
    expect(requestsOf(k, 'PATCH')).toHaveLength(3);
  });
});

describe('PeerAuthentication: same deadlines, abort and fence', () => {
  const PA = { group: 'security.istio.io', plural: 'peerauthentications', namespace: 'shop', name: 'pcs' };
  const mtlsPlan = (fx: ScenarioFixture): ResolvedPlan =>
    parsePlan(
      `${planYamlFor(fx, 'default')}  mtls:
    peerAuthentication: pcs
`,
      'plan.yaml',
    );

  async function paWorld() {
    const { kube: k, fx } = await world();
    k.put({
      apiVersion: 'security.istio.io/v1',
      kind: 'PeerAuthentication',
      metadata: { name: 'pcs', namespace: 'shop' },
      spec: { selector: { matchLabels: { app: 'pcs' } }, mtls: { mode: 'PERMISSIVE' } },
    });
    return { k, plan: mtlsPlan(fx) };
  }

  it('an aborted tighten never lands, a fenced one runs the fence once per PATCH', async () => {
    const { k, plan } = await paWorld();
    const pa = new PeerAuthenticationAdapter(k.kubeConfig());
    const before = k.get(PA)!;
    const { arrived, off } = hang(k, 'PATCH', 1_000);
    const ac = new AbortController();
    const p = pa.tightenMtls(plan, { signal: ac.signal }).catch((e: unknown) => e);
    await arrived;
    ac.abort();
    expect(((await p) as Error).name).toBe('AbortError');
    await sleep(1_300);
    expect(k.get(PA)).toEqual(before);
    off();
    let fenced = 0;
    const r = await pa.tightenMtls(plan, { beforeAttempt: async () => void fenced++ });
    expect(r).toMatchObject({ changed: true, attempts: 1 });
    expect(fenced).toBe(1);
    expect((k.get(PA)!.spec as { mtls: { mode: string } }).mtls.mode).toBe('STRICT');
  });

  it('the mTLS preflight reports a read past its deadline as a failed check', async () => {
    const { k, plan } = await paWorld();
    const pa = new PeerAuthenticationAdapter(k.kubeConfig(), { callTimeoutMs: 300, query: async () => [] });
    await pa.apiVersion();
    hang(k, 'GET', 2_000, '/peerauthentications/');
    const r = await pa.preflightMtls(plan);
    expect(r.ok).toBe(false);
    expect(r.checks.at(-1)).toMatchObject({ id: 'peerauthentication', ok: false });
    expect(r.checks.at(-1)!.message).toMatch(/get peerauthentications\/shop\/pcs: no answer within 0\.3 s/);
  });
});
