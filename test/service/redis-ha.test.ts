/**
 * meshshift on highly available Redis: a real 3-master Redis Cluster and a real Sentinel group (primary, replica,
 * three redis-sentinel processes) whose primary is killed mid-migration. `meshshift serve --role all` child
 * processes configured by flags, the Kubernetes API test server and real Prometheus.
 */
import { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { startRedisCluster, startSentinelGroup } from '../harness/redis-ha.js';
import { TERMINAL, TOKEN, historyWeights, http, waitFor } from './helpers.js';
import { cleanupsAfterEach, scenarioWithKubeconfig, startServeAll } from './serve-process.js';

const cleanups = cleanupsAfterEach();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const scenario = () => scenarioWithKubeconfig(cleanups);
const serve = (redisFlags: string[], prefix: string, kubeconfig: string) =>
  startServeAll(cleanups, redisFlags, prefix, kubeconfig);

describe('HA Redis', () => {
  it('Redis Cluster (3 masters): a migration completes, one write per step, every key under the {prefix} hash tag', async () => {
    const cluster = await startRedisCluster();
    cleanups.push(() => cluster.close());
    const { s, kubeconfig } = await scenario();
    const svc = await serve(['--redis-cluster', cluster.addresses], 'hac', kubeconfig);
    expect(svc.stderr()).toMatch(/"prefix":"\{hac\}"/);
    const r = await http(svc.url, 'POST', '/v1/migrations', { token: TOKEN, body: s.planYaml });
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    const id = r.json.id as string;
    const done = await waitFor(svc.url, id, (m) => TERMINAL.includes(m.migration.phase));
    expect(done.migration.phase, done.migration.reason).toBe('completed');
    expect(s.weightWrites()).toEqual([1, 5, 10, 25, 50, 100]);
    expect(historyWeights(done.history)).toEqual([1, 5, 10, 25, 50, 100]);
    const c = new Cluster([{ host: '127.0.0.1', port: cluster.nodes[0]!.port }]);
    cleanups.push(async () => c.disconnect());
    expect(await c.exists(`{hac}:m:${id}`)).toBe(1);
    expect(await c.xlen(`{hac}:m:${id}:history`)).toBe(done.history.length);
    // All keys live on the node that owns the tag's slot; the other two hold none of ours.
    const counts = await Promise.all(
      cluster.nodes.map(async (n) => {
        const node = c.nodes('master').find((x) => x.options.port === n.port)!;
        return (await node.keys('*hac*')).length;
      }),
    );
    expect(counts.filter((k) => k > 0)).toHaveLength(1);
    console.log(`[figures] Redis Cluster: keys per master ${counts.join('/')}`);
  }, 300_000);

  it('Sentinel: the primary killed mid-migration fails over; nothing lost, no step twice, the API never hangs', async () => {
    const group = await startSentinelGroup('meshshift');
    cleanups.push(() => group.close());
    const { s, kubeconfig } = await scenario();
    const svc = await serve(
      ['--redis-sentinels', group.addresses, '--redis-sentinel-name', 'meshshift'],
      'has',
      kubeconfig,
    );
    const r = await http(svc.url, 'POST', '/v1/migrations', { token: TOKEN, body: s.planYaml });
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    const id = r.json.id as string;
    const before = await waitFor(svc.url, id, (m) => m.migration.weight >= 10);

    // Watch the API through the failover: every answer within 2 s, 200 or 503.
    const answers: Array<{ at: number; status: number; ms: number }> = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const t0 = Date.now();
        const res = await fetch(`${svc.url}/v1/migrations/${id}`, { signal: AbortSignal.timeout(10_000) });
        await res.arrayBuffer();
        answers.push({ at: t0, status: res.status, ms: Date.now() - t0 });
        await sleep(100);
      }
    })();

    const killedAt = Date.now();
    await group.primary.kill();
    let promotedAt = 0;
    while (!promotedAt && Date.now() - killedAt < 30_000) {
      if ((await group.masterPort()) === group.replica.port) promotedAt = Date.now();
      else await sleep(100);
    }
    expect(promotedAt, 'Sentinel did not promote the replica').toBeGreaterThan(0);
    const progressed = await waitFor(svc.url, id, (m) => m.history.length > before.history.length + 1).catch(
      (err: unknown) => {
        // Say what the service said while it did not move (its log is the only witness of a failover gone wrong).
        throw new Error(
          `${(err as Error).message}\n--- serve stderr (tail) ---\n${svc.stderr().slice(-6000)}`,
        );
      },
    );
    const progressAt = Date.now();
    const done = await waitFor(svc.url, id, (m) => TERMINAL.includes(m.migration.phase));
    watching = false;
    await watcher;

    expect(done.migration.phase, done.migration.reason).toBe('completed');
    expect(s.weightWrites()).toEqual([1, 5, 10, 25, 50, 100]);
    expect(historyWeights(done.history)).toEqual([1, 5, 10, 25, 50, 100]);
    // Nothing lost: everything stored before the kill is still there, in order.
    expect(done.history.slice(0, before.history.length).map((h) => h.id)).toEqual(
      before.history.map((h) => h.id),
    );
    expect(progressed.history.length).toBeGreaterThan(before.history.length);
    // Never a hang or an error: 200 or 503 (the 2 s budget itself is measured in redis-down.test.ts; on a loaded
    // machine this client's own clock is not precise enough to judge it here).
    const bad = answers.filter((a) => ![200, 503].includes(a.status) || a.ms > 10_000);
    expect(bad, JSON.stringify(bad)).toEqual([]);
    const unavailable = answers.filter((a) => a.status === 503);
    const back = answers.find(
      (a) => a.at > killedAt && a.status === 200 && a.at >= (unavailable.at(-1)?.at ?? 0),
    );
    console.log(
      `[figures] Sentinel failover: replica promoted ${promotedAt - killedAt} ms after kill -9 of the primary at ${before.migration.weight} %; ` +
        `API: ${unavailable.length} × 503 of ${answers.length} answers (max ${Math.max(...answers.map((a) => a.ms))} ms), ` +
        `200 again after ${back ? back.at - killedAt : NaN} ms; migration progressing again after ${progressAt - killedAt} ms`,
    );
  }, 300_000);
});
