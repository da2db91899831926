/**
 * The open-loop load generator ("loadgen"): sends `rps` requests a second over keep-alive loopback HTTP to the
 * backend the route table picks, records the source reporter's metrics, and counts what it could not send.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { BackendRuntime } from './backend.js';
import { mulberry32 } from '../random.js';
import type { IstioMetrics } from './metrics-exposition.js';
import type { Router } from './routing.js';

const TICK_MS = 10;

export interface LoadOptions {
  rps: number;
  seed: number;
  grpc: boolean;
  method: string;
  path: string;
  maxInFlight: number;
  backends: readonly BackendRuntime[];
  router: Router;
  metrics: IstioMetrics;
  /** Whether the client side reports L7 metrics (a sidecar does; in ambient, ztunnel reports L4 only). */
  sourceReports: boolean;
  isClosed: () => boolean;
}

export class LoadGenerator {
  private readonly agent = new http.Agent({
    keepAlive: true,
    maxSockets: 512,
    maxFreeSockets: 512,
    scheduling: 'lifo',
  });
  private readonly routeRng: () => number;
  private readonly headersFor: Map<number, http.OutgoingHttpHeaders>;
  private readonly ticker: NodeJS.Timeout;
  private rps: number;
  private rateStart = performance.now();
  private sentSinceRateStart = 0;
  private inFlight = 0;
  droppedCount = 0;
  unroutedCount = 0;

  constructor(private readonly o: LoadOptions) {
    this.rps = o.rps;
    this.routeRng = mulberry32((o.seed ^ 0x5bd1e995) >>> 0);
    const baseHeaders = o.grpc
      ? { 'content-type': 'application/grpc', te: 'trailers', 'content-length': '0' }
      : { 'content-length': '0' };
    this.headersFor = new Map(
      o.backends.map((b) => [b.index, { ...baseHeaders, host: b.spec.destination.host }]),
    );
    this.ticker = setInterval(() => this.tick(), TICK_MS);
  }

  setRps(n: number): void {
    this.rps = n;
    this.rateStart = performance.now();
    this.sentSinceRateStart = 0;
  }

  stop(): void {
    clearInterval(this.ticker);
  }

  destroy(): void {
    this.agent.destroy();
  }

  private sendOne(): void {
    const b = this.o.router.pick(this.routeRng);
    if (b === undefined) {
      this.unroutedCount++;
      return;
    }
    if (this.inFlight >= this.o.maxInFlight) {
      this.droppedCount++;
      return;
    }
    this.inFlight++;
    const t0 = performance.now();
    let finished = false;
    const finish = (code: number, grpcStatus: string, flags: string): void => {
      if (finished) return;
      finished = true;
      this.inFlight--;
      if (this.o.isClosed() || !this.o.sourceReports) return;
      this.o.metrics.record('source', b, code, grpcStatus, flags, performance.now() - t0);
    };
    const req = http.request(
      {
        agent: this.agent,
        host: '127.0.0.1',
        port: b.port,
        method: this.o.method,
        path: this.o.path,
        headers: this.headersFor.get(b.index),
      },
      (res) => {
        const code = res.statusCode ?? 0;
        const gs = res.headers['grpc-status'];
        const grpcStatus = typeof gs === 'string' ? gs : code >= 500 ? '14' : '0';
        res.on('end', () => finish(code, grpcStatus, '-'));
        res.on('error', () => finish(503, '14', 'UF'));
        res.resume();
      },
    );
    // Envoy would turn a failed upstream connection into a local 503 with flag UF.
    req.on('error', () => finish(503, '14', 'UF'));
    req.end();
  }

  private tick(): void {
    if (this.o.isClosed() || this.rps <= 0) return;
    const now = performance.now();
    let due = Math.floor(((now - this.rateStart) * this.rps) / 1000) - this.sentSinceRateStart;
    if (due <= 0) return;
    // After a long event-loop stall do not fire more than one second's worth at once.
    const maxBurst = Math.max(1, Math.ceil(this.rps));
    if (due > maxBurst) {
      this.droppedCount += due - maxBurst;
      this.sentSinceRateStart += due - maxBurst;
      due = maxBurst;
    }
    this.sentSinceRateStart += due;
    for (let i = 0; i < due; i++) this.sendOne();
  }
}
