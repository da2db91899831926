/**
 * A lane: one migration's world inside a Kubernetes API test server shared by many lanes — its own namespace
 * seeded with the VM/Istio objects, its own mesh simulator routing by that namespace's VirtualService, scraped
 * by a real Prometheus (the shared one, or the lane's own when a scenario stops Prometheus).
 */
import { randomBytes } from 'node:crypto';
import { seedMigrationScenario } from '../../src/sim/istio-fixtures.js';
import type { ScenarioFixture } from '../../src/sim/scenario-fixture.js';
import type { KubeApiServer, KubeObject } from '../../src/sim/kube/index.js';
import {
  startMeshSim,
  subsetScenarioBackends,
  type BackendBehavior,
  type MeshSim,
} from '../../src/sim/mesh/index.js';
import { registerScrapeTarget, startPrometheus, type PrometheusServer } from '../../src/sim/prometheus.js';
import { planYamlFor } from '../../src/sim/scenario.js';

export interface LaneOptions {
  /** Inline policy YAML (see planYamlFor). */
  policy: string;
  rps: number;
  k8s?: Partial<BackendBehavior>;
  /** The shared Prometheus, or 'own' for a Prometheus only this lane uses (a scenario may stop it). */
  prometheus: { url: string; sdDir: string } | 'own';
  /** Seed a PERMISSIVE PeerAuthentication and ask the plan to tighten it after completion. */
  mtls?: boolean;
  /** Shift a Gateway API HTTPRoute in ambient (waypoint metrics) instead of a VirtualService with sidecars. */
  httpRoute?: boolean;
  label: string;
}

export interface Lane {
  namespace: string;
  fixture: ScenarioFixture;
  sim: MeshSim;
  planYaml: string;
  prometheusUrl: string;
  /** Set when the lane has its own Prometheus. */
  ownPrometheus?: PrometheusServer;
  /** Target weights of this lane's successful VirtualService PATCHes, in the order the server applied them. */
  weightWrites(): number[];
  /** spec.mtls.mode of the lane's PeerAuthentication (undefined without one). */
  mtlsMode(): string | undefined;
  /** Runs `fn` with the target weight of every VirtualService PATCH of this lane, before the server applies it. */
  onPatch(fn: (weight: number) => void | Promise<void>): void;
  waitForTraffic(timeoutMs?: number): Promise<void>;
  /** The simulator's view (weights it routes by, requests per side, dropped/unrouted) for failure messages. */
  diagnostics(): string;
  close(): Promise<void>;
}

const PA_NAME = 'productcatalogservice';

/** The target weight a JSON-patch body to a VirtualService sets (its last non-test op), if any. */
export function patchedWeight(body: unknown): number | undefined {
  const ops = Array.isArray(body) ? (body as Array<{ op?: string; value?: unknown }>) : [];
  const last = ops.filter((o) => o.op !== 'test').at(-1)?.value;
  if (typeof last === 'number') return last;
  if (last && typeof last === 'object' && 'weight' in last) {
    const w = (last as { weight: unknown }).weight;
    return typeof w === 'number' ? w : undefined;
  }
  return undefined;
}

export async function startLane(kube: KubeApiServer, o: LaneOptions): Promise<Lane> {
  const namespace = `par-${o.label}-${randomBytes(2).toString('hex')}`;
  const cleanups: Array<() => Promise<unknown>> = [];
  try {
    const routeKind = o.httpRoute ? 'HTTPRoute' : 'VirtualService';
    const fixture = seedMigrationScenario(kube, {
      namespace,
      mode: 'subsets',
      routeKind,
      dataPlane: o.httpRoute ? 'ambient' : 'sidecar',
    });
    if (o.mtls) kube.put(peerAuthentication(namespace));
    const backends = subsetScenarioBackends({
      namespace,
      service: fixture.service,
      mode: fixture.mode,
      routeKind,
      ...(o.k8s ? { k8s: o.k8s } : {}),
    });
    const sim = await startMeshSim({
      backends,
      rps: o.rps,
      seed: 42,
      routing: {
        kubeConfig: kube.kubeConfig(),
        namespace,
        name: fixture.virtualService,
        version: 'v1',
        kind: routeKind,
      },
      dataPlane: fixture.dataPlane,
    });
    cleanups.push(() => sim.close());
    let own: PrometheusServer | undefined;
    if (o.prometheus === 'own') {
      own = await startPrometheus({ scrapeIntervalSeconds: 1 });
      cleanups.push(() => own!.close());
    }
    const prom = own ? { url: own.url, sdDir: own.sdDir } : (o.prometheus as { url: string; sdDir: string });
    cleanups.unshift(await registerScrapeTarget(prom.sdDir, namespace, sim.metricsTarget));
    const mtlsBlock = o.mtls
      ? `  mtls:\n    peerAuthentication: ${PA_NAME}\n    tightenAfterCompletion: true\n`
      : '';
    const planYaml = planYamlFor(fixture, o.policy) + mtlsBlock;
    const plural = o.httpRoute ? 'httproutes' : 'virtualservices';
    const vsPath = `/namespaces/${namespace}/${plural}/${fixture.virtualService}`;
    const lane: Lane = {
      namespace,
      fixture,
      sim,
      planYaml,
      prometheusUrl: prom.url,
      ...(own ? { ownPrometheus: own } : {}),
      weightWrites: () =>
        kube.requests
          .filter((r) => r.method === 'PATCH' && r.status < 300 && r.path.endsWith(vsPath))
          .map((r) => patchedWeight(r.body))
          .filter((w): w is number => w !== undefined),
      mtlsMode: () => {
        const pa = kube.get({
          group: 'security.istio.io',
          plural: 'peerauthentications',
          namespace,
          name: PA_NAME,
        });
        return (pa?.spec as { mtls?: { mode?: string } } | undefined)?.mtls?.mode;
      },
      onPatch: (fn) => {
        const off = kube.onRequest(async (req) => {
          if (req.method !== 'PATCH' || !req.path.endsWith(vsPath)) return;
          const w = patchedWeight(req.body);
          if (w !== undefined) await fn(w);
        });
        cleanups.push(async () => off());
      },
      async waitForTraffic(timeoutMs = 60_000) {
        // What the preflight's observability check asks: an increase over a window, so two scrapes at least.
        const sel = o.httpRoute
          ? `reporter="waypoint",destination_service="${fixture.sourceHost}"`
          : `reporter="destination",destination_service="${fixture.host}",destination_version="vm"`;
        const q = `sum(increase(istio_requests_total{${sel}}[10s]))`;
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const n = await instant(prom.url, q).catch(() => 0);
          if (n > 0) return;
          if (Date.now() > deadline)
            throw new Error(`lane ${namespace}: no traffic in Prometheus after ${timeoutMs} ms`);
          await new Promise((r) => setTimeout(r, 250));
        }
      },
      diagnostics() {
        const st = sim.stats();
        const sides = Object.entries(st).map(([k, v]) => `${k} ${v.requests} req/${v.errors} err`);
        return `sim routes by ${JSON.stringify(sim.currentWeights())}; ${sides.join(', ')}; dropped ${sim.dropped()}, unrouted ${sim.unrouted()}`;
      },
      async close() {
        for (const c of cleanups.reverse()) await c().catch(() => undefined);
      },
    };
    return lane;
  } catch (err) {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    throw err;
  }
}

async function instant(url: string, q: string): Promise<number> {
  const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(q)}`, {
    signal: AbortSignal.timeout(2000),
  });
  const body = (await res.json()) as { data?: { result?: Array<{ value: [number, string] }> } };
  return Number(body.data?.result?.[0]?.value[1] ?? 0);
}

function peerAuthentication(namespace: string): KubeObject {
  return {
    apiVersion: 'security.istio.io/v1',
    kind: 'PeerAuthentication',
    metadata: { name: PA_NAME, namespace, labels: { app: PA_NAME } },
    spec: { selector: { matchLabels: { app: PA_NAME } }, mtls: { mode: 'PERMISSIVE' } },
  };
}
