/**
 * The built package (`npm run build`, then bin/meshshift.js → dist) carries its Lua scripts: a `meshshift serve`
 * started from dist stores a plan (a script), pages its history, refuses ids naming other keys, and takes
 * --retention.
 */
import { afterAll, expect, it } from 'vitest';
import { startRedis, type RedisServer } from '../../src/sim/redis.js';
import { startServeChild, type ServeChild } from '../harness/serve-child.js';
import { http, TOKEN, tokensFile } from './helpers.js';
import { FUTURE_PLAN } from './store-fixtures.js';

let redis: RedisServer | undefined;
let serve: ServeChild | undefined;
afterAll(async () => {
  serve?.kill9();
  await redis?.close();
});

it('meshshift serve from dist runs the store scripts', async () => {
  redis = await startRedis();
  serve = await startServeChild({
    cli: 'dist',
    args: [
      '--role',
      'api',
      '--redis',
      redis.url,
      '--prefix',
      '{dist}',
      '--tokens-file',
      tokensFile(),
      '--retention',
      '7d',
    ],
    startTimeoutMs: 20_000,
  });
  const base = serve.url;
  const created = await http(base, 'POST', '/v1/migrations', { token: TOKEN, body: FUTURE_PLAN });
  expect(created.status, JSON.stringify(created.json)).toBe(201);
  const id = created.json.id as string;
  const got = await http(base, 'GET', `/v1/migrations/${id}?limit=1`);
  expect(got.status).toBe(200);
  expect((got.json.history as Array<{ type: string }>).map((e) => e.type)).toEqual(['submitted']);
  expect((await http(base, 'GET', `/v1/migrations/${id}:history`)).status).toBe(404);
  expect((await http(base, 'GET', `/v1/migrations/${id}/history?after=nope`)).status).toBe(400);
}, 60_000);
