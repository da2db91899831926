/** Does Redis answer, is it new enough for BullMQ, and does it keep queue keys under memory pressure (noeviction)? */
import { Redis } from 'ioredis';
import { safeUrl } from './prometheus.js';
import { errorText, type CheckResult } from './types.js';

/** BullMQ refuses older servers (RedisConnection.minimumVersion). */
export const MIN_REDIS_VERSION = '5.0.0';

/** `a >= b` for dotted numeric versions. Pure. */
export function versionAtLeast(a: string, b: string): boolean {
  const pa = a.split('.').map((n) => parseInt(n, 10) || 0);
  const pb = b.split('.').map((n) => parseInt(n, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d > 0;
  }
  return true;
}

/** `key:value` lines of an INFO reply. Pure. */
export function parseInfo(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return out;
}

/** Reads INFO (server + memory) with a deadline on connecting and on each command; never retries. */
async function readInfo(url: string, timeoutMs: number): Promise<Map<string, string>> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  client.on('error', () => {}); // reported through the failing command instead
  try {
    await client.connect();
    const [server, memory] = await Promise.all([client.info('server'), client.info('memory')]);
    return parseInfo(`${server}\n${memory}`);
  } finally {
    client.disconnect();
  }
}

export async function checkRedis(url: string, timeoutMs: number): Promise<CheckResult[]> {
  let info: Map<string, string>;
  try {
    info = await readInfo(url, timeoutMs);
  } catch (err) {
    return [
      {
        id: 'redis',
        ok: false,
        message: `${safeUrl(url)}: ${errorText(err)}`,
        fix: 'pass --redis redis://[:password@]host:port (or set MESHSHIFT_REDIS_URL) and check it is reachable from here',
      },
    ];
  }
  const version = info.get('redis_version') ?? 'unknown';
  const versionOk = versionAtLeast(version, MIN_REDIS_VERSION);
  const policy = info.get('maxmemory_policy') ?? 'unknown';
  return [
    versionOk
      ? { id: 'redis', ok: true, message: `${safeUrl(url)} answers: Redis ${version}` }
      : {
          id: 'redis',
          ok: false,
          message: `${safeUrl(url)} runs Redis ${version}; BullMQ needs ≥ ${MIN_REDIS_VERSION}`,
          fix: `upgrade Redis to ${MIN_REDIS_VERSION} or newer (6.2+ recommended)`,
        },
    policy === 'noeviction'
      ? {
          id: 'redis.eviction',
          ok: true,
          message: 'maxmemory-policy is noeviction: queue keys are never evicted',
        }
      : {
          id: 'redis.eviction',
          ok: false,
          message: `maxmemory-policy is ${policy}: under memory pressure Redis may evict migration jobs and state`,
          fix: 'set maxmemory-policy noeviction (redis.conf, or CONFIG SET maxmemory-policy noeviction; on a managed Redis, its parameter group)',
        },
  ];
}
