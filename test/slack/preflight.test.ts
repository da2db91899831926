/**
 * A failed preflight, end to end: the worker's engine runs a preflight whose ServiceEntry check fails, the history
 * entry goes through the Redis commit and back (parsed into the typed union), and the notifier posts it to the
 * thread naming the failed check by its id, with its message and fix (issue 22: every check used to read "?").
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { MetricsProvider } from '../../src/gate/input/provider.js';
import type { MeshAdapter, PreflightReport } from '../../src/mesh/types.js';
import { parseSlackPolicy } from '../../src/slack/auth.js';
import { startRedis } from '../../src/sim/redis.js';
import { planYamlFor } from '../../src/sim/scenario.js';
import { FIXTURE } from '../service/store-fixtures.js';
import { CHANNEL, startFakeSlack, startSlackServer, textOf, until } from './helpers.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const FIX = 'set spec.location: MESH_INTERNAL on the ServiceEntry (meshshift needs server-side metrics)';

/** A mesh whose preflight finds the VMs' ServiceEntry MESH_EXTERNAL (found wrong: the run ends at once). */
const externalServiceEntry: MeshAdapter = {
  async preflight(): Promise<PreflightReport> {
    return {
      ok: false,
      checks: [
        { id: 'virtualservice', ok: true, message: 'shop/productcatalogservice routes to subset vm' },
        {
          id: 'serviceentry',
          ok: false,
          message: 'shop/productcatalogservice-vms is MESH_EXTERNAL: only client-side metrics exist',
          fix: FIX,
        },
      ],
      initialWeight: 0,
      selectors: { source: { destination_version: 'vm' }, target: { destination_version: 'k8s' } },
      istioVersion: 'v1',
    };
  },
  setWeight: () => Promise.reject(new Error('a failed preflight writes nothing')),
  currentWeight: async () => 0,
};
const noMetrics: MetricsProvider = {
  sample: () => Promise.reject(new Error('a failed preflight analyses nothing')),
  recentRequests: async () => 0,
};

describe('Slack and a failed preflight', () => {
  it('the posted reply names each failed check by its id, with its message and fix — never "?"', async () => {
    const redis = await startRedis();
    cleanups.push(() => redis.close());
    const fake = await startFakeSlack();
    cleanups.push(() => fake.close());
    const srv = await startSlackServer({
      redisUrl: redis.url,
      prefix: 'preflight',
      fake,
      worker: { mesh: externalServiceEntry, metrics: noMetrics },
      timeScale: 0.1,
      slack: { policy: parseSlackPolicy('rules: []'), notifier: { intervalMs: 100, verdicts: 'changes' } },
    });
    cleanups.push(() => srv.close());
    const plan = `${planYamlFor(FIXTURE, 'default')}  notify:\n    slackChannel: ${CHANNEL}\n`;
    const id = (await srv.service.submit(plan, 'alice')).id;

    const reply = await until('the preflight reply', () =>
      fake
        .byMethod('chat.postMessage')
        .filter((c) => c.args.thread_ts !== undefined)
        .map(textOf)
        .find((t) => t.includes('Preflight failed')),
    );
    expect(reply).toContain(
      '• serviceentry: shop/productcatalogservice-vms is MESH_EXTERNAL: only client-side metrics exist',
    );
    expect(reply).toContain(`— ${FIX}`);
    expect(reply).not.toContain('?');
    expect(reply).not.toContain('virtualservice'); // checks that passed are not listed
    expect((await srv.service.get(id)).migration.phase).toBe('failed');
  });
});
