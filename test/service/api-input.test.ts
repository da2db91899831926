/**
 * Bad input to the HTTP API never reaches Redis as a key and never answers 5xx (real Redis, API process only):
 * ids naming another key of a migration, malformed history cursors, and a seeded fuzz over every route.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningService } from '../../src/serve/start.js';
import { mulberry32 } from '../../src/sim/random.js';
import { startRedis, type RedisServer } from '../../src/sim/redis.js';
import { http, startApi, TOKEN } from './helpers.js';
import { dump, FUTURE_PLAN, step, verdict } from './store-fixtures.js';

let redisServer: RedisServer;
let redis: Redis;
let api: RunningService;
let base: string;
const ids: string[] = [];

beforeAll(async () => {
  redisServer = await startRedis();
  redis = new Redis(redisServer.url);
  api = await startApi(redisServer.url, '{apiin}');
  base = api.url!;
  for (let i = 0; i < 2; i++) {
    const r = await http(base, 'POST', '/v1/migrations', { token: TOKEN, body: FUTURE_PLAN });
    expect(r.status).toBe(201);
    ids.push(r.json.id as string);
  }
  // Some history to page through: 30 inconclusive verdicts (kept in full) on the first migration.
  const rec = (await api.store.get(ids[0]!))!;
  await step(
    api.store,
    rec,
    Array.from({ length: 30 }, (_, k) => verdict(1000 + k, 0, 'inconclusive')),
  );
});
afterAll(async () => {
  await api?.close();
  await redis?.quit();
  await redisServer?.close();
});

describe('ids and cursors (defects: 500 WRONGTYPE, 500 Invalid stream ID)', () => {
  it('an id naming another key of the migration is 404 on GET, history and commands', async () => {
    const id = ids[0]!;
    for (const suffix of [':history', ':inbox', ':lock', '%3Ahistory']) {
      for (const p of [`/v1/migrations/${id}${suffix}`, `/v1/migrations/${id}${suffix}/history`]) {
        const r = await http(base, 'GET', p);
        expect(r.status, p).toBe(404);
        expect(String(r.json.message)).toMatch(/<plan name>-<6 hex digits>/);
      }
      const c = await http(base, 'POST', `/v1/migrations/${id}${suffix}/pause`, { token: TOKEN });
      expect(c.status, `pause ${suffix}`).toBe(404);
    }
    expect(await api.store.inbox(id)).toEqual([]);
  });

  it('a malformed history cursor or limit is 400 naming the parameter', async () => {
    const id = ids[0]!;
    for (const q of ['after=abc', 'after=1-2-3', 'after=', 'after=-', 'limit=0', 'limit=1001', 'limit=x']) {
      for (const p of [`/v1/migrations/${id}/history?${q}`, `/v1/migrations/${id}?${q}`]) {
        const r = await http(base, 'GET', p);
        expect(r.status, p).toBe(400);
        expect(String(r.json.message)).toMatch(
          q.startsWith('after') ? /after must be a history entry id/ : /limit/,
        );
      }
    }
  });

  it('GET /migrations/:id pages its history; /history continues from historyNext', async () => {
    const id = ids[0]!;
    const first = await http(base, 'GET', `/v1/migrations/${id}?limit=10`);
    expect(first.status).toBe(200);
    const items = [...(first.json.history as Array<{ id: string; at: number }>)];
    expect(items).toHaveLength(10);
    expect((first.json.lastVerdicts as unknown[]).length).toBe(5);
    let next = first.json.historyNext as string | undefined;
    while (next) {
      const r = await http(base, 'GET', `/v1/migrations/${id}/history?after=${next}&limit=7`);
      expect(r.status).toBe(200);
      items.push(...(r.json.items as Array<{ id: string; at: number }>));
      next = r.json.next as string | undefined;
    }
    expect(items).toHaveLength(31);
    expect(new Set(items.map((e) => e.id)).size).toBe(31);
  });
});

describe('listing', () => {
  it('?live=true lists only migrations that have not finished (the live index)', async () => {
    const rec = (await api.store.get(ids[1]!))!;
    await step(
      api.store,
      rec,
      [{ type: 'phase', at: 5, phase: 'aborted', weight: 0 }],
      { phase: 'aborted' },
      { finished: true },
    );
    const all = await http(base, 'GET', '/v1/migrations');
    expect((all.json.items as Array<{ id: string }>).map((m) => m.id).sort()).toEqual([...ids].sort());
    const live = await http(base, 'GET', '/v1/migrations?live=true');
    expect((live.json.items as Array<{ id: string }>).map((m) => m.id)).toEqual([ids[0]]);
    expect((await http(base, 'GET', '/v1/migrations?live=yes')).status).toBe(400);
  });
});

/** Deterministic PRNG (mulberry32). */
function rng(seed: number) {
  const next = mulberry32(seed);
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
  };
}

type Rng = ReturnType<typeof rng>;

const nested = (depth: number, open: string, close: string, leaf = '1') =>
  open.repeat(depth) + leaf + close.repeat(depth);

function randomId(r: Rng): string {
  const real = r.pick(ids);
  return r.pick([
    () => real,
    () => `${real}${r.pick([':history', ':inbox', ':lock', ':x', '/../', '%00', '%3Ahistory'])}`,
    () => `nope-${r.int(0xffffff).toString(16).padStart(6, '0')}`,
    () => encodeURIComponent(r.pick(['{apiin}:live', '{apiin}:migrations', '*', '..', 'ü-abcdef', ' '])),
    () => 'a'.repeat(r.int(3000) + 1),
    () => encodeURIComponent(String.fromCharCode(...Array.from({ length: 12 }, () => r.int(0xd7ff) + 1))),
  ])();
}

function randomCursor(r: Rng): string {
  return r.pick([
    () => `${r.int(2 ** 31)}-${r.int(100)}`,
    () => '0-0',
    () =>
      encodeURIComponent(r.pick(['-', '+', '$', '>', 'abc', '1-', '-1', '1-2-3', '99999999999999999999-0'])),
    () => '1-0&after=2-0',
    () => encodeURIComponent('(1-0'),
    () => 'x'.repeat(r.int(5000)),
  ])();
}

function randomBody(r: Rng): string {
  return r.pick([
    () => '',
    () => '{',
    () => '{"reason": 1}',
    () => '{"reason": {"a": [1, 2]}}',
    () => '[]',
    () => 'null',
    () => '"text"',
    () => nested(r.int(20_000) + 1, '[', ']'),
    () => nested(r.int(20_000) + 1, '{"a":', '}'),
    () =>
      nested(r.int(5_000) + 1, '- ', '', 'x').replace(
        /- /g,
        (m, i: number) => `\n${' '.repeat(i % 200)}${m}`,
      ),
    () => 'a: &a [1]\nb: *a\n'.repeat(r.int(50) + 1),
    () => 'kind: MigrationPlan\napiVersion: meshshift.io/v1alpha1\nmetadata: {name: "x:history"}\n',
    () => 'x'.repeat(1024 * 1024 + r.int(1000)),
    () => String.fromCharCode(...Array.from({ length: r.int(200) }, () => r.int(0xd7ff))),
    () => '\u0000\u0001\u0002',
  ])();
}

const CONTENT_TYPES = [
  'application/json',
  'application/yaml',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  'application/json; charset=latin1',
  '',
  'invalid/ type ;;',
];

async function fuzzRequest(r: Rng): Promise<{ method: string; path: string; status: number }> {
  const kind = r.int(5);
  const id = randomId(r);
  if (kind === 0) {
    const path = `/v1/migrations/${id}${r.pick(['', `?after=${randomCursor(r)}`, `?limit=${r.int(3000) - 5}`])}`;
    return { method: 'GET', path, status: (await http0(base, 'GET', path)).status };
  }
  if (kind === 1) {
    const path = `/v1/migrations/${id}/history?after=${randomCursor(r)}${r.pick(['', `&limit=${r.pick(['1', '-1', 'x', '1e3', '1000'])}`])}`;
    return { method: 'GET', path, status: (await http0(base, 'GET', path)).status };
  }
  if (kind === 2) {
    // Commands: ABORT on a real, pending migration would be accepted (a real change): only the others.
    const real = ids.includes(id);
    const cmd = r.pick(
      real ? ['promote', 'pause', 'resume', 'ABORT', 'x', '%00'] : ['abort', 'pause', 'promote'],
    );
    const path = `/v1/migrations/${id}/${cmd}`;
    const res = await http0(base, 'POST', path, {
      token: TOKEN,
      body: randomBody(r),
      type: r.pick(CONTENT_TYPES),
    });
    return { method: 'POST', path, status: res.status };
  }
  if (kind === 3) {
    const path = `/v1/migrations?limit=${r.pick(['1', '0', '-1', 'x', '1001', '5'])}&offset=${r.pick(['0', '-1', 'x', '1e9'])}`;
    return { method: 'GET', path, status: (await http0(base, 'GET', path)).status };
  }
  const path = '/v1/migrations';
  const res = await http0(base, 'POST', path, {
    token: TOKEN,
    body: randomBody(r),
    type: r.pick(CONTENT_TYPES),
  });
  return { method: 'POST', path, status: res.status };
}

/** Like `http`, but takes any answer (a 413 from fastify is not always JSON). */
async function http0(
  b: string,
  method: string,
  p: string,
  o: { token?: string; body?: string; type?: string } = {},
): Promise<{ status: number }> {
  const res = await fetch(`${b}${p}`, {
    method,
    headers: {
      ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
      ...(o.body !== undefined && o.type ? { 'content-type': o.type } : {}),
    },
    ...(o.body !== undefined ? { body: o.body } : {}),
  });
  await res.arrayBuffer();
  return { status: res.status };
}

describe('fuzz', () => {
  it('random ids, cursors, bodies and content types: never 5xx, the store unchanged', async () => {
    const seed = Number(process.env.MESHSHIFT_FUZZ_SEED ?? 20261129);
    const runs = Number(process.env.MESHSHIFT_FUZZ_RUNS ?? 400);
    const r = rng(seed);
    const before = await dump(redis);
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    for (let i = 0; i < runs; i++) {
      const res = await fuzzRequest(r);
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status >= 500) failures.push(`#${i} ${res.method} ${res.path.slice(0, 120)} → ${res.status}`);
    }
    expect(failures, `seed ${seed}`).toEqual([]);
    expect([...statuses.keys()].every((s) => s >= 200 && s < 500)).toBe(true);
    expect(await dump(redis)).toEqual(before);
  }, 120_000);
});
