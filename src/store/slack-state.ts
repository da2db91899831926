/**
 * What the Slack side keeps in Redis: per migration, the notifier's thread and cursor (written only under the
 * notifier's lease on that migration) and whether it has posted everything; and replay protection for signed
 * Slack requests.
 */
import type { Redis } from 'ioredis';
import type { StoreKeys } from './keys.js';
import { Lease } from './lease.js';

export class SlackNotifierStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: StoreKeys,
    /** A fully posted migration's state expires with the migration's own keys. */
    private readonly keepMs: number,
  ) {}

  /** The notifier's lease on one migration, or undefined while another process holds it. */
  lease(id: string, ttlMs: number): Promise<Lease | undefined> {
    return Lease.take(this.redis, this.keys.slackLock(id), ttlMs);
  }

  async state(id: string): Promise<Record<string, string>> {
    return this.redis.hgetall(this.keys.slackState(id));
  }

  /** Writes state fields while `lease` is held (throws LostLeaseError otherwise). */
  async save(lease: Lease, id: string, fields: Record<string, string>): Promise<void> {
    await lease.hset(this.keys.slackState(id), fields);
  }

  /** For each id, whether everything has been posted. */
  async done(ids: string[]): Promise<boolean[]> {
    if (!ids.length) return [];
    return (await this.redis.smismember(this.keys.slackDone, ...ids)).map((v) => v === 1);
  }

  async markDone(id: string): Promise<void> {
    await this.redis
      .multi()
      .sadd(this.keys.slackDone, id)
      .pexpire(this.keys.slackState(id), this.keepMs)
      .exec();
  }

  /** True the first time `v` is seen within `ttlSeconds` (a signature or trigger id); false for a replay. */
  async firstSeen(kind: 'sig' | 'trigger', v: string, ttlSeconds: number): Promise<boolean> {
    return (await this.redis.set(this.keys.slackSeen(kind, v), '1', 'EX', ttlSeconds, 'NX')) === 'OK';
  }
}
