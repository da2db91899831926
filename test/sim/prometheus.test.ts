import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { startMeshSim, subsetScenarioBackends } from '../../src/sim/mesh/index.js';
import type { MeshSim } from '../../src/sim/mesh/index.js';
import {
  PROMETHEUS_INSTALL_HINT,
  findPrometheusBinary,
  registerScrapeTarget,
  startPrometheus,
} from '../../src/sim/prometheus.js';
import type { PrometheusServer } from '../../src/sim/prometheus.js';

interface QueryResponse {
  status: string;
  data: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> };
}

async function instant(baseUrl: string, promql: string): Promise<QueryResponse['data']['result']> {
  const u = new URL('/api/v1/query', baseUrl);
  u.searchParams.set('query', promql);
  const res = await fetch(u);
  expect(res.status).toBe(200);
  const body = (await res.json()) as QueryResponse;
  expect(body.status).toBe('success');
  return body.data.result;
}

async function activeScrapeUrls(baseUrl: string): Promise<string[]> {
  const res = await fetch(new URL('/api/v1/targets?state=active', baseUrl));
  const body = (await res.json()) as { data: { activeTargets: Array<{ scrapeUrl: string }> } };
  return body.data.activeTargets.map((t) => t.scrapeUrl);
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  vi.unstubAllEnvs();
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function sim(sim: string, rps = 200): Promise<MeshSim> {
  const s = await startMeshSim({
    backends: subsetScenarioBackends({
      namespace: `ns-${sim}`,
      service: 'productcatalogservice',
      mode: 'subsets',
    }),
    rps,
    routing: { static: { vm: 80, k8s: 20 } },
  });
  cleanups.push(() => s.close());
  return s;
}

describe('shared Prometheus from the global setup', () => {
  it('scrapes a simulator registered through file_sd', async () => {
    const url = inject('prometheusUrl');
    const sdDir = inject('prometheusSdDir');
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const s = await sim('shared');
    const unregister = await registerScrapeTarget(sdDir, `prometheus-test-${process.pid}`, s.metricsTarget, {
      sim: 'prometheus-test',
    });
    cleanups.push(unregister);
    const files = await readdir(sdDir);
    expect(files).toContain(`prometheus-test-${process.pid}.json`);
    expect(files.filter((f) => f.endsWith('.tmp'))).toEqual([]);

    const q = 'sum(rate(istio_requests_total{reporter="destination",sim="prometheus-test"}[5s]))';
    await vi.waitFor(
      async () => {
        const r = await instant(url, q);
        expect(Number(r[0]?.value[1] ?? 0)).toBeGreaterThan(0);
      },
      { timeout: 20_000, interval: 250 },
    );
    // the ratio of destination_version shares roughly follows 80/20
    const byVersion = await instant(
      url,
      'sum by (destination_version) (increase(istio_requests_total{reporter="source",sim="prometheus-test"}[10s]))',
    );
    expect(byVersion.map((r) => r.metric.destination_version).sort()).toEqual(['k8s', 'vm']);

    // unregistering removes the target
    await unregister();
    await vi.waitFor(async () => expect(await activeScrapeUrls(url)).not.toContain(s.metricsUrl), {
      timeout: 10_000,
      interval: 250,
    });
  });
});

describe('startPrometheus', () => {
  it('starts, scrapes, survives stop()/start() with its data, and cleans up on close()', async () => {
    const t0 = performance.now();
    const prom: PrometheusServer = await startPrometheus({ scrapeIntervalSeconds: 1 });
    const startMs = performance.now() - t0;
    cleanups.push(() => prom.close());
    console.info(`prometheus ready in ${startMs.toFixed(0)} ms on ${prom.url}`);
    expect(startMs).toBeLessThan(20_000);
    expect(prom.url).toBe(`http://127.0.0.1:${prom.port}`);
    const cfg = await readFile(path.join(path.dirname(prom.dataDir), 'prometheus.yml'), 'utf8');
    expect(cfg).toContain('file_sd_configs');
    expect(cfg).toContain('scrape_interval: 1s');

    const s = await sim('own', 300);
    await prom.addTarget('sim', s.metricsTarget, { sim: 'own' });
    // Wait for a full window of scrapes (the first samples of a new series give a partial rate).
    const rateQ = 'sum(rate(istio_requests_total{reporter="destination"}[5s])) > 100';
    await prom.waitForSeries(rateQ, 30_000);
    const [r] = await prom.query('sum(rate(istio_requests_total{reporter="destination"}[5s]))');
    // 300 rps offered; rate over a 5 s window of 1 s scrapes
    expect(Number(r?.value[1])).toBeGreaterThan(100);
    expect(Number(r?.value[1])).toBeLessThan(450);

    // histogram works end to end
    await prom.waitForSeries(
      'histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination"}[5s])) by (le)) > 0',
      10_000,
    );

    const stoppedAt = Date.now() / 1000;
    const before = await prom.query(
      `count_over_time(istio_requests_total{destination_version="vm",reporter="destination"}[1h] @ ${stoppedAt})`,
    );
    const samplesBefore = Number(before[0]?.value[1] ?? 0);
    expect(samplesBefore).toBeGreaterThanOrEqual(2);

    const port = prom.port;
    await prom.stop();
    await expect(fetch(`${prom.url}/-/ready`)).rejects.toThrow();
    await prom.start();
    expect(prom.port).toBe(port);
    // data written before the stop is still there (WAL replay)
    const after = await prom.query(
      `count_over_time(istio_requests_total{destination_version="vm",reporter="destination"}[1h] @ ${stoppedAt})`,
    );
    expect(Number(after[0]?.value[1] ?? 0)).toBeGreaterThanOrEqual(samplesBefore);
    // and it scrapes again
    await prom.waitForSeries(
      `istio_requests_total{reporter="source"} and timestamp(istio_requests_total{reporter="source"}) > ${Date.now() / 1000 + 0.5}`,
      15_000,
    );

    await prom.removeTarget('sim');
    await vi.waitFor(async () => expect(await activeScrapeUrls(prom.url)).toEqual([]), {
      timeout: 10_000,
      interval: 250,
    });

    const dir = path.dirname(prom.dataDir);
    await prom.close();
    expect(existsSync(dir)).toBe(false);
    await expect(fetch(`${prom.url}/-/ready`)).rejects.toThrow();
  });

  it('waitForSeries times out with the query in the message', async () => {
    const prom = await startPrometheus();
    cleanups.push(() => prom.close());
    await expect(prom.waitForSeries('nonexistent_metric_xyz', 600)).rejects.toThrow(/nonexistent_metric_xyz/);
  });
});

describe('findPrometheusBinary', () => {
  it('finds the installed binary', () => {
    expect(findPrometheusBinary()).toMatch(/prometheus$/);
  });

  it('PROMETHEUS_BIN pointing nowhere throws with the install hint', async () => {
    vi.stubEnv('PROMETHEUS_BIN', '/nonexistent');
    expect(() => findPrometheusBinary()).toThrow(PROMETHEUS_INSTALL_HINT);
    await expect(startPrometheus()).rejects.toThrow(PROMETHEUS_INSTALL_HINT);
  });

  it('no prometheus on PATH throws with the install hint', () => {
    vi.stubEnv('PROMETHEUS_BIN', '');
    vi.stubEnv('PATH', '/nonexistent-dir');
    expect(() => findPrometheusBinary()).toThrow(
      /not found on PATH.*apt-get install -y --no-install-recommends prometheus/,
    );
  });
});
