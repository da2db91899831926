/**
 * doctor's Prometheus, Redis and Slack checks against real servers: the shared Prometheus scraping the mesh
 * simulator's Istio series, an own empty Prometheus, a real Redis (then with allkeys-lru), a fake Slack API.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it, vi } from 'vitest';
import { checkIstioMetrics, checkPrometheus } from '../../src/doctor/prometheus.js';
import { checkRedis, parseInfo, versionAtLeast } from '../../src/doctor/redis.js';
import { checkSlack } from '../../src/doctor/slack.js';
import { startMeshSim, subsetScenarioBackends } from '../../src/sim/mesh/index.js';
import { registerScrapeTarget, startPrometheus } from '../../src/sim/prometheus.js';
import { startRedis } from '../../src/sim/redis.js';

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A port where nothing listens (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('Prometheus', () => {
  it('with the simulator scraped: answers, and both Istio metrics carry the labels meshshift queries by', async () => {
    const url = inject('prometheusUrl');
    const sim = await startMeshSim({
      backends: subsetScenarioBackends({
        namespace: 'ns-doctor',
        service: 'productcatalogservice',
        mode: 'subsets',
      }),
      rps: 100,
      routing: { static: { vm: 90, k8s: 10 } },
    });
    cleanups.push(() => sim.close());
    cleanups.push(
      await registerScrapeTarget(inject('prometheusSdDir'), `doctor-${process.pid}`, sim.metricsTarget),
    );

    const up = await checkPrometheus(url, 2000);
    expect(up).toMatchObject({ id: 'prometheus', ok: true });
    expect(up.message).toMatch(/answers: Prometheus \d+\.\d+/);
    await vi.waitFor(
      async () => {
        const rs = await checkIstioMetrics(url, 2000);
        expect(rs.map((r) => [r.id, r.ok])).toEqual([
          ['prometheus.istio_requests_total', true],
          ['prometheus.istio_request_duration_milliseconds_bucket', true],
        ]);
        expect(rs[0]!.message).toContain('reporter=destination');
      },
      { timeout: 20_000, interval: 250 },
    );
  });

  it('an empty Prometheus: ✗ for each Istio metric with the fix', async () => {
    const empty = await startPrometheus({ scrapeIntervalSeconds: 5 });
    cleanups.push(() => empty.close());
    expect((await checkPrometheus(empty.url, 2000)).ok).toBe(true);
    const rs = await checkIstioMetrics(empty.url, 2000);
    expect(rs.map((r) => r.ok)).toEqual([false, false]);
    expect(rs[0]!.message).toBe('no istio_requests_total series in the last hour');
    expect(rs[0]!.fix).toContain('scrape Istio');
  });

  it('nothing listening, or not a Prometheus: ✗ telling to pass --prometheus', async () => {
    const port = await closedPort();
    const down = await checkPrometheus(`http://127.0.0.1:${port}`, 1000);
    expect(down.ok).toBe(false);
    expect(down.fix).toContain('--prometheus');

    const auth: string[] = [];
    const other = http.createServer((req, res) => {
      auth.push(req.headers.authorization ?? '');
      res.end('<html>login</html>');
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => other.close(() => r())));
    const r = await checkPrometheus(
      `http://u:secret@127.0.0.1:${(other.address() as AddressInfo).port}`,
      1000,
    );
    expect(r.ok).toBe(false);
    expect(r.message).toContain('not a Prometheus API answer');
    expect(r.message).not.toContain('secret');
    expect(auth).toEqual([`Basic ${Buffer.from('u:secret').toString('base64')}`]);
  });

  it('a Prometheus that does not answer in time: ✗ within the deadline', async () => {
    const hung = http.createServer(() => {});
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    cleanups.push(async () => {
      hung.closeAllConnections();
      await new Promise<void>((r) => hung.close(() => r()));
    });
    const started = Date.now();
    const r = await checkPrometheus(`http://127.0.0.1:${(hung.address() as AddressInfo).port}`, 300);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(r.ok).toBe(false);
  });
});

describe('Redis', () => {
  it('a real Redis: version and noeviction ✓; after CONFIG SET maxmemory-policy allkeys-lru: ✗ with the fix', async () => {
    const redis = await startRedis();
    cleanups.push(() => redis.close());
    const ok = await checkRedis(redis.url, 2000);
    expect(ok.map((r) => [r.id, r.ok])).toEqual([
      ['redis', true],
      ['redis.eviction', true],
    ]);
    expect(ok[0]!.message).toMatch(/Redis \d+\.\d+\.\d+/);

    const admin = new Redis(redis.url);
    await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    admin.disconnect();
    const bad = await checkRedis(redis.url, 2000);
    expect(bad[1]).toMatchObject({ id: 'redis.eviction', ok: false });
    expect(bad[1]!.message).toContain('allkeys-lru');
    expect(bad[1]!.fix).toContain('noeviction');
  });

  it('nothing listening: one ✗ within the deadline, password redacted', async () => {
    const port = await closedPort();
    const r = await checkRedis(`redis://:hunter2@127.0.0.1:${port}`, 500);
    expect(r).toHaveLength(1);
    expect(r[0]!.ok).toBe(false);
    expect(r[0]!.message).not.toContain('hunter2');
    expect(r[0]!.fix).toContain('--redis');
  });

  it('versions and INFO parsing', () => {
    expect(versionAtLeast('7.0.15', '5.0.0')).toBe(true);
    expect(versionAtLeast('5.0.0', '5.0.0')).toBe(true);
    expect(versionAtLeast('4.0.14', '5.0.0')).toBe(false);
    expect(versionAtLeast('10.0', '5.0.0')).toBe(true);
    const info = parseInfo('# Server\r\nredis_version:7.0.15\r\n# Memory\r\nmaxmemory_policy:noeviction\r\n');
    expect(info.get('redis_version')).toBe('7.0.15');
    expect(info.get('maxmemory_policy')).toBe('noeviction');
  });
});

describe('Slack', () => {
  it('auth.test against a fake Slack API: ✓ with the bot and workspace; a revoked token: ✗ with the fix', async () => {
    const seen: string[] = [];
    const fake = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
      const good = req.headers.authorization === 'Bearer xoxb-good';
      res.setHeader('Content-Type', 'application/json');
      res.end(
        JSON.stringify(
          good
            ? { ok: true, user: 'meshshift', user_id: 'U1', team: 'Acme', team_id: 'T1' }
            : { ok: false, error: 'invalid_auth' },
        ),
      );
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => fake.close(() => r())));
    const api = `http://127.0.0.1:${(fake.address() as AddressInfo).port}/api/`;

    const ok = await checkSlack('xoxb-good', 2000, api);
    expect(ok).toEqual({ id: 'slack', ok: true, message: 'auth.test: token of meshshift in workspace Acme' });
    const bad = await checkSlack('xoxb-revoked', 2000, api);
    expect(bad.ok).toBe(false);
    expect(bad.message).toBe('auth.test failed: invalid_auth');
    expect(bad.fix).toContain('SLACK_BOT_TOKEN');
    expect(seen.every((s) => s.startsWith('POST /api/auth.test'))).toBe(true);
    expect(seen).toHaveLength(2);
  });
});
