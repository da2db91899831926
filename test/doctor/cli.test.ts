/**
 * `meshshift doctor` through the built CLI against the demo environment: the simulated cluster and mesh, the real
 * Prometheus scraping it, a real Redis and a fake Slack API. Then the same environment broken in two places.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { CheckResult } from '../../src/doctor/types.js';
import { startRedis, type RedisServer } from '../../src/sim/redis.js';
import { startScenario, type Scenario } from '../../src/sim/scenario.js';

const BIN = path.resolve('bin/meshshift.js');
const dir = mkdtempSync(path.join(tmpdir(), 'meshshift-doctor-cli-'));

function doctor(args: string[], env: Record<string, string> = {}) {
  // Only what the test passes: no MESHSHIFT_* or SLACK_* from the developer's shell.
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(MESHSHIFT_|SLACK_|KUBECONFIG$)/.test(k)),
  );
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [BIN, 'doctor', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...clean, NO_COLOR: '1', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

let scenario: Scenario;
let redis: RedisServer;
let slack: http.Server;
let args: string[];

beforeAll(async () => {
  scenario = await startScenario({
    metrics: { prometheusUrl: inject('prometheusUrl'), sdDir: inject('prometheusSdDir') },
  });
  redis = await startRedis();
  slack = http.createServer((req, res) => {
    res.setHeader('Content-Type', 'application/json');
    res.end(
      JSON.stringify(
        req.headers.authorization === 'Bearer xoxb-demo'
          ? { ok: true, user: 'meshshift', team: 'Demo' }
          : { ok: false, error: 'invalid_auth' },
      ),
    );
  });
  await new Promise<void>((r) => slack.listen(0, '127.0.0.1', r));
  await scenario.waitForTraffic(30_000);
  args = [
    '--kubeconfig',
    scenario.kube.writeKubeconfig(dir),
    '--prometheus',
    inject('prometheusUrl'),
    '--redis',
    redis.url,
    '--slack-api-url',
    `http://127.0.0.1:${(slack.address() as AddressInfo).port}/api/`,
  ];
});

afterAll(async () => {
  await scenario?.close();
  await redis?.close();
  await new Promise<void>((r) => (slack ? slack.close(() => r()) : r()));
  rmSync(dir, { recursive: true, force: true });
});

describe('meshshift doctor (built CLI)', () => {
  it('passes against the demo environment: every check ✓, exit 0, JSON and text', async () => {
    const json = await doctor([...args, '--output', 'json'], { SLACK_BOT_TOKEN: 'xoxb-demo' });
    expect(json.stderr).toBe('');
    const report = JSON.parse(json.stdout) as { ok: boolean; checks: CheckResult[] };
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.checks.map((c) => c.id)).toEqual([
      'kube.cluster',
      'kube.istio-networking',
      'kube.istio-security',
      'kube.gateway-api',
      'kube.rbac',
      'prometheus',
      'prometheus.istio_requests_total',
      'prometheus.istio_request_duration_milliseconds_bucket',
      'redis',
      'redis.eviction',
      'slack',
    ]);
    // The demo cluster routes with a VirtualService: no Gateway API, which only HTTPRoute plans need.
    expect(report.checks.filter((c) => c.skipped).map((c) => c.id)).toEqual(['kube.gateway-api']);
    expect(json.code).toBe(0);

    const text = await doctor(args);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('✓ kube.rbac: all 23 permissions meshshift uses are granted cluster-wide');
    expect(text.stdout).toContain('– slack: not configured');
    expect(text.stdout.trim().split('\n').at(-1)).toBe('all 11 checks passed');
  });

  it('names each broken piece with its fix and exits 1', async () => {
    scenario.kube.setAccess({
      denials: [{ group: 'networking.istio.io', resource: 'virtualservices', verb: 'patch' }],
    });
    const admin = new Redis(redis.url);
    await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    admin.disconnect();
    try {
      const r = await doctor([...args, '--slack-token', 'xoxb-revoked']);
      expect(r.code).toBe(1);
      const failed = r.stdout.split('\n').filter((l) => l.startsWith('✗'));
      expect(failed.map((l) => l.split(':')[0])).toEqual(['✗ kube.rbac', '✗ redis.eviction', '✗ slack']);
      expect(r.stdout).toContain('patch virtualservices.networking.istio.io (shift the weights)');
      expect(r.stdout).toMatch(/fix: apply deploy\/base\/clusterrole\.yaml/);
      expect(r.stdout).toMatch(/fix: set maxmemory-policy noeviction/);
      expect(r.stdout).not.toContain('xoxb-revoked');
      expect(r.stdout.trim().split('\n').at(-1)).toBe('3 of 11 checks failed');
    } finally {
      scenario.kube.setAccess({});
    }
  });

  it('without --prometheus and with an unreachable cluster: ✗ for each, with the option to pass', async () => {
    const r = await doctor(['--kubeconfig', path.join(dir, 'missing.yaml'), '--output', 'json']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as { ok: boolean; checks: CheckResult[] };
    expect(report.ok).toBe(false);
    expect(report.checks.filter((c) => !c.ok).map((c) => c.id)).toEqual(['kube.config', 'prometheus']);
    expect(report.checks.find((c) => c.id === 'prometheus')!.fix).toContain('--prometheus');
  });
});
