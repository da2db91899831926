/**
 * Hostile and multi-document plans through the HTTP API and `meshshift submit` (real Redis, the built CLI):
 * every bad body answers 4xx naming a field or line, never 5xx, and nothing is stored.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningService } from '../../src/serve/start.js';
import { parsePlan } from '../../src/plan/load.js';
import { badInputs } from '../harness/bad-plans.js';
import { GOOD_PLAN, GOOD_POLICY } from '../harness/plan-fixtures.js';
import { startRedis } from '../../src/sim/redis.js';
import { TOKEN, http, startApi } from './helpers.js';

const BIN = path.resolve('bin/meshshift.js');
const dir = mkdtempSync(path.join(os.tmpdir(), 'meshshift-plan-input-'));
let api: RunningService;
let base: string;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  const redis = await startRedis();
  cleanups.push(() => redis.close());
  api = await startApi(redis.url, 'planinput');
  cleanups.push(() => api.close());
  base = api.url!;
});
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

type FieldErrorJson = { path: string; message: string; line?: number; document?: number };

const post = (body: string, type = 'application/yaml') =>
  http(base, 'POST', '/v1/migrations', { token: TOKEN, body, type });

/** Ids of the migrations the API accepted (a fuzz mutation may happen to be a valid plan). */
const accepted: string[] = [];

async function stored(): Promise<string[]> {
  const r = await http(base, 'GET', '/v1/migrations', { token: TOKEN });
  expect(r.status).toBe(200);
  return (r.json.items as Array<{ id: string }>).map((m) => m.id).sort();
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, NO_COLOR: '1', MESHSHIFT_TOKEN: TOKEN },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const file = (name: string, text: string) => {
  const f = path.join(dir, name);
  writeFileSync(f, text);
  return f;
};

describe('POST /v1/migrations with hostile plans', () => {
  it('alias bombs, duplicate keys, deep nesting, big bodies, wrong roots and kinds: 4xx with a field or line', async () => {
    const bomb = [
      'kind: MigrationPlan',
      'spec:',
      '  a: &a [x, x, x, x, x, x, x, x, x, x]',
      ...'bcdefgh'
        .split('')
        .map((c, i) => `  ${c}: &${c} [${Array(10).fill(`*${'abcdefg'[i]}`).join(', ')}]`),
    ].join('\n');
    const cases: Array<[string, string, number, RegExp]> = [
      ['alias bomb', bomb, 422, /YAML alias \*a expands to too much data/],
      [
        'duplicate key',
        GOOD_PLAN.replace('  source:\n', '  source:\n    subset: x\n'),
        422,
        /duplicate key "subset"/,
      ],
      ['deep', `${'['.repeat(50_000)}${']'.repeat(50_000)}`, 422, /nested more than 64 levels/],
      ['over the plan limit', `${GOOD_PLAN}${'#'.repeat(200 * 1024)}\n`, 422, /passes the limit of 128 KiB/],
      ['a list', '[1, 2, 3]', 422, /expected a YAML mapping .*got a list/],
      ['wrong kind', GOOD_PLAN.replace('kind: MigrationPlan', 'kind: VirtualService'), 422, /kind must be/],
      ['two plans', `${GOOD_PLAN}---\n${GOOD_PLAN}`, 422, /2 MigrationPlans here/],
      ['only a policy', GOOD_POLICY, 422, /no MigrationPlan here/],
    ];
    for (const [name, body, status, message] of cases) {
      const r = await post(body);
      expect(r.status, name).toBe(status);
      const errors = r.json.errors as FieldErrorJson[];
      expect(errors.map((e) => e.message).join('\n'), name).toMatch(message);
      for (const e of errors)
        expect(e.path !== '' || e.line !== undefined, `${name}: ${e.message}`).toBe(true);
    }
    // Beyond the server's body limit: 413 before anything parses.
    expect((await post(`${GOOD_PLAN}#${'x'.repeat(2 * 1024 * 1024)}\n`)).status).toBe(413);
    expect(await stored()).toEqual([...accepted].sort());
  });

  it('seeded fuzz: no 5xx, every 422 names a path or line, only valid plans are stored', async () => {
    const statuses = new Map<number, number>();
    for (const input of badInputs(7, 60)) {
      let valid = true;
      try {
        parsePlan(input.text, 'local');
      } catch {
        valid = false;
      }
      const r = await post(
        input.text,
        input.family.includes('JSON') ? 'application/json' : 'application/yaml',
      );
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      if (valid) {
        expect(r.status, input.family).toBe(201);
        accepted.push(r.json.id as string);
        continue;
      }
      expect(r.status, `${input.family}: ${JSON.stringify(r.json).slice(0, 300)}`).toBeGreaterThanOrEqual(
        400,
      );
      expect(r.status, input.family).toBeLessThan(500);
      if (r.status !== 422) continue;
      for (const e of r.json.errors as FieldErrorJson[])
        expect(e.path !== '' || e.line !== undefined, `${input.family}: ${e.message}`).toBe(true);
    }
    console.log(`plan input fuzz over HTTP: statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
    expect(await stored()).toEqual([...accepted].sort());
  });
});

describe('multi-document plans through the API and meshshift submit', () => {
  it('submit refuses a file with two plans before sending, and shows 422 errors with file, line and document', async () => {
    const two = await cli(['submit', file('two.yaml', `${GOOD_PLAN}---\n${GOOD_PLAN}`), '--server', base]);
    expect(two.code).toBe(1);
    expect(two.stderr).toMatch(
      /two\.yaml holds 2 MigrationPlans .*document 1.*document 2.*Nothing was submitted/,
    );
    const badPolicy = GOOD_POLICY.replace('stepDuration: 1m', 'stepDuration: soon');
    const bad = await cli(['submit', file('bad.yaml', `${GOOD_PLAN}---\n${badPolicy}`), '--server', base]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(
      /422 invalid plan\n {2}.*bad\.yaml:24:\d+ \[document 2\] spec\.stepDuration: /,
    );
    expect(bad.stderr).not.toMatch(/\n\s+at /);
    expect(await stored()).toEqual([...accepted].sort());
  });

  it('a Policy and the plan that names it, in one body: the plan is stored with that policy', async () => {
    const text = `${GOOD_POLICY}---\n${GOOD_PLAN.replace('policy: default', 'policy: quick')}`;
    const r = await cli(['submit', file('both.yaml', text), '--server', base, '--output', 'json']);
    expect(r.stderr).toMatch(/submitting MigrationPlan productcatalog \(document 2 of 2/);
    expect(r.code).toBe(0);
    const { id, steps } = JSON.parse(r.stdout) as { id: string; steps: number[] };
    expect(steps).toEqual([10, 50, 100]);
    accepted.push(id);
    expect(await stored()).toEqual([...accepted].sort());
  });
});
