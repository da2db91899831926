/**
 * The workers of `meshshift serve`: the mesh adapter (Kubernetes), the metrics provider (Prometheus, batched per
 * tick), the PeerAuthentication step, and the BullMQ worker that drives migrations with them.
 */
import type { MetricsProvider } from '../gate/input/provider.js';
import { PrometheusProvider } from '../gate/prometheus.js';
import type { Logger } from '../log/logger.js';
import { PeerAuthenticationAdapter } from '../mesh/peer-authentication.js';
import type { MtlsStep } from '../engine/effects.js';
import { IstioMeshAdapter } from '../mesh/istio.js';
import { loadKubeConfig } from '../mesh/kube/config.js';
import type { MeshAdapter } from '../mesh/types.js';
import { BatchingMetricsProvider } from '../worker/batching.js';
import type { ServiceMetrics } from '../worker/metrics.js';
import { MigrationWorker } from '../worker/worker.js';
import { kubeConfigOptions, type ServeDeps, type ServeOptions } from './options.js';
import type { Backends, RedisSide } from './redis.js';

type KubeConfig = ReturnType<typeof loadKubeConfig>;

export interface Workers {
  worker: MigrationWorker;
  provider: MetricsProvider;
}

/** The workers, started: they take drive jobs from the queue from now on. */
export async function startWorkers(
  o: ServeOptions,
  deps: ServeDeps,
  p: { logger: Logger; metrics: ServiceMetrics; redis: RedisSide; backends: Backends },
): Promise<Workers> {
  const { mesh, kc } = deps.mesh ? { mesh: deps.mesh, kc: undefined } : istioMesh(o, p.metrics);
  const { provider, prom } = deps.metricsProvider
    ? { provider: deps.metricsProvider, prom: undefined }
    : prometheusProvider(o, p.metrics);
  // "Policy second" (plan spec.mtls): the same PeerAuthentication adapter `meshshift run` uses.
  const mtls = deps.mtls ?? peerAuthentication(kc, prom);
  const worker = new MigrationWorker({
    ...(mtls ? { mtls } : {}),
    store: p.backends.workerStore!,
    queue: p.backends.workerQueue!,
    connection: p.redis.connections.bull('worker', 'meshshift-bullmq-worker'),
    mesh,
    metrics: provider,
    logger: p.logger,
    ...(deps.clock ? { clock: deps.clock } : {}),
    serviceMetrics: p.metrics,
    concurrency: o.concurrency,
    lockTtlMs: o.lockTtlMs,
    limits: { perNamespace: o.maxPerNamespace, total: o.maxConcurrent },
    tickAlignMs: o.tickAlignMs,
    reconcileEveryMs: o.reconcileEveryMs,
    redisHealth: p.redis.health,
  });
  await worker.start();
  return { worker, provider };
}

/** Istio on the cluster of --kubeconfig / --context; every Kubernetes call is timed and its failures counted. */
function istioMesh(o: ServeOptions, metrics: ServiceMetrics): { mesh: MeshAdapter; kc: KubeConfig } {
  const kc = loadKubeConfig(kubeConfigOptions(o));
  const mesh = new IstioMeshAdapter(kc, {
    onCall: ({ verb, ms, ok, code }) => {
      metrics.kubeCalls.observe({ verb, outcome: ok ? 'ok' : 'error' }, ms / 1000);
      if (!ok) metrics.kubeErrors.inc({ verb, code: String(code ?? 0) });
    },
  });
  return { mesh, kc };
}

/**
 * Prometheus at --prometheus (required), every query timed and its failures counted; with a batch window, one
 * query per tick for all window-method migrations, and the sequential method's raw reads grouped (up to 64 a
 * query).
 */
function prometheusProvider(
  o: ServeOptions,
  metrics: ServiceMetrics,
): { provider: MetricsProvider; prom: PrometheusProvider } {
  if (!o.prometheus)
    throw new Error('workers need Prometheus: pass --prometheus URL or set MESHSHIFT_PROMETHEUS_URL');
  const prom = new PrometheusProvider({
    url: o.prometheus,
    // The sequential method's raw reads of migrations ticking together share a query (raw-batch.ts).
    ...(o.batchWindowMs > 0 ? { batchRawReads: { windowMs: o.batchWindowMs } } : {}),
    onQuery: ({ ms, ok }) => {
      metrics.prometheusQueries.observe({ outcome: ok ? 'ok' : 'error' }, ms / 1000);
      if (!ok) metrics.prometheusErrors.inc();
    },
  });
  const provider =
    o.batchWindowMs > 0 ? new BatchingMetricsProvider(prom, o.batchWindowMs, o.tickAlignMs) : prom;
  return { provider, prom };
}

/** The PeerAuthentication step, when both the cluster and Prometheus are real (not injected). */
function peerAuthentication(
  kc: KubeConfig | undefined,
  prom: PrometheusProvider | undefined,
): MtlsStep | undefined {
  return kc && prom ? new PeerAuthenticationAdapter(kc, { query: (q) => prom.query(q) }) : undefined;
}
