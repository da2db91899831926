/**
 * A lease on one Redis key: a random token stored with a TTL. Whoever holds the token may extend it, release
 * it and write fenced data; after it expired (a paused process, kill -9, a partition) none of these succeed,
 * so a former holder can never overwrite the work of the next one. Used by the workers (one lease per
 * migration and drive job) and by the Slack notifier (one lease per migration and pass).
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { scripts } from './scripts.js';

export class LostLeaseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LostLeaseError';
  }
}

export class Lease {
  constructor(
    private readonly redis: Redis,
    readonly key: string,
    readonly token: string,
  ) {}

  static newToken(): string {
    return randomBytes(8).toString('hex');
  }

  /** Takes the lease if nobody holds it; undefined when someone does. */
  static async take(
    redis: Redis,
    key: string,
    ttlMs: number,
    token = Lease.newToken(),
  ): Promise<Lease | undefined> {
    const got = await redis.set(key, token, 'PX', ttlMs, 'NX');
    return got === 'OK' ? new Lease(redis, key, token) : undefined;
  }

  /** Pushes the expiry out to `ttlMs` from now; false when the lease is no longer ours. */
  async extend(ttlMs: number): Promise<boolean> {
    return (await scripts.leaseExtend.run(this.redis, [this.key], [this.token, ttlMs])) === 1;
  }

  /** Gives the lease up if it is still ours; false when it had already expired or passed to someone else. */
  async release(): Promise<boolean> {
    return (await scripts.leaseRelease.run(this.redis, [this.key], [this.token])) === 1;
  }

  /** Sets hash fields only while the lease is ours; throws LostLeaseError otherwise. */
  async hset(hash: string, fields: Record<string, string>): Promise<void> {
    const args = Object.entries(fields).flat();
    const ok = await scripts.leaseHset.run(this.redis, [this.key, hash], [this.token, ...args]);
    if (ok !== 1) throw new LostLeaseError(`lost the lease ${this.key}; refusing to write ${hash}`);
  }
}
