/** The HTTP API under the one access model: operators per namespace, viewers refused with 403 naming the fix. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileTokenStore } from '../../src/auth/tokens.js';
import { startService, type RunningService } from '../../src/serve/start.js';
import { silentLogger } from '../../src/log/logger.js';
import { startRedis, type RedisServer } from '../../src/sim/redis.js';
import { GOOD_PLAN } from '../harness/plan-fixtures.js';
import { http, serveOptions } from '../service/helpers.js';

const SHOP = 'shop-operator-0123456789abcdef';
const OTHER = 'other-operator-0123456789abcdef';
const VIEW = 'viewer-token-0123456789abcdef';
let redis: RedisServer;
let svc: RunningService;

beforeAll(async () => {
  redis = await startRedis();
  const f = path.join(mkdtempSync(path.join(os.tmpdir(), 'meshshift-grants-')), 'tokens');
  writeFileSync(
    f,
    `sam:${SHOP} operator=shop\nola:${OTHER} operator=payments viewer=*\nvic:${VIEW} viewer=*\n`,
  );
  svc = await startService(serveOptions(redis.url, 'grants'), {
    logger: silentLogger,
    tokens: new FileTokenStore(f),
  });
});
afterAll(async () => {
  await svc?.close();
  await redis?.close();
});

describe('API grants', () => {
  it('submit and commands need operator in the plan namespace', async () => {
    const base = svc.url!;
    const other = await http(base, 'POST', '/v1/migrations', { token: OTHER, body: GOOD_PLAN });
    expect(other.status).toBe(403);
    expect(other.json.message).toBe(
      'ola may not change migrations in namespace "shop" (needs operator=shop in the tokens file)',
    );
    expect((await http(base, 'POST', '/v1/migrations', { token: VIEW, body: GOOD_PLAN })).status).toBe(403);
    const ok = await http(base, 'POST', '/v1/migrations', { token: SHOP, body: GOOD_PLAN });
    expect(ok.status).toBe(201);
    const id = ok.json.id as string;
    const body = { body: '{"reason":"x"}', type: 'application/json' };
    expect((await http(base, 'POST', `/v1/migrations/${id}/abort`, { token: VIEW, ...body })).status).toBe(
      403,
    );
    expect((await http(base, 'POST', `/v1/migrations/${id}/abort`, { token: OTHER, ...body })).status).toBe(
      403,
    );
    const mine = await http(base, 'POST', `/v1/migrations/${id}/abort`, { token: SHOP, ...body });
    expect([202, 409]).toContain(mine.status); // allowed past authorization; the machine decides the rest
  });
});
