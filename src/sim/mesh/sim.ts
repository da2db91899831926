/**
 * Mesh traffic simulator: a stand-in for the Istio data plane of ONE migrating
 * service, using real loopback HTTP.
 *
 *  - one `node:http` server per backend ("vm", "k8s", ...) on 127.0.0.1:0 that
 *    sleeps a log-normal latency and answers 200 (grpc-status 0 / 14) or 503;
 *  - an open-loop load generator ("loadgen") that routes every request the way
 *    Envoy would from a VirtualService (watched on a Kubernetes API server) or
 *    from a static weight map;
 *  - Istio standard metrics (`istio_requests_total`,
 *    `istio_request_duration_milliseconds`) for both reporters, served at
 *    `GET /metrics` on a separate loopback server for Prometheus to scrape.
 *
 * This module is used by tests AND by the demo at runtime: it must not import
 * vitest. Only 127.0.0.1 is ever contacted (plus the Kubernetes API server the
 * caller's KubeConfig points at, which in tests is our loopback fake).
 */
import http from 'node:http';
import { closeServer, listen, startBackend, type BackendContext, type BackendRuntime } from './backend.js';
import { validateBehavior } from './latency.js';
import { LoadGenerator } from './load.js';
import { IstioMetrics } from './metrics-exposition.js';
import type { RequestShape } from './route-match.js';
import { Router } from './routing.js';
import type { BackendBehavior, BackendSpec, MeshSim, MeshSimOptions } from './types.js';
import { RouteWatch, errorCode } from './watch.js';

function validateOptions(opts: MeshSimOptions): void {
  if (opts.backends.length === 0) throw new Error('startMeshSim: at least one backend is required');
  const names = new Set<string>();
  for (const b of opts.backends) {
    if (names.has(b.name)) throw new Error(`startMeshSim: duplicate backend name ${b.name}`);
    names.add(b.name);
    validateBehavior(b.name, b.behavior);
  }
  if (!(opts.rps >= 0)) throw new Error('startMeshSim: rps must be >= 0');
  if ('static' in opts.routing) {
    for (const [name, weight] of Object.entries(opts.routing.static)) {
      if (!names.has(name)) throw new Error(`startMeshSim: static routing names unknown backend ${name}`);
      if (!(weight >= 0)) throw new Error(`startMeshSim: static routing weight for ${name} must be >= 0`);
    }
  }
}

function sourceLabelsOf(srcWorkload: string, srcNs: string): Array<[string, string]> {
  return [
    ['source_workload', srcWorkload],
    ['source_workload_namespace', srcNs],
    ['source_principal', `spiffe://cluster.local/ns/${srcNs}/sa/${srcWorkload}`],
    ['source_app', srcWorkload],
    ['source_version', 'v1'],
    ['source_canonical_service', srcWorkload],
    ['source_canonical_revision', 'v1'],
    ['source_cluster', 'Kubernetes'],
  ];
}

function metricsServerFor(metrics: IstioMetrics): http.Server {
  return http.createServer((req, res) => {
    if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
      const body = metrics.render();
      res.writeHead(200, {
        'content-type': 'text/plain; version=0.0.4; charset=utf-8',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  });
}

/** What one running simulator is made of (for its handle and its shutdown). */
interface Running {
  state: { closed: boolean };
  backends: BackendRuntime[];
  servers: http.Server[];
  metricsServer: http.Server;
  metricsPort: number;
  router: Router;
  load: LoadGenerator;
  watch: RouteWatch | undefined;
}

/** Static weights, or a watch on the VirtualService (read once now: a failure closes the backends and throws). */
async function followRouting(
  routing: MeshSimOptions['routing'],
  router: Router,
  state: Running['state'],
  servers: http.Server[],
): Promise<RouteWatch | undefined> {
  if ('static' in routing) {
    router.setStatic(routing.static);
    return undefined;
  }
  const watch = new RouteWatch(routing, router, () => state.closed);
  try {
    await watch.start();
    return watch;
  } catch (err) {
    state.closed = true;
    await Promise.all(servers.map((s) => closeServer(s)));
    const code = errorCode(err);
    throw new Error(
      `startMeshSim: cannot read ${routing.kind ?? 'VirtualService'} ${routing.namespace}/${routing.name}` +
        `${code !== undefined ? ` (HTTP ${code})` : ''}: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}

function handleFor(r: Running): MeshSim {
  const { backends, router, load } = r;
  const byName = new Map(backends.map((b) => [b.spec.name, b]));
  let closing: Promise<void> | undefined;
  return {
    metricsUrl: `http://127.0.0.1:${r.metricsPort}/metrics`,
    metricsTarget: `127.0.0.1:${r.metricsPort}`,

    setBehavior(name, patch) {
      const b = byName.get(name);
      if (b === undefined) throw new Error(`setBehavior: unknown backend ${name}`);
      const next: BackendBehavior = {
        ...b.behavior,
        ...patch,
        latency: { ...(patch.latency ?? b.behavior.latency) },
      };
      validateBehavior(name, next);
      b.behavior = next;
      b.sampler.configure(next.latency);
    },

    setRps(n) {
      if (!(n >= 0)) throw new Error('setRps: rps must be >= 0');
      load.setRps(n);
    },

    currentWeights: () => router.currentWeights(),
    weightTimeline: () => router.weightTimeline(),

    stats() {
      return Object.fromEntries(
        backends.map((b) => [b.spec.name, { ...b.stats, buckets: [...b.stats.buckets] }]),
      );
    },

    dropped: () => load.droppedCount,
    unrouted: () => load.unroutedCount,
    waitForWeights: (pred, timeoutMs) => router.waitForWeights(pred, timeoutMs),

    close() {
      closing ??= (async () => {
        r.state.closed = true;
        load.stop();
        await r.watch?.stop();
        for (const b of backends) {
          for (const t of b.pending) clearTimeout(t);
          b.pending.clear();
        }
        load.destroy();
        await Promise.all([...r.servers, r.metricsServer].map((s) => closeServer(s)));
      })();
      return closing;
    },
  };
}

export async function startMeshSim(opts: MeshSimOptions): Promise<MeshSim> {
  validateOptions(opts);
  const protocol = opts.protocol ?? 'grpc';
  const grpc = protocol === 'grpc';
  const seed = opts.seed ?? 1;
  const first = opts.backends[0] as BackendSpec;
  const srcNs = opts.source?.namespace ?? first.labels.destination_workload_namespace;
  const srcWorkload = opts.source?.workload ?? 'loadgen';
  const vsNamespace = 'static' in opts.routing ? undefined : opts.routing.namespace;
  const method = grpc ? 'POST' : 'GET';
  const path = opts.requestPath ?? (grpc ? `/${first.labels.destination_service_name}.Service/Call` : '/');
  const requestShape: RequestShape = {
    uri: path,
    method,
    authority: first.destination.host,
    scheme: 'http',
    sourceLabels: { app: srcWorkload, version: 'v1' },
    sourceNamespace: srcNs,
  };
  const metrics = new IstioMetrics(protocol, sourceLabelsOf(srcWorkload, srcNs));

  const state = { closed: false };
  const isClosed = (): boolean => state.closed;
  const servers: http.Server[] = [];
  const backends: BackendRuntime[] = [];
  const slowMs = opts.slowThresholdMs ?? 500;
  const ambient = opts.dataPlane === 'ambient';
  const serverReporter = ambient ? 'waypoint' : 'destination';
  const ctx: BackendContext = { grpc, seed, slowMs, vsNamespace, metrics, serverReporter, isClosed };
  try {
    for (const [index, spec] of opts.backends.entries())
      backends.push(await startBackend(spec, index, ctx, servers));
  } catch (err) {
    await Promise.all(servers.map((s) => closeServer(s).catch(() => undefined)));
    throw err;
  }
  const router = new Router(backends, requestShape, vsNamespace);
  const watch = await followRouting(opts.routing, router, state, servers);
  const maxInFlight = opts.maxInFlight ?? 2000;
  const load = new LoadGenerator({
    rps: opts.rps,
    seed,
    grpc,
    method,
    path,
    maxInFlight,
    backends,
    router,
    metrics,
    sourceReports: !ambient,
    isClosed,
  });

  const metricsServer = metricsServerFor(metrics);
  let metricsPort: number;
  try {
    metricsPort = await listen(metricsServer);
  } catch (err) {
    state.closed = true;
    load.stop();
    load.destroy();
    await watch?.stop();
    await Promise.all(servers.map((s) => closeServer(s)));
    throw err;
  }
  return handleFor({ state, backends, servers, metricsServer, metricsPort, router, load, watch });
}
