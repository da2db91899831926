/**
 * Starts a REAL redis-server (Debian's `redis-server`) on a free loopback port. A missing binary throws with the
 * install command: tests never skip. `persistent: true` turns on AOF (appendfsync always) in a temp dir, so
 * `restart()` brings back every key — the "Redis restarted mid-migration" test relies on it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort, isPortOpen } from './ports.js';

export const REDIS_INSTALL_HINT = 'apt-get update && apt-get install -y --no-install-recommends redis-server';

export function findRedisBinary(): string {
  const candidates = [
    process.env.REDIS_SERVER_BIN,
    ...(process.env.PATH ?? '').split(path.delimiter).map((d) => path.join(d, 'redis-server')),
    '/usr/bin/redis-server',
  ].filter((c): c is string => !!c);
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // try the next one
    }
  }
  throw new Error(
    `redis-server not found on PATH. Install it with: ${REDIS_INSTALL_HINT} (or set REDIS_SERVER_BIN)`,
  );
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
  const bin = findRedisBinary();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'meshshift-redis-'));
  let port = 0;
  let proc: ChildProcess | undefined;
  let log = '';

  const launch = async (): Promise<void> => {
    const args = [
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
      '--protected-mode',
      'yes',
      ...(opts.persistent ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
    ];
    log = '';
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
    p.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
    proc = p;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (p.exitCode !== null) break;
      if (await isPortOpen(port, 200)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    p.kill('SIGKILL');
    throw new Error(`redis-server did not start on 127.0.0.1:${port}:\n${log}`);
  };

  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (err) {
      if (attempt >= 2 || !/Address already in use/i.test(log)) throw err;
    }
  }

  const stop = async () => {
    const p = proc;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
      setTimeout(() => p.kill('SIGKILL'), 5000).unref();
    });
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
