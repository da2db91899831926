/** Pure parts of the Redis connection handling and the command deadline (no Redis needed). */
import { describe, expect, it } from 'vitest';
import { checkIdempotencyKey, commandExpired } from '../../src/store/command-deadline.js';
import { StoreKeys } from '../../src/store/keys.js';
import {
  clusterPrefix,
  describeTopology,
  isRedisUnavailable,
  nodeOptions,
  parseHostList,
  redisTopology,
} from '../../src/store/redis-connection.js';

describe('redisTopology', () => {
  it('one node from the URL, with credentials, db and TLS', () => {
    const t = redisTopology({ url: 'rediss://app:s%40cret@redis.example:6380/2' });
    expect(t).toEqual({
      kind: 'standalone',
      node: { host: 'redis.example', port: 6380 },
      auth: { username: 'app', password: 's@cret', db: 2, tls: {} },
    });
    expect(describeTopology(t)).toBe('redis redis.example:6380/2');
    expect(describeTopology(t)).not.toContain('cret');
  });

  it('Sentinel: addresses from a comma list or repeated flags, default group name, the URL gives the password', () => {
    const t = redisTopology({
      url: 'redis://:pw@ignored:1',
      sentinels: ['s-0:26379,s-1:26379', 's-2:26379'],
      sentinelPassword: 'spw',
    });
    expect(t).toMatchObject({
      kind: 'sentinel',
      name: 'mymaster',
      sentinels: [
        { host: 's-0', port: 26379 },
        { host: 's-1', port: 26379 },
        { host: 's-2', port: 26379 },
      ],
      auth: { password: 'pw' },
      sentinelPassword: 'spw',
    });
    const o = nodeOptions(t, 'worker', 'w');
    expect(o).toMatchObject({ name: 'mymaster', role: 'master', password: 'pw', maxRetriesPerRequest: null });
    expect(o.sentinels).toHaveLength(3);
  });

  it('Cluster: nodes, hash-tagged prefix, no database number', () => {
    const t = redisTopology({ url: 'redis://127.0.0.1:6379', cluster: ['10.0.0.1:7000,10.0.0.2:7000'] });
    expect(t).toMatchObject({ kind: 'cluster', nodes: [{ host: '10.0.0.1' }, { host: '10.0.0.2' }] });
    expect(clusterPrefix('meshshift', t)).toBe('{meshshift}');
    expect(clusterPrefix('{meshshift}', t)).toBe('{meshshift}');
    expect(clusterPrefix('prod-{ms}', t)).toBe('prod-{ms}');
    expect(clusterPrefix('meshshift', redisTopology({ url: 'redis://x:1' }))).toBe('meshshift');
    expect(() => redisTopology({ url: 'redis://h:1/3', cluster: ['a:1'] })).toThrow(
      /Cluster has only database 0/,
    );
  });

  it('errors name the flag and the fix', () => {
    expect(() => redisTopology({ url: 'http://x' })).toThrow(/--redis URL.*redis:\/\/ or rediss:\/\//);
    expect(() => redisTopology({ url: 'redis://x/abc' })).toThrow(/database number/);
    expect(() => redisTopology({ url: 'redis://x', sentinels: ['a:1'], cluster: ['b:2'] })).toThrow(
      /either --redis-sentinels .* or --redis-cluster/,
    );
    expect(() => parseHostList(['s-0'], '--redis-sentinels')).toThrow(
      /--redis-sentinels: "s-0" is not host:port/,
    );
    expect(() => parseHostList(['s-0:99999'], '--redis-cluster')).toThrow(/--redis-cluster/);
    expect(() => parseHostList([' , '], '--redis-cluster')).toThrow(/at least one/);
  });

  it("the API's connection fails fast; the worker's waits", () => {
    const t = redisTopology({ url: 'redis://127.0.0.1:6379' });
    expect(nodeOptions(t, 'api', 'a', { commandTimeoutMs: 700 })).toMatchObject({
      enableOfflineQueue: false,
      commandTimeout: 700,
      maxRetriesPerRequest: 1,
    });
    const w = nodeOptions(t, 'worker', 'w');
    expect(w.maxRetriesPerRequest).toBeNull();
    expect(w.enableOfflineQueue).toBeUndefined();
    expect(w.commandTimeout).toBeUndefined();
  });
});

describe('isRedisUnavailable', () => {
  it('connection, timeout and failover errors are 503s; command errors are not', () => {
    const yes = [
      "Stream isn't writeable and enableOfflineQueue options is false",
      'Connection is closed.',
      'Command timed out',
      'connect ECONNREFUSED 127.0.0.1:6379',
      'CLUSTERDOWN The cluster is down',
      'LOADING Redis is loading the dataset in memory',
      "READONLY You can't write against a read only replica.",
      'Failed to refresh slots cache.',
    ];
    for (const m of yes) expect(isRedisUnavailable(new Error(m)), m).toBe(true);
    const e = new Error('x');
    e.name = 'MaxRetriesPerRequestError';
    expect(isRedisUnavailable(e)).toBe(true);
    for (const m of [
      'WRONGTYPE Operation against a key holding the wrong kind of value',
      'ERR Invalid stream ID',
    ])
      expect(isRedisUnavailable(new Error(m)), m).toBe(false);
    expect(isRedisUnavailable('Connection is closed.')).toBe(false);
  });
});

describe('command deadline and idempotency', () => {
  it('a command stored after its deadline is expired; one stored in time, or without a deadline, is kept at any age', () => {
    expect(commandExpired({ at: 0, deadline: 1500, storedAt: 1501 }, 2000)).toBe(true);
    expect(commandExpired({ at: 0, deadline: 1500, storedAt: 1500 }, 10 * 24 * 3600_000)).toBe(false);
    expect(commandExpired({ at: 0 }, 10 * 24 * 3600_000)).toBe(false);
  });

  it('idempotency keys are checked and scoped to caller and migration', () => {
    expect(checkIdempotencyKey('0b8f6c1e-3c1a-4a57-9d0e-2f1c9a7b5e11')).toBeUndefined();
    expect(checkIdempotencyKey('')).toMatch(/Idempotency-Key/);
    expect(checkIdempotencyKey('a b')).toMatch(/visible ASCII/);
    expect(checkIdempotencyKey('x'.repeat(256))).toMatch(/255/);
    const keys = new StoreKeys('{ms}');
    const k = keys.commandIdempotency('alice', 'm-1', 'k');
    expect(k).toMatch(/^\{ms\}:idem:[0-9a-f]{32}$/);
    expect(keys.commandIdempotency('bob', 'm-1', 'k')).not.toBe(k);
    expect(keys.commandIdempotency('alice', 'm-2', 'k')).not.toBe(k);
  });
});
