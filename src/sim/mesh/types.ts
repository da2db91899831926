/** The public shapes of the mesh traffic simulator: backends, their behaviour, routing, stats, the simulator. */
import type { KubeConfig } from '@kubernetes/client-node';

export interface BackendBehavior {
  /** Log-normal latency given by two quantiles; optional hard floor. */
  latency: { p50Ms: number; p99Ms: number; floorMs?: number };
  /** Probability of an HTTP 503 answer. */
  errorRate: number;
  /** Probability (among non-503 answers) of HTTP 200 + grpc-status 14. gRPC protocol only. */
  grpcErrorRate?: number;
}

export interface BackendSpec {
  /** 'vm' | 'k8s' (any unique name works). */
  name: string;
  /** Route destination this backend stands for (VirtualService host + subset, or an HTTPRoute backendRef's host). */
  destination: { host: string; subset?: string };
  labels: {
    destination_service: string;
    destination_service_name: string;
    destination_service_namespace: string;
    destination_version: string;
    destination_workload: string;
    destination_workload_namespace: string;
    destination_canonical_service?: string;
    destination_canonical_revision?: string;
  };
  behavior: BackendBehavior;
}

export interface KubeRouting {
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
  /** The route object followed: an Istio VirtualService (default) or a Gateway API HTTPRoute. */
  kind?: 'VirtualService' | 'HTTPRoute';
  /** API version of the route's group, default 'v1'. */
  version?: string;
  /** `timeoutSeconds` asked of each watch request (server closes it, we re-watch), default 300. */
  watchTimeoutSeconds?: number;
}

export interface StaticRouting {
  /** backend name -> weight (percent; normalised by the total). */
  static: Record<string, number>;
}

export interface MeshSimOptions {
  backends: BackendSpec[];
  rps: number;
  /** Default 'grpc'. */
  protocol?: 'grpc' | 'http';
  seed?: number;
  routing: KubeRouting | StaticRouting;
  /**
   * sidecar (default): the load generator's sidecar reports `source`, the backends' sidecars `destination`.
   * ambient: only the waypoint in front of the backends reports L7 metrics (`waypoint`); ztunnel is L4.
   */
  dataPlane?: 'sidecar' | 'ambient';
  /** Threshold for BackendStats.slow, default 500 ms. */
  slowThresholdMs?: number;
  /** Cap on concurrent requests of the load generator, default 2000 (excess is dropped and counted). */
  maxInFlight?: number;
  /** Identity of the load generator; defaults: workload 'loadgen', namespace of the first backend. */
  source?: { workload?: string; namespace?: string };
  /** Request path; default '/<service>.Service/Call' for grpc, '/' for http. */
  requestPath?: string;
}

export interface BackendStats {
  requests: number;
  /** 5xx + grpc-status != 0 */
  errors: number;
  /** latency > slowThresholdMs */
  slow: number;
  /** cumulative histogram counts per ISTIO_DURATION_BUCKETS bound, last one is +Inf */
  buckets: number[];
  latencySumMs: number;
}

export interface MeshSim {
  /** http://127.0.0.1:PORT/metrics */
  readonly metricsUrl: string;
  /** '127.0.0.1:PORT' for a Prometheus scrape config */
  readonly metricsTarget: string;
  setBehavior(backend: string, patch: Partial<BackendBehavior>): void;
  setRps(rps: number): void;
  currentWeights(): Record<string, number>;
  weightTimeline(): Array<{ at: number; weights: Record<string, number> }>;
  /** cumulative, destination side; a copy */
  stats(): Record<string, BackendStats>;
  /** requests not sent because maxInFlight was reached (or a catch-up burst was too large) */
  dropped(): number;
  /** requests not sent because no route / no known destination matched (Envoy would answer 404 NR / 503 NC) */
  unrouted(): number;
  waitForWeights(
    pred: (w: Record<string, number>) => boolean,
    timeoutMs: number,
  ): Promise<Record<string, number>>;
  /** stops load, closes all servers and the watch; leaves no handles open */
  close(): Promise<void>;
}
