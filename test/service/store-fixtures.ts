/** Records, history entries and one-call drive steps for the store tests (real Redis, no worker). */
import type { Redis } from 'ioredis';
import { parsePlan } from '../../src/plan/load.js';
import type { MigrationRecord, NewHistoryEntry, RedisMigrationStore } from '../../src/store/store.js';
import type { ScenarioFixture } from '../../src/sim/scenario-fixture.js';
import { planYamlFor } from '../../src/sim/scenario.js';

export const FIXTURE = {
  mode: 'subsets',
  namespace: 'shop',
  service: 'productcatalogservice',
  host: 'productcatalogservice',
  virtualService: 'productcatalogservice',
  serviceEntry: 'productcatalogservice-vms',
  deployment: 'productcatalogservice',
  sourceSubset: 'vm',
  targetSubset: 'k8s',
} as unknown as ScenarioFixture;

/** A plan that waits for a start in 2099: submitted through the API it stays pending, whoever runs workers. */
export const FUTURE_PLAN = planYamlFor(FIXTURE, 'default').replace(
  /\nspec:\n/,
  `\nspec:\n  schedule:\n    start:\n      at: "2099-01-01T09:00:00Z"\n`,
);

let n = 0;
export function record(at = Date.now()): MigrationRecord {
  const plan = parsePlan(planYamlFor(FIXTURE, 'default'), 'test plan');
  const id = `${plan.name}-${(0x100000 + n++).toString(16).slice(-6)}`;
  return {
    id,
    name: plan.name,
    namespace: plan.namespace,
    plan,
    seq: 0,
    phase: 'pending',
    weight: 0,
    createdAt: at,
    createdBy: 'test',
    updatedAt: at,
    timeScale: 1,
    awaitingCron: false,
    heldByWindow: false,
  };
}

/** A verdict as the worker records it (numbers, checks and the sample behind them). */
export function verdict(at: number, weight: number, outcome: 'pass' | 'fail' | 'inconclusive' = 'pass') {
  const errorRate = outcome === 'fail' ? 0.031 : 0.0012 + (at % 7) / 10_000;
  return {
    type: 'verdict',
    at,
    outcome,
    weight,
    summary: `error rate ${(errorRate * 100).toFixed(2)} % (max 1 %), p99 ${80 + (at % 13)} ms (max 500 ms), 1,234 requests`,
    checks: [
      {
        name: 'error-rate',
        outcome: outcome === 'fail' ? 'fail' : 'pass',
        observed: errorRate,
        threshold: 0.01,
      },
      { name: 'p99', outcome: 'pass', observed: 80 + (at % 13), threshold: 500 },
    ],
    sample: {
      source: { requests: 11_520.4, errors: 3.1, latencyMs: { p99: 77.2 } },
      target: { requests: 1_234.7, errors: errorRate * 1_234.7, latencyMs: { p99: 80 + (at % 13) } },
      windowMs: 60_000,
      queries: 2,
    },
  } satisfies NewHistoryEntry;
}

/** One drive job: take the lease at the current seq, commit fields and entries. Returns the new seq. */
export async function step(
  store: RedisMigrationStore,
  rec: MigrationRecord,
  history: NewHistoryEntry[],
  fields: Record<string, string | null> = {},
  o: { finished?: boolean; now?: number } = {},
): Promise<number> {
  const seq = (await store.seq(rec.id))!;
  const token = `w|${seq}|t`;
  const lock = await store.acquire(rec.id, seq, token, 5000, 'w', o.now ?? Date.now());
  if (!lock.ok) throw new Error(`cannot take the lease: ${lock.why}`);
  const c = await store.commit(rec.id, rec.namespace, {
    token,
    seq,
    fields,
    inboxConsumed: 0,
    releaseSlot: o.finished ?? false,
    history,
  });
  await store.release(rec.id, token);
  return c.seq;
}

/** Every key with its type, TTL state and contents: equal dumps mean nothing changed. */
export async function dump(redis: Redis): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const key of (await redis.keys('*')).sort()) {
    const type = await redis.type(key);
    const value =
      type === 'string'
        ? await redis.get(key)
        : type === 'hash'
          ? await redis.hgetall(key)
          : type === 'list'
            ? await redis.lrange(key, 0, -1)
            : type === 'set'
              ? (await redis.smembers(key)).sort()
              : type === 'zset'
                ? await redis.zrange(key, 0, -1, 'WITHSCORES')
                : type === 'stream'
                  ? await redis.xrange(key, '-', '+')
                  : type;
    out[key] = { type, value, expires: (await redis.pttl(key)) >= 0 };
  }
  return out;
}

/** The first entry of a migration's history, as the service writes it. */
export const submitted = (at: number, by = 'test'): NewHistoryEntry => ({
  type: 'submitted',
  at,
  by,
  plan: 'cart',
  namespace: 'shop',
  policy: 'default',
  steps: [1, 5, 10, 25, 50, 100],
});

/** A weight write as the engine records it. */
export const weightEntry = (at: number, weight: number, previous = 0): NewHistoryEntry => ({
  type: 'weight',
  at,
  weight,
  previous,
  wrote: true,
  attempts: 1,
});
