/**
 * One simulated backend ("vm", "k8s", ...): a `node:http` server on 127.0.0.1:0 that sleeps a log-normal latency
 * and answers 200 (grpc-status 0 / 14) or 503, counting what it served (the destination reporter's view).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { mulberry32 } from '../random.js';
import { LatencySampler } from './latency.js';
import { ISTIO_DURATION_BUCKETS, bucketIndex, type IstioMetrics } from './metrics-exposition.js';
import { normalizeHost } from './route-match.js';
import type { BackendBehavior, BackendSpec, BackendStats } from './types.js';

export interface BackendRuntime {
  spec: BackendSpec;
  index: number;
  behavior: BackendBehavior;
  sampler: LatencySampler;
  rng: () => number;
  server: http.Server;
  port: number;
  pending: Set<NodeJS.Timeout>;
  stats: BackendStats;
  /** normalised destination host */
  host: string;
  /** static per-backend label pairs (destination side of the label set) */
  destLabels: Array<[string, string]>;
}

/** What every backend of one simulator shares. */
export interface BackendContext {
  grpc: boolean;
  seed: number;
  slowMs: number;
  /** Namespace short VirtualService hosts are relative to (undefined for static routing). */
  vsNamespace: string | undefined;
  metrics: IstioMetrics;
  /** Who reports the server side: the destination sidecar, or (ambient) the waypoint in front of the backends. */
  serverReporter: 'destination' | 'waypoint';
  isClosed: () => boolean;
}

export async function listen(server: http.Server): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export async function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

function emptyStats(): BackendStats {
  return {
    requests: 0,
    errors: 0,
    slow: 0,
    buckets: ISTIO_DURATION_BUCKETS.map(() => 0),
    latencySumMs: 0,
  };
}

function destinationLabels(spec: BackendSpec): Array<[string, string]> {
  const l = spec.labels;
  const canonical = l.destination_canonical_service ?? l.destination_service_name;
  return [
    ['destination_workload', l.destination_workload],
    ['destination_workload_namespace', l.destination_workload_namespace],
    [
      'destination_principal',
      `spiffe://cluster.local/ns/${l.destination_workload_namespace}/sa/${l.destination_workload}`,
    ],
    ['destination_app', canonical],
    ['destination_version', l.destination_version],
    ['destination_service', l.destination_service],
    ['destination_service_name', l.destination_service_name],
    ['destination_service_namespace', l.destination_service_namespace],
    ['destination_canonical_service', canonical],
    ['destination_canonical_revision', l.destination_canonical_revision ?? l.destination_version],
    ['destination_cluster', 'Kubernetes'],
  ];
}

/** Answers one request after the sampled latency; records the destination-side metrics. */
function serve(
  b: BackendRuntime,
  ctx: BackendContext,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): void {
  const { grpc } = ctx;
  const t0 = performance.now();
  req.resume();
  const beh = b.behavior;
  const delay = b.sampler.sample();
  let code = 200;
  let grpcStatus = '0';
  if (b.rng() < beh.errorRate) {
    code = 503;
    grpcStatus = '14'; // Envoy maps HTTP 503 to UNAVAILABLE for gRPC requests
  } else if (grpc && (beh.grpcErrorRate ?? 0) > 0 && b.rng() < (beh.grpcErrorRate ?? 0)) {
    grpcStatus = '14';
  }
  const timer = setTimeout(() => {
    b.pending.delete(timer);
    if (ctx.isClosed()) return;
    if (grpc) {
      res.writeHead(code, {
        'content-type': 'application/grpc',
        'grpc-status': grpcStatus,
        'content-length': '0',
      });
    } else {
      res.writeHead(code, { 'content-type': 'text/plain', 'content-length': '0' });
    }
    res.end();
    const ms = performance.now() - t0;
    const st = b.stats;
    st.requests += 1;
    if (code >= 500 || (grpc && grpcStatus !== '0')) st.errors += 1;
    if (ms > ctx.slowMs) st.slow += 1;
    const bi = bucketIndex(ms);
    for (let i = bi; i < st.buckets.length; i++) st.buckets[i] = (st.buckets[i] as number) + 1;
    st.latencySumMs += ms;
    ctx.metrics.record(ctx.serverReporter, b, code, grpcStatus, '-', ms);
  }, delay);
  b.pending.add(timer);
}

/** Starts backend `index`; its server is pushed onto `servers` before listening (so a failure can close it). */
export async function startBackend(
  spec: BackendSpec,
  index: number,
  ctx: BackendContext,
  servers: http.Server[],
): Promise<BackendRuntime> {
  const rng = mulberry32((ctx.seed ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0);
  const sampler = new LatencySampler(rng);
  sampler.configure(spec.behavior.latency);
  const b: BackendRuntime = {
    spec,
    index,
    behavior: { ...spec.behavior, latency: { ...spec.behavior.latency } },
    sampler,
    rng,
    server: http.createServer(),
    port: 0,
    pending: new Set(),
    stats: emptyStats(),
    host: normalizeHost(spec.destination.host, ctx.vsNamespace),
    destLabels: destinationLabels(spec),
  };
  b.server.keepAliveTimeout = 30_000;
  b.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => serve(b, ctx, req, res));
  servers.push(b.server);
  b.port = await listen(b.server);
  return b;
}
