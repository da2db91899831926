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
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { CustomObjectsApi, Watch } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

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
  /** VirtualService destination this backend stands for. */
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
  group?: 'networking.istio.io';
  /** API version of networking.istio.io, default 'v1'. */
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

/** Istio's default buckets for istio_request_duration_milliseconds (+Inf last). */
export const ISTIO_DURATION_BUCKETS: readonly number[] = [
  0.5,
  1,
  5,
  10,
  25,
  50,
  100,
  250,
  500,
  1000,
  2500,
  5000,
  10000,
  30000,
  60000,
  300000,
  600000,
  1800000,
  3600000,
  Number.POSITIVE_INFINITY,
];

// ---------------------------------------------------------------------------
// PRNG and latency sampling
// ---------------------------------------------------------------------------

/** mulberry32: tiny, fast, seedable PRNG returning [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** z-score of the 99th percentile of the standard normal distribution. */
const Z99 = 2.3263;

/**
 * Stand-alone latency sampler (same algorithm as the backends use), handy for
 * tests and for picking behaviour parameters.
 */
export function createLatencySampler(seed: number, latency: BackendBehavior['latency']): () => number {
  const s = new LatencySampler(mulberry32(seed));
  s.configure(latency);
  return () => s.sample();
}

class LatencySampler {
  private mu = 0;
  private sigma = 0;
  private floor = 0;
  private spare: number | undefined;

  constructor(private readonly rng: () => number) {}

  configure(l: BackendBehavior['latency']): void {
    this.mu = Math.log(l.p50Ms);
    this.sigma = Math.log(l.p99Ms / l.p50Ms) / Z99;
    this.floor = l.floorMs ?? 0;
  }

  private normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.rng();
    const v = this.rng();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  sample(): number {
    const x = this.sigma === 0 ? Math.exp(this.mu) : Math.exp(this.mu + this.sigma * this.normal());
    // setTimeout cannot take more than 2^31-1 ms.
    return Math.min(Math.max(x, this.floor), 2_000_000_000);
  }
}

function validateBehavior(name: string, b: BackendBehavior): void {
  const { p50Ms, p99Ms, floorMs } = b.latency;
  if (!(p50Ms > 0) || !(p99Ms >= p50Ms) || !Number.isFinite(p99Ms)) {
    throw new Error(`backend ${name}: latency needs 0 < p50Ms <= p99Ms (got p50Ms=${p50Ms}, p99Ms=${p99Ms})`);
  }
  if (floorMs !== undefined && !(floorMs >= 0)) {
    throw new Error(`backend ${name}: floorMs must be >= 0`);
  }
  if (!(b.errorRate >= 0 && b.errorRate <= 1)) {
    throw new Error(`backend ${name}: errorRate must be within [0, 1]`);
  }
  const g = b.grpcErrorRate ?? 0;
  if (!(g >= 0 && g <= 1)) throw new Error(`backend ${name}: grpcErrorRate must be within [0, 1]`);
}

// ---------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function renderLabels(pairs: Array<[string, string]>): string {
  return pairs.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',');
}

function bucketIndex(ms: number): number {
  const n = ISTIO_DURATION_BUCKETS.length;
  for (let i = 0; i < n - 1; i++) {
    if (ms <= (ISTIO_DURATION_BUCKETS[i] as number)) return i;
  }
  return n - 1;
}

interface Series {
  /** rendered label set without braces */
  labels: string;
  /** non-cumulative counts per bucket */
  counts: number[];
  sum: number;
  count: number;
}

const BUCKET_LE: readonly string[] = ISTIO_DURATION_BUCKETS.map((b) =>
  b === Number.POSITIVE_INFINITY ? '+Inf' : String(b),
);

// ---------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------

interface RouteTable {
  /** backend indexes, parallel to cum */
  targets: number[];
  /** cumulative weights */
  cum: number[];
  total: number;
}

const EMPTY_TABLE: RouteTable = { targets: [], cum: [], total: 0 };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Istio resolves short host names relative to the VirtualService's namespace. */
function normalizeHost(host: string, namespace: string | undefined): string {
  if (host.includes('.') || namespace === undefined) return host;
  return `${host}.${namespace}.svc.cluster.local`;
}

interface RequestShape {
  uri: string;
  method: string;
  authority: string;
  scheme: string;
  sourceLabels: Record<string, string>;
  sourceNamespace: string;
}

function stringMatch(m: unknown, value: string, ignoreCase: boolean): boolean {
  if (!isRecord(m)) return true;
  const v = ignoreCase ? value.toLowerCase() : value;
  const norm = (s: unknown): string | undefined =>
    typeof s === 'string' ? (ignoreCase ? s.toLowerCase() : s) : undefined;
  const exact = norm(m.exact);
  if (exact !== undefined) return v === exact;
  const prefix = norm(m.prefix);
  if (prefix !== undefined) return v.startsWith(prefix);
  if (typeof m.regex === 'string') {
    try {
      return new RegExp(`^(?:${m.regex})$`).test(value);
    } catch {
      return false;
    }
  }
  return true;
}

/** One HTTPMatchRequest against the load generator's (header-less) requests. */
function matchRequest(m: unknown, req: RequestShape): boolean {
  if (!isRecord(m)) return true;
  const ic = m.ignoreUriCase === true;
  if (m.uri !== undefined && !stringMatch(m.uri, req.uri, ic)) return false;
  if (m.method !== undefined && !stringMatch(m.method, req.method, false)) return false;
  if (m.authority !== undefined && !stringMatch(m.authority, req.authority, false)) return false;
  if (m.scheme !== undefined && !stringMatch(m.scheme, req.scheme, false)) return false;
  // The generator sends no special headers / query params: any such condition fails.
  if (isRecord(m.headers) && Object.keys(m.headers).length > 0) return false;
  if (isRecord(m.queryParams) && Object.keys(m.queryParams).length > 0) return false;
  // withoutHeaders: header must be absent (or not matching) -> always satisfied.
  if (isRecord(m.sourceLabels)) {
    for (const [k, v] of Object.entries(m.sourceLabels)) {
      if (req.sourceLabels[k] !== v) return false;
    }
  }
  if (typeof m.sourceNamespace === 'string' && m.sourceNamespace !== req.sourceNamespace) return false;
  if (Array.isArray(m.gateways) && m.gateways.length > 0 && !m.gateways.includes('mesh')) return false;
  return true;
}

function routeMatches(route: Record<string, unknown>, req: RequestShape): boolean {
  const match = route.match;
  if (!Array.isArray(match) || match.length === 0) return true;
  return match.some((m) => matchRequest(m, req));
}

// ---------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------

interface BackendRuntime {
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

type Reporter = 'destination' | 'source';

async function listen(server: http.Server): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

async function closeServer(server: http.Server): Promise<void> {
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

function sameWeights(a: Record<string, number>, b: Record<string, number>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => a[k] === b[k]);
}

function errorCode(err: unknown): number | undefined {
  if (!isRecord(err) && !(err instanceof Error)) return undefined;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}

const TICK_MS = 10;

export async function startMeshSim(opts: MeshSimOptions): Promise<MeshSim> {
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

  const protocol = opts.protocol ?? 'grpc';
  const grpc = protocol === 'grpc';
  const seed = opts.seed ?? 1;
  const slowMs = opts.slowThresholdMs ?? 500;
  const maxInFlight = opts.maxInFlight ?? 2000;
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

  const sourceLabels: Array<[string, string]> = [
    ['source_workload', srcWorkload],
    ['source_workload_namespace', srcNs],
    ['source_principal', `spiffe://cluster.local/ns/${srcNs}/sa/${srcWorkload}`],
    ['source_app', srcWorkload],
    ['source_version', 'v1'],
    ['source_canonical_service', srcWorkload],
    ['source_canonical_revision', 'v1'],
    ['source_cluster', 'Kubernetes'],
  ];

  // --- metrics store -------------------------------------------------------
  const series = new Map<string, Series>();
  const backends: BackendRuntime[] = [];

  function record(
    reporter: Reporter,
    b: BackendRuntime,
    code: number,
    grpcStatus: string,
    flags: string,
    ms: number,
  ): void {
    const key = `${reporter}|${b.index}|${code}|${grpcStatus}|${flags}`;
    let s = series.get(key);
    if (s === undefined) {
      const pairs: Array<[string, string]> = [
        ['reporter', reporter],
        ...sourceLabels,
        ...b.destLabels,
        ['request_protocol', protocol],
        ['response_code', String(code)],
        ['grpc_response_status', grpc ? grpcStatus : ''],
        ['response_flags', flags],
        ['connection_security_policy', reporter === 'destination' ? 'mutual_tls' : 'unknown'],
      ];
      s = { labels: renderLabels(pairs), counts: ISTIO_DURATION_BUCKETS.map(() => 0), sum: 0, count: 0 };
      series.set(key, s);
    }
    const i = bucketIndex(ms);
    s.counts[i] = (s.counts[i] as number) + 1;
    s.sum += ms;
    s.count += 1;
  }

  function renderMetrics(): string {
    const all = [...series.values()];
    const out: string[] = [];
    out.push('# HELP istio_requests_total Total requests.');
    out.push('# TYPE istio_requests_total counter');
    for (const s of all) out.push(`istio_requests_total{${s.labels}} ${s.count}`);
    out.push('# HELP istio_request_duration_milliseconds Request duration in milliseconds.');
    out.push('# TYPE istio_request_duration_milliseconds histogram');
    for (const s of all) {
      let cum = 0;
      for (let i = 0; i < BUCKET_LE.length; i++) {
        cum += s.counts[i] as number;
        out.push(`istio_request_duration_milliseconds_bucket{${s.labels},le="${BUCKET_LE[i]}"} ${cum}`);
      }
      out.push(`istio_request_duration_milliseconds_sum{${s.labels}} ${s.sum}`);
      out.push(`istio_request_duration_milliseconds_count{${s.labels}} ${s.count}`);
    }
    return out.join('\n') + '\n';
  }

  let closed = false;
  const servers: http.Server[] = [];

  // --- backends --------------------------------------------------------------
  try {
    for (const [index, spec] of opts.backends.entries()) {
      const rng = mulberry32((seed ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0);
      const sampler = new LatencySampler(rng);
      sampler.configure(spec.behavior.latency);
      const l = spec.labels;
      const canonical = l.destination_canonical_service ?? l.destination_service_name;
      const destLabels: Array<[string, string]> = [
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
        host: normalizeHost(spec.destination.host, vsNamespace),
        destLabels,
      };
      b.server.keepAliveTimeout = 30_000;
      b.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
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
          if (closed) return;
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
          if (ms > slowMs) st.slow += 1;
          const bi = bucketIndex(ms);
          for (let i = bi; i < st.buckets.length; i++) st.buckets[i] = (st.buckets[i] as number) + 1;
          st.latencySumMs += ms;
          record('destination', b, code, grpcStatus, '-', ms);
        }, delay);
        b.pending.add(timer);
      });
      servers.push(b.server);
      b.port = await listen(b.server);
      backends.push(b);
    }
  } catch (err) {
    await Promise.all(servers.map((s) => closeServer(s).catch(() => undefined)));
    throw err;
  }
  const byName = new Map(backends.map((b) => [b.spec.name, b]));

  // --- routing ---------------------------------------------------------------
  let table: RouteTable = EMPTY_TABLE;
  let weights: Record<string, number> = Object.fromEntries(backends.map((b) => [b.spec.name, 0]));
  const timeline: Array<{ at: number; weights: Record<string, number> }> = [];
  const waiters = new Set<() => void>();

  function tableFromStatic(s: Record<string, number>): RouteTable {
    const t: RouteTable = { targets: [], cum: [], total: 0 };
    for (const [name, weight] of Object.entries(s)) {
      const b = byName.get(name);
      if (b === undefined) throw new Error(`static routing names unknown backend ${name}`);
      if (!(weight >= 0)) throw new Error(`static routing weight for ${name} must be >= 0`);
      if (weight === 0) continue;
      t.total += weight;
      t.targets.push(b.index);
      t.cum.push(t.total);
    }
    return t;
  }

  /** Backends standing for a VirtualService destination (host + optional subset). */
  function resolveDestination(dest: unknown): BackendRuntime[] {
    if (!isRecord(dest) || typeof dest.host !== 'string') return [];
    const host = normalizeHost(dest.host, vsNamespace);
    const subset = typeof dest.subset === 'string' ? dest.subset : undefined;
    const sameHost = backends.filter((b) => b.host === host);
    if (subset !== undefined) return sameHost.filter((b) => b.spec.destination.subset === subset);
    const noSubset = sameHost.filter((b) => b.spec.destination.subset === undefined);
    // A subset-less destination load-balances over every endpoint of the host.
    return noSubset.length > 0 ? noSubset : sameHost;
  }

  function tableFromVirtualService(vs: unknown): RouteTable {
    if (!isRecord(vs) || !isRecord(vs.spec) || !Array.isArray(vs.spec.http)) return EMPTY_TABLE;
    const route = vs.spec.http.find(
      (r): r is Record<string, unknown> => isRecord(r) && routeMatches(r, requestShape),
    );
    if (route === undefined || !Array.isArray(route.route)) return EMPTY_TABLE;
    const dests = route.route;
    const t: RouteTable = { targets: [], cum: [], total: 0 };
    for (const d of dests) {
      if (!isRecord(d)) continue;
      const weight = typeof d.weight === 'number' ? d.weight : dests.length === 1 ? 100 : 0;
      if (!(weight > 0)) continue;
      const targets = resolveDestination(d.destination);
      // An unknown destination keeps its share of the weight but has no backend:
      // requests routed there are counted as unrouted (Envoy: 503 NC/UH).
      if (targets.length === 0) {
        t.total += weight;
        t.targets.push(-1);
        t.cum.push(t.total);
        continue;
      }
      for (const b of targets) {
        t.total += weight / targets.length;
        t.targets.push(b.index);
        t.cum.push(t.total);
      }
    }
    return t;
  }

  function pick(rng: () => number): BackendRuntime | undefined {
    const t = table;
    if (t.total <= 0) return undefined;
    const r = rng() * t.total;
    const n = t.cum.length;
    let i = 0;
    while (i < n - 1 && r >= (t.cum[i] as number)) i++;
    const idx = t.targets[i] as number;
    return idx < 0 ? undefined : backends[idx];
  }

  /** Install a route table and derive the per-backend percentages from it. */
  function setTable(t: RouteTable): void {
    const w: Record<string, number> = Object.fromEntries(backends.map((b) => [b.spec.name, 0]));
    for (let i = 0; i < t.targets.length; i++) {
      const idx = t.targets[i] as number;
      if (idx < 0) continue; // share of an unknown destination: counted in the total only
      const b = backends[idx] as BackendRuntime;
      const prev = i === 0 ? 0 : (t.cum[i - 1] as number);
      w[b.spec.name] = (w[b.spec.name] ?? 0) + (((t.cum[i] as number) - prev) / t.total) * 100;
    }
    for (const k of Object.keys(w)) w[k] = Math.round((w[k] as number) * 1000) / 1000;
    table = t;
    if (timeline.length === 0 || !sameWeights(w, weights)) {
      weights = w;
      timeline.push({ at: Date.now(), weights: { ...w } });
      for (const fn of [...waiters]) fn();
    }
  }

  // --- Kubernetes watch --------------------------------------------------------
  let watchController: AbortController | undefined;
  let watchStarting: Promise<void> | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let resourceVersion: string | undefined;
  let needRelist = false;
  let backoffMs = 250;

  let stopWatch: () => Promise<void> = async () => undefined;

  if ('static' in opts.routing) {
    setTable(tableFromStatic(opts.routing.static));
  } else {
    const r = opts.routing;
    const group = r.group ?? 'networking.istio.io';
    const version = r.version ?? 'v1';
    const api = r.kubeConfig.makeApiClient(CustomObjectsApi);
    const watch = new Watch(r.kubeConfig);
    const watchPath = `/apis/${group}/${version}/namespaces/${r.namespace}/virtualservices`;

    const apply = (obj: unknown): void => {
      if (!isRecord(obj) || !isRecord(obj.metadata)) return;
      if (obj.metadata.name !== r.name) return;
      if (typeof obj.metadata.resourceVersion === 'string') resourceVersion = obj.metadata.resourceVersion;
      setTable(tableFromVirtualService(obj));
    };

    const relist = async (): Promise<void> => {
      try {
        const obj: unknown = await api.getNamespacedCustomObject({
          group,
          version,
          namespace: r.namespace,
          plural: 'virtualservices',
          name: r.name,
        });
        apply(obj);
      } catch (err) {
        if (errorCode(err) !== 404) throw err;
        resourceVersion = undefined;
        setTable(EMPTY_TABLE);
      }
      needRelist = false;
    };

    const scheduleRetry = (): void => {
      if (closed || retryTimer !== undefined) return;
      const delay = backoffMs;
      backoffMs = Math.min(backoffMs * 2, 2000);
      retryTimer = setTimeout(() => {
        retryTimer = undefined;
        void startWatch();
      }, delay);
    };

    const startWatch = async (): Promise<void> => {
      if (closed) return;
      try {
        if (needRelist) await relist();
      } catch {
        scheduleRetry();
        return;
      }
      if (closed) return;
      const query: Record<string, string | number | boolean> = {
        fieldSelector: `metadata.name=${r.name}`,
        allowWatchBookmarks: true,
        timeoutSeconds: r.watchTimeoutSeconds ?? 300,
      };
      if (resourceVersion !== undefined) query.resourceVersion = resourceVersion;
      let gotDone = false;
      const startedAt = performance.now();
      const p = watch
        .watch(
          watchPath,
          query,
          (phase: string, obj: unknown) => {
            backoffMs = 250;
            if (phase === 'ADDED' || phase === 'MODIFIED') {
              apply(obj);
            } else if (phase === 'DELETED') {
              if (isRecord(obj) && isRecord(obj.metadata) && obj.metadata.name === r.name) {
                resourceVersion =
                  typeof obj.metadata.resourceVersion === 'string' ? obj.metadata.resourceVersion : undefined;
                setTable(EMPTY_TABLE);
              }
            } else if (phase === 'BOOKMARK') {
              if (
                isRecord(obj) &&
                isRecord(obj.metadata) &&
                typeof obj.metadata.resourceVersion === 'string'
              ) {
                resourceVersion = obj.metadata.resourceVersion;
              }
            } else if (phase === 'ERROR') {
              // 410 Gone (resourceVersion too old) or any other error status: relist.
              needRelist = true;
            }
          },
          (err: unknown) => {
            gotDone = true;
            watchController = undefined;
            if (closed) return;
            if ((err === null || err === undefined) && !needRelist && performance.now() - startedAt > 100) {
              // Normal close (timeoutSeconds elapsed, server restart...): resume from resourceVersion.
              void startWatch();
              return;
            }
            // 410 Expired (as HTTP status or ERROR event), any other failure, or a watch that closed
            // right away: start over from a fresh GET after a back-off.
            if (err !== null && err !== undefined) needRelist = true;
            scheduleRetry();
          },
        )
        .then((c) => {
          if (closed || gotDone) {
            c.abort();
            return;
          }
          watchController = c;
        })
        .catch(() => {
          if (!closed) {
            needRelist = true;
            scheduleRetry();
          }
        });
      watchStarting = p;
      await p;
    };

    try {
      await relist();
    } catch (err) {
      closed = true;
      await Promise.all(servers.map((s) => closeServer(s)));
      const code = errorCode(err);
      throw new Error(
        `startMeshSim: cannot read VirtualService ${r.namespace}/${r.name}` +
          `${code !== undefined ? ` (HTTP ${code})` : ''}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    void startWatch();

    stopWatch = async () => {
      if (retryTimer !== undefined) clearTimeout(retryTimer);
      retryTimer = undefined;
      if (watchStarting !== undefined) await watchStarting.catch(() => undefined);
      watchController?.abort();
      watchController = undefined;
    };
  }

  // --- load generator ----------------------------------------------------------
  const agent = new http.Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 512, scheduling: 'lifo' });
  const routeRng = mulberry32((seed ^ 0x5bd1e995) >>> 0);
  let rps = opts.rps;
  let rateStart = performance.now();
  let sentSinceRateStart = 0;
  let inFlight = 0;
  let droppedCount = 0;
  let unroutedCount = 0;

  const baseHeaders = grpc
    ? { 'content-type': 'application/grpc', te: 'trailers', 'content-length': '0' }
    : { 'content-length': '0' };
  const headersFor = new Map<number, http.OutgoingHttpHeaders>(
    backends.map((b) => [b.index, { ...baseHeaders, host: b.spec.destination.host }]),
  );

  function sendOne(): void {
    const b = pick(routeRng);
    if (b === undefined) {
      unroutedCount++;
      return;
    }
    if (inFlight >= maxInFlight) {
      droppedCount++;
      return;
    }
    inFlight++;
    const t0 = performance.now();
    let finished = false;
    const finish = (code: number, grpcStatus: string, flags: string): void => {
      if (finished) return;
      finished = true;
      inFlight--;
      if (closed) return;
      record('source', b, code, grpcStatus, flags, performance.now() - t0);
    };
    const req = http.request(
      {
        agent,
        host: '127.0.0.1',
        port: b.port,
        method,
        path,
        headers: headersFor.get(b.index),
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

  function tick(): void {
    if (closed || rps <= 0) return;
    const now = performance.now();
    let due = Math.floor(((now - rateStart) * rps) / 1000) - sentSinceRateStart;
    if (due <= 0) return;
    // After a long event-loop stall do not fire more than one second's worth at once.
    const maxBurst = Math.max(1, Math.ceil(rps));
    if (due > maxBurst) {
      droppedCount += due - maxBurst;
      sentSinceRateStart += due - maxBurst;
      due = maxBurst;
    }
    sentSinceRateStart += due;
    for (let i = 0; i < due; i++) sendOne();
  }

  const ticker = setInterval(tick, TICK_MS);

  // --- metrics server ------------------------------------------------------------
  const metricsServer = http.createServer((req, res) => {
    if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
      const body = renderMetrics();
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
  let metricsPort: number;
  try {
    metricsPort = await listen(metricsServer);
  } catch (err) {
    closed = true;
    clearInterval(ticker);
    agent.destroy();
    await stopWatch();
    await Promise.all(servers.map((s) => closeServer(s)));
    throw err;
  }

  let closing: Promise<void> | undefined;

  const sim: MeshSim = {
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    metricsTarget: `127.0.0.1:${metricsPort}`,

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
      rps = n;
      rateStart = performance.now();
      sentSinceRateStart = 0;
    },

    currentWeights() {
      return { ...weights };
    },

    weightTimeline() {
      return timeline.map((e) => ({ at: e.at, weights: { ...e.weights } }));
    },

    stats() {
      return Object.fromEntries(
        backends.map((b) => [b.spec.name, { ...b.stats, buckets: [...b.stats.buckets] }]),
      );
    },

    dropped() {
      return droppedCount;
    },

    unrouted() {
      return unroutedCount;
    },

    waitForWeights(pred, timeoutMs) {
      if (pred({ ...weights })) return Promise.resolve({ ...weights });
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (pred({ ...weights })) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve({ ...weights });
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `waitForWeights: timed out after ${timeoutMs} ms; current weights ${JSON.stringify(weights)}`,
            ),
          );
        }, timeoutMs);
        waiters.add(check);
      });
    },

    close() {
      closing ??= (async () => {
        closed = true;
        clearInterval(ticker);
        await stopWatch();
        for (const b of backends) {
          for (const t of b.pending) clearTimeout(t);
          b.pending.clear();
        }
        agent.destroy();
        await Promise.all([...servers, metricsServer].map((s) => closeServer(s)));
      })();
      return closing;
    },
  };
  return sim;
}

// ---------------------------------------------------------------------------
// Convenience: backends for the standard fixture
// ---------------------------------------------------------------------------

export const DEFAULT_BEHAVIOR: BackendBehavior = {
  latency: { p50Ms: 20, p99Ms: 80 },
  errorRate: 0.001,
  grpcErrorRate: 0,
};

export function subsetScenarioBackends(args: {
  namespace: string;
  service: string;
  mode: 'subsets' | 'hosts';
  vm?: Partial<BackendBehavior>;
  k8s?: Partial<BackendBehavior>;
}): BackendSpec[] {
  const { namespace, service, mode } = args;
  const host = `${service}.${namespace}.svc.cluster.local`;
  const k8sHost = mode === 'hosts' ? `${service}-k8s.${namespace}.svc.cluster.local` : host;
  const behavior = (p: Partial<BackendBehavior> | undefined): BackendBehavior => ({
    ...DEFAULT_BEHAVIOR,
    ...p,
    latency: { ...(p?.latency ?? DEFAULT_BEHAVIOR.latency) },
  });
  return [
    {
      name: 'vm',
      destination: mode === 'subsets' ? { host, subset: 'vm' } : { host },
      labels: {
        destination_service: host,
        destination_service_name: service,
        destination_service_namespace: namespace,
        destination_version: 'vm',
        destination_workload: `${service}-vm`,
        destination_workload_namespace: namespace,
        destination_canonical_service: service,
        destination_canonical_revision: 'vm',
      },
      behavior: behavior(args.vm),
    },
    {
      name: 'k8s',
      destination: mode === 'subsets' ? { host, subset: 'k8s' } : { host: k8sHost },
      labels: {
        destination_service: k8sHost,
        destination_service_name: mode === 'hosts' ? `${service}-k8s` : service,
        destination_service_namespace: namespace,
        destination_version: 'k8s',
        destination_workload: service,
        destination_workload_namespace: namespace,
        destination_canonical_service: service,
        destination_canonical_revision: 'k8s',
      },
      behavior: behavior(args.k8s),
    },
  ];
}
