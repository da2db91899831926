/**
 * ONE synthetic Istio metrics exporter for many services (instead of N mesh simulators): a node:http server on
 * 127.0.0.1 serving `istio_requests_total` and `istio_request_duration_milliseconds_{bucket,sum,count}` for every
 * host × {vm, k8s}, reporter="destination". Counters grow deterministically with wall time at `rps` per side with
 * `errorRate` 5xx and a fixed healthy latency distribution (p50 ≈ 18 ms, p99 ≈ 100 ms). Traffic does NOT follow the
 * VirtualService weights: the benchmark measures the worker, not the gate.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Istio's default buckets for istio_request_duration_milliseconds (+Inf last). */
const BUCKETS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
  3600000,
];
/** Cumulative fraction of requests at or below each bucket bound (then +Inf = 1). */
const CUMULATIVE = BUCKETS.map((le) =>
  le < 1
    ? 0
    : le < 5
      ? 0.01
      : le < 10
        ? 0.1
        : le < 25
          ? 0.3
          : le < 50
            ? 0.7
            : le < 100
              ? 0.9
              : le < 250
                ? 0.99
                : 1,
);

export interface Exporter {
  readonly target: string;
  readonly series: number;
  scrapes: number;
  close(): Promise<void>;
}

export async function startIstioExporter(
  hosts: string[],
  opts: { rps?: number; errorRate?: number } = {},
): Promise<Exporter> {
  const rps = opts.rps ?? 20;
  const errorRate = opts.errorRate ?? 0.001;
  const t0 = Date.now() - 1000;
  const prefixes: string[] = [];
  for (const h of hosts)
    for (const v of ['vm', 'k8s'])
      prefixes.push(`reporter="destination",destination_service="${h}",destination_version="${v}"`);
  const exporter: Exporter = {
    target: '',
    series: prefixes.length * (2 + BUCKETS.length + 1 + 2),
    scrapes: 0,
    close: async () => undefined,
  };
  const render = (): string => {
    const total = Math.floor((rps * (Date.now() - t0)) / 1000);
    const errors = Math.floor(total * errorRate);
    const sum = total * 22; // mean ≈ 22 ms
    const out: string[] = [
      '# HELP istio_requests_total Total requests.',
      '# TYPE istio_requests_total counter',
    ];
    for (const p of prefixes) {
      out.push(`istio_requests_total{${p},response_code="200"} ${total - errors}`);
      out.push(`istio_requests_total{${p},response_code="503"} ${errors}`);
    }
    out.push('# HELP istio_request_duration_milliseconds Request duration in milliseconds.');
    out.push('# TYPE istio_request_duration_milliseconds histogram');
    const cum = CUMULATIVE.map((f) => Math.floor(f * total));
    for (const p of prefixes) {
      for (let i = 0; i < BUCKETS.length; i++)
        out.push(`istio_request_duration_milliseconds_bucket{${p},le="${BUCKETS[i]}"} ${cum[i]}`);
      out.push(`istio_request_duration_milliseconds_bucket{${p},le="+Inf"} ${total}`);
      out.push(`istio_request_duration_milliseconds_sum{${p}} ${sum}`);
      out.push(`istio_request_duration_milliseconds_count{${p}} ${total}`);
    }
    out.push('');
    return out.join('\n');
  };
  const server: Server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    exporter.scrapes++;
    const body = render();
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  (exporter as { target: string }).target = `127.0.0.1:${port}`;
  exporter.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return exporter;
}
