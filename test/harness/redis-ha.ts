/**
 * REAL Redis Cluster (3 masters, `redis-server --cluster-enabled yes` + `redis-cli --cluster create`) and REAL
 * Sentinel groups (a primary, a replica and three `redis-sentinel` processes) on loopback ports, for the HA tests.
 * Missing binaries throw with the install command: tests never skip.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort, isPortOpen } from '../../src/sim/ports.js';
import { launchRedisProcess, redisServerArgs } from '../../src/sim/redis.js';
import { execTool, requireTool } from '../../src/sim/tools.js';

export interface RedisNode {
  readonly port: number;
  readonly pid: number | undefined;
  /** SIGKILL: a crash, no shutdown save, no goodbye to clients. */
  kill(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Starts it again (after stop or kill) on the same port with the same arguments, `replaceExtra` standing in
   * for the trailing flags it was first given (e.g. a former primary rejoining as `--replicaof` the new one).
   */
  start(replaceExtra?: readonly string[]): Promise<void>;
}

async function launch(
  tool: 'redis-server' | 'redis-sentinel',
  args: string[],
  port: number,
  what: string,
  extraFrom = args.length,
): Promise<RedisNode> {
  let p = await launchRedisProcess(tool, args, port, what);
  return {
    port,
    get pid() {
      return p.pid;
    },
    kill: () => p.end('SIGKILL'),
    stop: () => p.end('SIGTERM'),
    async start(replaceExtra) {
      const next = replaceExtra ? [...args.slice(0, extraFrom), ...replaceExtra] : args;
      p = await launchRedisProcess(tool, next, port, what);
    },
  };
}

/** A free port whose cluster bus port (+10000) is free too. */
async function clusterPort(): Promise<number> {
  for (;;) {
    const p = await freePort();
    if (p <= 55_000 && !(await isPortOpen(p + 10_000, 100))) return p;
  }
}

export interface RedisCluster {
  readonly nodes: RedisNode[];
  /** "127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3" for --redis-cluster. */
  readonly addresses: string;
  close(): Promise<void>;
}

/** Three masters, no replicas; resolves when every node reports cluster_state:ok. */
export async function startRedisCluster(): Promise<RedisCluster> {
  for (const t of ['redis-server', 'redis-cli'] as const) requireTool(t); // missing: throw before starting any
  const root = await mkdtemp(path.join(os.tmpdir(), 'meshshift-cluster-'));
  const nodes: RedisNode[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const port = await clusterPort();
      const dir = path.join(root, String(port));
      await mkdir(dir);
      // each node in its own directory: nodes.conf is per node
      nodes.push(
        await launch(
          'redis-server',
          redisServerArgs(port, dir, [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            '2000',
            '--appendonly',
            'no',
          ]),
          port,
          'redis-server (cluster)',
        ),
      );
    }
    const addrs = nodes.map((n) => `127.0.0.1:${n.port}`);
    await execTool('redis-cli', ['--cluster', 'create', ...addrs, '--cluster-yes'], { timeout: 30_000 });
    const deadline = Date.now() + 20_000;
    for (const n of nodes) {
      const c = new Redis(n.port, '127.0.0.1', { lazyConnect: true });
      await c.connect();
      try {
        while (!/cluster_state:ok/.test((await c.call('CLUSTER', 'INFO')) as string)) {
          if (Date.now() > deadline) throw new Error(`cluster node ${n.port} not ok after 20 s`);
          await new Promise((r) => setTimeout(r, 100));
        }
      } finally {
        c.disconnect();
      }
    }
    return {
      nodes,
      addresses: addrs.join(','),
      async close() {
        await Promise.all(nodes.map((n) => n.stop()));
        await rm(root, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await Promise.all(nodes.map((n) => n.kill()));
    await rm(root, { recursive: true, force: true });
    throw err;
  }
}

export interface SentinelGroup {
  readonly name: string;
  primary: RedisNode;
  replica: RedisNode;
  readonly sentinels: RedisNode[];
  /** "127.0.0.1:s1,…" for --redis-sentinels. */
  readonly addresses: string;
  /** The port Sentinel currently names as the master. */
  masterPort(): Promise<number>;
  close(): Promise<void>;
}

/**
 * A primary, one replica and three Sentinels (quorum 2, down-after 1 s): killing the primary promotes the
 * replica in a few seconds.
 */
export async function startSentinelGroup(name = 'mymaster'): Promise<SentinelGroup> {
  for (const t of ['redis-server', 'redis-sentinel'] as const) requireTool(t); // missing: throw before starting any
  const root = await mkdtemp(path.join(os.tmpdir(), 'meshshift-sentinel-'));
  const all: RedisNode[] = [];
  const node = async (extra: string[]) => {
    const port = await freePort();
    const dir = path.join(root, String(port));
    await mkdir(dir);
    const base = redisServerArgs(port, dir, ['--appendonly', 'no']);
    const n = await launch('redis-server', [...base, ...extra], port, 'redis-server', base.length);
    all.push(n);
    return n;
  };
  try {
    const primary = await node([]);
    const replica = await node(['--replicaof', '127.0.0.1', String(primary.port)]);
    const sentinels: RedisNode[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const conf = path.join(root, `sentinel-${port}.conf`);
      await writeFile(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${root}`,
          `sentinel monitor ${name} 127.0.0.1 ${primary.port} 2`,
          `sentinel down-after-milliseconds ${name} 1000`,
          `sentinel failover-timeout ${name} 10000`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'),
      );
      const s = await launch('redis-sentinel', [conf], port, 'redis-sentinel');
      all.push(s);
      sentinels.push(s);
    }
    const group: SentinelGroup = {
      name,
      primary,
      replica,
      sentinels,
      addresses: sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
      async masterPort() {
        for (const s of sentinels) {
          const c = new Redis(s.port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null });
          try {
            await c.connect();
            const r = (await c.call('SENTINEL', 'get-master-addr-by-name', name)) as [string, string];
            return Number(r[1]);
          } catch {
            // ask the next one
          } finally {
            c.disconnect();
          }
        }
        throw new Error('no Sentinel answered');
      },
      async close() {
        await Promise.all(all.map((n) => n.stop()));
        await rm(root, { recursive: true, force: true });
      },
    };
    // Wait until the replica is in sync (a replica still loading the first copy confirms nothing and would lose
    // everything in a failover) and the Sentinels see each other and the replica.
    const deadline = Date.now() + 20_000;
    const probe = new Redis(sentinels[0]!.port, '127.0.0.1');
    const onPrimary = new Redis(primary.port, '127.0.0.1');
    try {
      for (;;) {
        const info = (await probe.call('SENTINEL', 'master', name)) as string[];
        const f = Object.fromEntries(info.flatMap((v, i) => (i % 2 ? [] : [[v, info[i + 1]]])));
        const online = /slave0:[^\r\n]*state=online/.test(await onPrimary.info('replication'));
        if (online && Number(f['num-slaves']) >= 1 && Number(f['num-other-sentinels']) >= 2) break;
        if (Date.now() > deadline)
          throw new Error(`Sentinel group not ready: replica online ${online}, ${JSON.stringify(f)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      probe.disconnect();
      onPrimary.disconnect();
    }
    return group;
  } catch (err) {
    await Promise.all(all.map((n) => n.kill()));
    await rm(root, { recursive: true, force: true });
    throw err;
  }
}
