/**
 * Quiet when Redis is gone: a `meshshift serve --role all` process (in-process; real Redis, the Kubernetes API
 * test server, real Prometheus) logs one warning when Redis goes away and one when it is back, and shows the
 * outage on the meshshift_redis_up gauge — not an error line per reconnect attempt or BullMQ poll.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { FileTokenStore } from '../../src/auth/tokens.js';
import { startService } from '../../src/serve/start.js';
import { createLogger } from '../../src/log/logger.js';
import { startKubeApiServer } from '../../src/sim/kube/index.js';
import { startRedis } from '../../src/sim/redis.js';
import { serveOptions, tokensFile } from './helpers.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

describe('Redis going away and coming back', () => {
  it('one warning when it goes, one when it is back, the gauge meanwhile; no error line per poll', async () => {
    const redis = await startRedis({ persistent: true });
    cleanups.push(() => redis.close());
    const kube = await startKubeApiServer();
    cleanups.push(() => kube.close());
    const kubeconfig = kube.writeKubeconfig(mkdtempSync(path.join(os.tmpdir(), 'meshshift-kc-')));
    const lines: Array<{ level: number; msg: string; time: number }> = [];
    const logger = createLogger({
      level: 'info',
      destination: { write: (l: string) => void lines.push(JSON.parse(l) as (typeof lines)[number]) },
    });
    const svc = await startService(
      serveOptions(redis.url, 'quiet', {
        role: 'all',
        kubeconfig,
        prometheus: inject('prometheusUrl'),
      }),
      { logger, tokens: new FileTokenStore(tokensFile()) },
    );
    cleanups.push(() => svc.close());
    const up = async () => (await svc.metrics.redisUp.get()).values[0]?.value;
    await sleep(1000);
    expect(await up()).toBe(1);
    const from = lines.length;

    await redis.stop();
    await sleep(10_000);
    expect(await up()).toBe(0);
    const errorsDuring = (await svc.metrics.redisErrors.get()).values[0]?.value ?? 0;
    await redis.start();
    const deadline = Date.now() + 30_000;
    while (!lines.slice(from).some((l) => l.msg.startsWith('Redis is back')) && Date.now() < deadline)
      await sleep(200);
    await sleep(2000);

    const loud = lines.slice(from).filter((l) => l.level >= 40);
    expect(loud.map((l) => l.msg.split(':')[0])).toEqual(['Redis unavailable', 'Redis is back']);
    expect(await up()).toBe(1);
    // The errors did happen (reconnect attempts, BullMQ's polls): they are counted, not logged.
    expect(errorsDuring).toBeGreaterThan(2);
    console.log(
      `Redis down 10 s: ${loud.length} warning lines, ${errorsDuring} connection errors counted on meshshift_redis_connection_errors_total`,
    );
  }, 120_000);
});
