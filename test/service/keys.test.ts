/** Key names: one module builds them, ids are validated first, a hash-tagged prefix keeps them in one slot. */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { InvalidIdError, isHistoryCursor, isMigrationId, StoreKeys } from '../../src/store/keys.js';
import { runKeyOf } from '../../src/store/history-stream.js';
import { verdict, weightEntry } from './store-fixtures.js';

/** The slot function ioredis' Cluster client routes commands with. */
const slotOf = createRequire(import.meta.url)('cluster-key-slot') as (key: string) => number;

describe('migration ids', () => {
  it('accepts what submit generates and nothing that could name another key', () => {
    for (const ok of ['checkout-3fa2c1', 'pc-000000', 'a.b-c-ffffff', 'productcatalogservice-0a1b2c'])
      expect(isMigrationId(ok), ok).toBe(true);
    for (const bad of [
      'checkout-3fa2c1:history',
      'checkout-3fa2c1:lock',
      'checkout',
      'Checkout-3fa2c1',
      'checkout-3FA2C1',
      '-3fa2c1',
      'a..b-3fa2c1',
      'checkout-3fa2c1\n',
      'x{tag}-3fa2c1',
      `${'a'.repeat(300)}-3fa2c1`,
      '',
      undefined,
      42,
    ])
      expect(isMigrationId(bad), String(bad)).toBe(false);
  });

  it('builds no key for anything else', () => {
    const k = new StoreKeys('meshshift');
    expect(() => k.history('checkout-3fa2c1:history')).toThrow(InvalidIdError);
    expect(() => k.migration('x')).toThrow(/not a migration id.*<plan name>-<6 hex digits>/);
    expect(() => k.activeIn('shop:x')).toThrow(/not a namespace/);
    expect(() => new StoreKeys('meshshift:')).toThrow(/invalid Redis key prefix/);
  });

  it('history cursors are stream ids', () => {
    for (const ok of ['0-0', '1732900000000-12']) expect(isHistoryCursor(ok)).toBe(true);
    for (const bad of [
      '',
      '-',
      '+',
      '1732900000000',
      '1-2-3',
      'abc',
      '1-x',
      '99999999999999999999-0',
      ['1-0'],
    ])
      expect(isHistoryCursor(bad), String(bad)).toBe(false);
  });
});

describe('key names', () => {
  it('are the names stored data is found under', () => {
    const k = new StoreKeys('{ms}');
    const id = 'checkout-3fa2c1';
    const h = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 32);
    expect([k.migration(id), k.history(id), k.inbox(id), k.lock(id)]).toEqual([
      '{ms}:m:checkout-3fa2c1',
      '{ms}:m:checkout-3fa2c1:history',
      '{ms}:m:checkout-3fa2c1:inbox',
      '{ms}:m:checkout-3fa2c1:lock',
    ]);
    expect(k.migrationPrefix).toBe('{ms}:m:');
    expect([k.index, k.live, k.finished, k.phases, k.indexVersion, k.active, k.activeIn('shop')]).toEqual([
      '{ms}:migrations',
      '{ms}:live',
      '{ms}:finished',
      '{ms}:phases',
      '{ms}:indexes',
      '{ms}:active',
      '{ms}:active:ns:shop',
    ]);
    expect([k.slackState(id), k.slackLock(id), k.slackDone, k.slackSeen('sig', 'abc')]).toEqual([
      '{ms}:slack:n:checkout-3fa2c1',
      '{ms}:slack:n:checkout-3fa2c1:lock',
      '{ms}:slack:done',
      '{ms}:slack:seen:sig:abc',
    ]);
    expect(k.route('shop/vs/route')).toBe(`{ms}:route:${h('shop/vs/route')}`);
    expect(k.commandIdempotency('alice', id, 'k1')).toBe(`{ms}:idem:${h(`alice\n${id}\nk1`)}`);
    expect(k.submitIdempotency('alice', 'k1')).toBe(`{ms}:idem:submit:${h('alice\nk1')}`);
    expect(k.controllerCommand('uid-1')).toBe('{ms}:controller:command:uid-1');
    expect(k.controllerDelete('uid-1')).toBe('{ms}:controller:delete:uid-1');
    expect(k.bull).toBe('{ms}:bull');
  });
});

describe('Redis Cluster', () => {
  it('with a hash-tagged prefix every key of a migration and every index share one slot', () => {
    const k = new StoreKeys('{meshshift}');
    const id = 'checkout-3fa2c1';
    const keys = [
      ...k.all(id),
      k.lock(id),
      k.slackLock(id),
      k.slackSeen('sig', 'abc'),
      k.index,
      k.live,
      k.finished,
      k.phases,
      k.active,
      k.activeIn('shop'),
      k.slackDone,
      k.commandIdempotency('alice', id, 'k'),
      k.submitIdempotency('alice', 'k'),
      k.route('shop/vs/route'),
      k.controllerCommand('uid'),
      k.controllerDelete('uid'),
      `${k.bull}:meshshift-migrations:id`,
    ];
    expect(new Set(keys.map(slotOf)).size).toBe(1);
    // Without the tag they scatter (so the tag is what keeps the multi-key scripts single-slot).
    const plain = new StoreKeys('meshshift');
    expect(new Set([plain.migration(id), plain.history(id), plain.live].map(slotOf)).size).toBeGreaterThan(1);
  });
});

describe('history run keys', () => {
  it('only passing verdicts form runs, per weight and checks', () => {
    expect(runKeyOf(verdict(1, 5))).toBe(runKeyOf(verdict(99, 5)));
    expect(runKeyOf(verdict(1, 5))).not.toBe(runKeyOf(verdict(1, 10)));
    expect(runKeyOf(verdict(1, 5, 'inconclusive'))).toBe('');
    expect(runKeyOf(verdict(1, 5, 'fail'))).toBe('');
    expect(runKeyOf(weightEntry(1, 5))).toBe('');
  });
});
