/**
 * A seeded traffic model that produces Istio's standard metrics for both sides of a migration, as the
 * destination sidecars would report them: `istio_requests_total` (response_code, grpc_response_status) and
 * `istio_request_duration_milliseconds_bucket` with Istio's default buckets, one counter set per pod, sampled
 * at each scrape. Requests are Poisson; latency is log-normal with a long tail; errors are binomial.
 */
import { ISTIO_LATENCY_BUCKETS_MS } from '../../src/gate/input/buckets.js';
import { normalCdf } from '../../src/gate/stats/sequential.js';
import type { Rng } from './random.js';

export interface LatencyModel {
  medianMs: number;
  /** Log-normal shape of the body (p99 = median · e^(2.326σ)). */
  sigma: number;
  /** Share of requests from a slow tail component. */
  tailShare: number;
  tailMedianMs: number;
}

export interface SideBehaviour {
  /** Failed requests: HTTP 503, or HTTP 200 with gRPC status 14 (`grpcShare` of them). */
  errorRate: number;
  grpcShare: number;
  latency: LatencyModel;
}

/** Requests slower than this count as harmed (the VMs' p99 and an Istio bucket bound). */
export const HARM_LATENCY_MS = 100;

export interface Series {
  labels: Record<string, string> & { __name__: string };
  samples: Array<{ value: number; timestamp: number }>;
}

function lognormalCdf(x: number, median: number, sigma: number): number {
  return normalCdf(Math.log(x / median) / sigma);
}

export function latencyCdf(m: LatencyModel, x: number): number {
  return (
    (1 - m.tailShare) * lognormalCdf(x, m.medianMs, m.sigma) +
    m.tailShare * lognormalCdf(x, m.tailMedianMs, 0.5)
  );
}

/** Probability of each Istio bucket (le bounds, then +Inf). */
export function bucketProbabilities(m: LatencyModel): number[] {
  const out: number[] = [];
  let prev = 0;
  for (const b of ISTIO_LATENCY_BUCKETS_MS) {
    const c = latencyCdf(m, b);
    out.push(Math.max(0, c - prev));
    prev = c;
  }
  return out;
}

interface PodCounters {
  codes: Map<string, number>;
  buckets: number[] | undefined;
}

export interface SideLabels {
  labels: Record<string, string>;
  pods: number;
  /**
   * Who reports the side's requests: its destination sidecars (one series set per workload pod) or, in ambient,
   * the waypoint in front of it (series scraped from the waypoint's pods, `pod="waypoint-<i>"`).
   */
  reporter?: 'destination' | 'waypoint';
}

/** Ground truth for the harm measure (see harm.ts): what the containers served while regressed. */
export interface TargetTruth {
  /** Container requests served while regressed. */
  requests: number;
  /** Expected excess bad requests among them, over the whole run. */
  harmDuringRun: number;
  /** The same, counting only requests served before the harm horizon. */
  harmWithinHorizon: number;
}

export class SideTraffic {
  private pods: PodCounters[];
  private readonly series = new Map<string, Series>();
  private probCache = new Map<string, number[]>();

  constructor(
    private readonly side: SideLabels,
    private readonly rng: Rng,
  ) {
    this.pods = Array.from({ length: side.pods }, () => ({ codes: new Map(), buckets: undefined }));
  }

  private probs(m: LatencyModel): number[] {
    const key = `${m.medianMs}|${m.sigma}|${m.tailShare}|${m.tailMedianMs}`;
    let p = this.probCache.get(key);
    if (!p) {
      p = bucketProbabilities(m);
      this.probCache.set(key, p);
    }
    return p;
  }

  /**
   * Serves `n` requests with behaviour `b` (each pod's error rate × `podFactor(pod)`); returns errors and requests
   * slower than HARM_LATENCY_MS.
   */
  serve(
    n: number,
    b: SideBehaviour,
    podFactor: (pod: number) => number = () => 1,
  ): { errors: number; slow: number } {
    const perPod = this.rng.multinomial(n, Array(this.pods.length - 1).fill(1 / this.pods.length));
    let errors = 0;
    let slow = 0;
    const probs = this.probs(b.latency);
    const harmIndex = ISTIO_LATENCY_BUCKETS_MS.indexOf(HARM_LATENCY_MS);
    this.pods.forEach((pod, i) => {
      const k = perPod[i] ?? 0;
      if (k === 0) return;
      const e = this.rng.binomial(k, Math.min(1, b.errorRate * podFactor(i)));
      const grpc = this.rng.binomial(e, b.grpcShare);
      const add = (code: string, v: number) => {
        if (v > 0) pod.codes.set(code, (pod.codes.get(code) ?? 0) + v);
      };
      add('200|0', k - e);
      add('200|14', grpc);
      add('503|14', e - grpc);
      const counts = this.rng.multinomial(k, probs.slice(0, -1));
      pod.buckets ??= Array(ISTIO_LATENCY_BUCKETS_MS.length).fill(0) as number[];
      let cum = 0;
      for (let j = 0; j < ISTIO_LATENCY_BUCKETS_MS.length; j++) {
        cum += counts[j] ?? 0;
        pod.buckets[j]! += cum;
        if (j > harmIndex) slow += counts[j] ?? 0;
      }
      slow += counts[ISTIO_LATENCY_BUCKETS_MS.length] ?? 0;
      pod.codes.set('total', (pod.codes.get('total') ?? 0) + k);
      errors += e;
    });
    return { errors, slow };
  }

  /** A container restart: every counter of the pod starts again from zero (Prometheus sees a reset). */
  restartPod(i: number): void {
    this.pods[i] = { codes: new Map(), buckets: undefined };
  }

  private push(labels: Series['labels'], value: number, at: number) {
    const key = JSON.stringify(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels, samples: [] };
      this.series.set(key, s);
    }
    s.samples.push({ value, timestamp: at });
  }

  /** Records one scrape of every existing series at virtual time `at`. */
  scrape(at: number): void {
    this.pods.forEach((pod, i) => {
      const base = {
        ...this.side.labels,
        reporter: this.side.reporter ?? 'destination',
        pod:
          this.side.reporter === 'waypoint'
            ? `waypoint-${i}`
            : `${this.side.labels.destination_workload}-${i}`,
      };
      for (const [code, v] of pod.codes) {
        if (code === 'total') continue;
        const [responseCode, grpc] = code.split('|') as [string, string];
        this.push(
          {
            __name__: 'istio_requests_total',
            ...base,
            response_code: responseCode,
            grpc_response_status: grpc,
            response_flags: '-',
          },
          v,
          at,
        );
      }
      if (!pod.buckets) return;
      const total = pod.codes.get('total') ?? 0;
      ISTIO_LATENCY_BUCKETS_MS.forEach((b, j) =>
        this.push(
          { __name__: 'istio_request_duration_milliseconds_bucket', ...base, le: String(b) },
          pod.buckets![j]!,
          at,
        ),
      );
      this.push({ __name__: 'istio_request_duration_milliseconds_bucket', ...base, le: '+Inf' }, total, at);
    });
  }

  /** The samples recorded since the last drain. */
  drain(): Series[] {
    const out = [...this.series.values()].filter((s) => s.samples.length > 0);
    this.series.clear();
    return out;
  }
}
