/** Reading the end state: each migration from the API, the cluster's weights and writes, Redis memory. */
import type { Redis } from 'ioredis';
import type { ScenarioFixture } from '../src/sim/scenario-fixture.js';
import type { KubeApiServer } from '../src/sim/kube/index.js';
import type { HistoryItem, MigrationObservation } from './chaos-invariants.js';
import type { ApiAnswer } from './chaos-world.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function memory(r: Redis): Promise<{ bytes: number; keys: number }> {
  for (let i = 0; i < 20; i++) {
    try {
      const info = await r.info('memory');
      const keys = await r.dbsize();
      return { bytes: Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0), keys };
    } catch {
      await sleep(500);
    }
  }
  return { bytes: NaN, keys: NaN };
}

type Call = (method: string, p: string) => Promise<ApiAnswer>;

export async function observe(
  call: Call,
  kube: KubeApiServer,
  fixtures: ScenarioFixture[],
  idByNs: Map<string, string>,
): Promise<MigrationObservation[]> {
  const out: MigrationObservation[] = [];
  for (const f of fixtures) {
    const id = idByNs.get(f.namespace);
    if (!id) continue;
    const r = await call('GET', `/v1/migrations/${id}`);
    const m = r.json.migration as
      { phase: string; weight: number; steps: number[]; reason?: string; updatedAt?: string } | undefined;
    const vsPath = `/namespaces/${f.namespace}/virtualservices/${f.virtualService}`;
    out.push({
      id,
      namespace: f.namespace,
      steps: m?.steps ?? [],
      phase: m?.phase ?? `unreadable (${r.status})`,
      storeWeight: m?.weight ?? NaN,
      ...(m?.reason ? { reason: m.reason } : {}),
      ...(m?.updatedAt ? { idleMs: Date.now() - Date.parse(m.updatedAt) } : {}),
      clusterWeight: clusterWeight(kube, f),
      clusterWrites: kube.requests
        .filter((q) => q.method === 'PATCH' && q.status < 300 && q.path.endsWith(vsPath))
        .map((q) => ({ at: q.at, weight: lastWeight(q.body) }))
        .filter((w): w is { at: number; weight: number } => w.weight !== undefined),
      history: (r.json.history as HistoryItem[] | undefined) ?? [],
    });
  }
  return out;
}

function lastWeight(body: unknown): number | undefined {
  const ops = Array.isArray(body) ? (body as Array<{ op?: string; value?: unknown }>) : [];
  const v = ops.filter((x) => x.op !== 'test').at(-1)?.value;
  if (typeof v === 'number') return v;
  const w = (v as { weight?: unknown } | undefined)?.weight;
  return typeof w === 'number' ? w : undefined;
}

function clusterWeight(kube: KubeApiServer, f: ScenarioFixture): number | undefined {
  const vs = kube.get({
    group: 'networking.istio.io',
    plural: 'virtualservices',
    namespace: f.namespace,
    name: f.virtualService,
  });
  const http = (
    vs?.spec as { http?: Array<{ route?: Array<{ destination?: { subset?: string }; weight?: number }> }> }
  )?.http;
  if (!http) return undefined;
  for (const r of http) {
    const routes = r.route ?? [];
    if (!routes.some((d) => d.destination?.subset === f.sourceSubset)) continue;
    const t = routes.find((d) => d.destination?.subset === f.targetSubset);
    return t ? (t.weight ?? (routes.length === 1 ? 100 : 0)) : 0;
  }
  return undefined;
}

/** namespace → how many migrations the API lists for it (all of them, finished or not). */
export async function createdByNamespace(call: Call): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (let offset = 0; ; offset += 1000) {
    let r = await call('GET', `/v1/migrations?limit=1000&offset=${offset}`);
    for (let k = 0; k < 10 && r.status !== 200; k++)
      r = await sleep(1000).then(() => call('GET', `/v1/migrations?limit=1000&offset=${offset}`));
    if (r.status !== 200) throw new Error(`GET /v1/migrations answered ${r.status}: cannot count migrations`);
    const items = (r.json.items as Array<{ namespace: string }> | undefined) ?? [];
    for (const m of items) out.set(m.namespace, (out.get(m.namespace) ?? 0) + 1);
    if (items.length < 1000) return out;
  }
}
