/**
 * meshshift's own Redis clients through Sentinel failovers (real redis-server and redis-sentinel): 40 API clients,
 * as a busy `serve` process holds, each writing in a loop while the primary is killed (kill -9) and then while the
 * promoted one hangs (SIGSTOP). Every client must be back on the new primary, writing, within seconds — none left
 * closed for good, which is what ioredis's failover detector did to some clients when its `+switch-master` message
 * landed during a reconnect (see src/store/sentinel-connector.ts).
 */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { RedisConnections, redisTopology, type RedisClient } from '../../src/store/redis-connection.js';
import { startSentinelGroup, type SentinelGroup } from '../harness/redis-ha.js';
import { cleanupsAfterEach } from './serve-process.js';

const cleanups = cleanupsAfterEach();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CLIENTS = 40;

async function waitForMaster(group: SentinelGroup, port: number, ms: number): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if ((await group.masterPort().catch(() => 0)) === port) return Date.now() - t0;
    await sleep(100);
  }
  throw new Error(`Sentinel did not name ${port} the primary within ${ms} ms`);
}

/** Each client's first successful write begun after `mark()` (ms after the mark), or undefined. */
function writers(clients: RedisClient[]) {
  let from = 0;
  let wrote: Array<number | undefined> = [];
  let running = true;
  const loops = clients.map(async (c, i) => {
    while (running) {
      const begun = Date.now();
      await c
        .set(`k${i}`, String(Date.now()))
        .then(() => {
          if (from && begun >= from && wrote[i] === undefined) wrote[i] = Date.now() - from;
        })
        .catch(() => undefined);
      await sleep(20);
    }
  });
  return {
    mark() {
      from = Date.now();
      wrote = [];
    },
    back: () => wrote.filter((w) => w !== undefined).length,
    wrote: () => wrote,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

async function allBack(w: ReturnType<typeof writers>, clients: RedisClient[], ms: number): Promise<number[]> {
  const t0 = Date.now();
  while (w.back() < clients.length && Date.now() - t0 < ms) await sleep(100);
  const statuses = clients.map((c) => c.status).filter((s) => s !== 'ready');
  expect({ back: w.back(), notReady: statuses }).toEqual({ back: clients.length, notReady: [] });
  return w.wrote() as number[];
}

const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

describe('Sentinel failover: every API client of a process reconnects', () => {
  it('kill -9 of the primary, then a hung (SIGSTOP) new primary: all 40 clients write again', async () => {
    const group = await startSentinelGroup('clients');
    cleanups.push(() => group.close());
    const conns = new RedisConnections(
      redisTopology({ url: 'redis://127.0.0.1:6379', sentinels: [group.addresses], sentinelName: 'clients' }),
    );
    cleanups.push(() => conns.close());
    const clients = Array.from({ length: CLIENTS }, (_, i) => conns.client('api', `api-${i}`));
    for (const c of clients) c.on('error', () => undefined);
    await Promise.all(
      clients.map((c) => (c.status === 'ready' ? 0 : new Promise((r) => c.once('ready', r)))),
    );
    const w = writers(clients);
    cleanups.push(() => w.stop());

    // 1. The primary dies.
    // Only a write begun after Sentinel named the new primary counts (one in flight at the kill may still land).
    await group.primary.kill();
    const promoted1 = await waitForMaster(group, group.replica.port, 30_000);
    w.mark();
    const back1 = (await allBack(w, clients, 15_000)).map((ms) => ms + promoted1);

    // 2. The old primary rejoins as a replica; then the new primary hangs without closing any socket.
    await group.primary.start(['--replicaof', '127.0.0.1', String(group.replica.port)]);
    const probe = new Redis(group.primary.port, '127.0.0.1');
    cleanups.push(async () => probe.disconnect());
    for (let t0 = Date.now(); !/master_link_status:up/.test(await probe.info('replication'));) {
      if (Date.now() - t0 > 20_000) throw new Error('the old primary did not sync as a replica');
      await sleep(200);
    }
    await sleep(1500); // the Sentinels learn the rejoined replica from the primary's INFO (every 10 s at most)
    const hung = group.replica.pid!;
    cleanups.push(async () => {
      try {
        process.kill(hung, 'SIGCONT'); // never leave a stopped redis-server behind a failed test
      } catch {
        // already gone
      }
    });
    process.kill(hung, 'SIGSTOP');
    const promoted2 = await waitForMaster(group, group.primary.port, 40_000);
    w.mark();
    const back2 = (await allBack(w, clients, 15_000)).map((ms) => ms + promoted2);
    process.kill(hung, 'SIGCONT');
    console.log(
      `[figures] Sentinel clients (${CLIENTS}): kill -9 → promoted ${promoted1} ms, writing again (from the failure) p50 ${p50(back1)} ms, max ${Math.max(...back1)} ms; ` +
        `SIGSTOP → promoted ${promoted2} ms, writing again p50 ${p50(back2)} ms, max ${Math.max(...back2)} ms`,
    );
  }, 180_000);
});
