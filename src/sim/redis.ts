/**
 * Starts a REAL redis-server (Debian's `redis-server`) on a free loopback port. A missing binary throws with the
 * install command: tests never skip. `persistent: true` turns on AOF (appendfsync always) in a temp dir, so
 * `restart()` brings back every key — the "Redis restarted mid-migration" test relies on it.
 *
 * It ships in dist/ (unlike the tests' Sentinel and Cluster launchers, test/harness/redis-ha.ts) because
 * `meshshift playground` (src/sim/playground/run.ts) runs `serve` on a throwaway local Redis started here.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort, isPortOpen } from './ports.js';
import { installHint, requireTool, spawnTool } from './tools.js';

export const REDIS_INSTALL_HINT = installHint('redis-server');

export function findRedisBinary(): string {
  return requireTool('redis-server');
}

/** The flags every redis-server started here shares: loopback only, its own directory, no RDB, foreground. */
export function redisServerArgs(port: number, dir: string, extra: readonly string[]): string[] {
  return [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--daemonize',
    'no',
    ...extra,
  ];
}

export interface LaunchedProcess {
  readonly pid: number | undefined;
  /** Sends `signal` (SIGKILL after 5 s) and resolves once the process has exited; at once if it already has. */
  end(signal: NodeJS.Signals): Promise<void>;
}

/**
 * Spawns `tool args` (redis-server or redis-sentinel) and resolves once 127.0.0.1:`port` accepts connections.
 * An early exit or 10 s without a listener kills it and throws `<what> did not start …` with its last output.
 */
export async function launchRedisProcess(
  tool: 'redis-server' | 'redis-sentinel',
  args: readonly string[],
  port: number,
  what: string,
): Promise<LaunchedProcess> {
  let log = '';
  const p: ChildProcess = spawnTool(tool, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  p.stdout!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  p.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && p.exitCode === null) {
    if (await isPortOpen(port, 200)) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  if (p.exitCode !== null || !(await isPortOpen(port, 200))) {
    p.kill('SIGKILL');
    throw new Error(`${what} did not start on 127.0.0.1:${port}:\n${log}`);
  }
  const end = (signal: NodeJS.Signals) =>
    new Promise<void>((resolve) => {
      if (p.exitCode !== null || p.signalCode !== null) return resolve();
      p.once('exit', () => resolve());
      p.kill(signal);
      setTimeout(() => p.kill('SIGKILL'), 5000).unref();
    });
  return { pid: p.pid, end };
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** Stops the server (SIGTERM; with persistence on, the AOF is already on disk). */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same data directory. */
  start(): Promise<void>;
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startRedis(opts: { persistent?: boolean } = {}): Promise<RedisServer> {
  findRedisBinary(); // a missing binary throws with the install command before anything starts
  const dir = await mkdtemp(path.join(os.tmpdir(), 'meshshift-redis-'));
  let port = 0;
  let proc: LaunchedProcess | undefined;

  const launch = async (): Promise<void> => {
    const persistence = opts.persistent
      ? ['--appendonly', 'yes', '--appendfsync', 'always']
      : ['--appendonly', 'no'];
    const args = redisServerArgs(port, dir, ['--protected-mode', 'yes', ...persistence]);
    proc = await launchRedisProcess('redis-server', args, port, 'redis-server');
  };

  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (err) {
      if (attempt >= 2 || !/Address already in use/i.test(String(err))) throw err;
    }
  }

  const stop = async () => {
    await proc?.end('SIGTERM');
  };

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    stop,
    start: launch,
    async restart() {
      await stop();
      await launch();
    },
    async close() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
