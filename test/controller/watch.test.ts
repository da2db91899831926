/** The MigrationPlan list+watch: events reach the cache, and a watch whose resourceVersion was compacted (410) relists. */
import { afterEach, describe, expect, it } from 'vitest';
import { PlanWatch } from '../../src/controller/watch.js';
import { silentLogger } from '../../src/log/logger.js';
import { startKubeApiServer, type KubeApiServer } from '../../src/sim/kube/index.js';

let server: KubeApiServer | undefined;
let watch: PlanWatch | undefined;
afterEach(async () => {
  watch?.stop();
  await server?.close();
});

const plan = (name: string, label = 'x') => ({
  apiVersion: 'meshshift.io/v1alpha1',
  kind: 'MigrationPlan',
  metadata: { name, namespace: 'shop', labels: { l: label } },
  spec: {},
});

async function until(pred: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('PlanWatch', () => {
  it('relists when the watch resourceVersion is too old (410 Gone), and misses nothing', async () => {
    server = await startKubeApiServer({ watchHistory: 3 });
    server.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
    server.put(plan('a'));
    // Hold the first watch request until more changes than the server keeps have happened.
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    let watches = 0;
    server.onRequest(async (req) => {
      if (req.path.endsWith('/migrationplans') && /watch=true/.test(req.query) && watches++ === 0) await held;
    });
    const changed: string[] = [];
    watch = new PlanWatch(server.kubeConfig(), {
      namespaces: ['shop'],
      resyncMs: 60_000,
      logger: silentLogger,
      onChange: (key) => changed.push(key),
    });
    watch.start();
    await until(() => watch!.lists === 1 && watches === 1, 'the first list and watch');
    for (let i = 0; i < 6; i++) server.put(plan(`b${i}`));
    release();
    await until(() => watch!.lists === 2, 'a relist after 410');
    expect([...watch.cache.keys()].sort()).toEqual([
      'shop/a',
      ...[0, 1, 2, 3, 4, 5].map((i) => `shop/b${i}`),
    ]);
    // And the new watch delivers changes again.
    server.put(plan('c'));
    await until(() => watch!.cache.has('shop/c'), 'a change after the relist');
    server.remove({ group: 'meshshift.io', plural: 'migrationplans', namespace: 'shop', name: 'a' });
    await until(() => !watch!.cache.has('shop/a'), 'a deletion');
    expect(changed).toContain('shop/c');
  });
});
