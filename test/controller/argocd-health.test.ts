/**
 * The Argo CD health check docs/gitops.md ships for MigrationPlans, run by a real Lua 5.1 interpreter (Redis's, the
 * same language version as Argo CD's gopher-lua) on the statuses the controller writes.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conditionsFor, settleConditions } from '../../src/controller/status.js';
import { startRedis, type RedisServer } from '../../src/sim/redis.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const LUA = readFileSync(path.join(ROOT, 'docs/gitops/argocd-health-migrationplan.lua'), 'utf8');
let server: RedisServer;
let redis: Redis;
beforeAll(async () => {
  server = await startRedis({ persistent: false });
  redis = new Redis(server.url);
});
afterAll(async () => {
  redis.disconnect();
  await server.close();
});

async function health(obj: unknown): Promise<[string, string]> {
  const script = `local function check(obj)\n${LUA}\nend\nlocal hs = check(cjson.decode(ARGV[1]))\nreturn {hs.status, hs.message}`;
  return (await redis.eval(script, 0, JSON.stringify(obj))) as [string, string];
}

const planIn = (phase: string, weight: number, reason?: string) => ({
  metadata: { generation: 1 },
  status: {
    observedGeneration: 1,
    conditions: settleConditions(
      conditionsFor({ phase, weight, ...(reason ? { reason } : {}) }),
      undefined,
      1,
      0,
    ),
  },
});

describe('Argo CD health check (Lua)', () => {
  it('maps the controller conditions to Argo CD health', async () => {
    expect(await health(planIn('completed', 100))).toEqual([
      'Healthy',
      'all traffic is on the target (100 %)',
    ]);
    expect((await health(planIn('shifting', 10)))[0]).toBe('Progressing');
    expect((await health(planIn('awaitingApproval', 5)))[0]).toBe('Suspended');
    expect((await health(planIn('paused', 5, 'inconclusive')))[0]).toBe('Suspended');
    expect(await health(planIn('rolledBack', 0, 'error rate 20 %'))).toEqual([
      'Degraded',
      'rolledBack: error rate 20 %',
    ]);
    expect(
      (await health({ metadata: { generation: 2 }, status: { observedGeneration: 1, conditions: [] } }))[0],
    ).toBe('Progressing');
    expect((await health({ metadata: { generation: 1 } }))[0]).toBe('Progressing');
  });

  it('docs/gitops.md ships exactly this script', () => {
    const readme = readFileSync(path.join(ROOT, 'docs/gitops.md'), 'utf8');
    const indented = LUA.trimEnd()
      .split('\n')
      .map((l) => `    ${l}`)
      .join('\n');
    expect(readme).toContain(indented);
  });
});
