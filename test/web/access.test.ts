/** The one access model (tokens file grants, Slack mapping), dashboard sessions and the chart's data. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileTokenStore, parseTokens } from '../../src/auth/tokens.js';
import { allows } from '../../src/auth/access.js';
import { SlackAuthorizer } from '../../src/slack/auth.js';
import { chartData, pointCounts, verdictLine, type ChartEntry } from '../../src/web/chart-data.js';
import { SessionStore, cookieValue, sameSecret, sessionCookie } from '../../src/web/session.js';

const T = (n: number) => `token-${String(n).padStart(2, '0')}-0123456789abcdef`;

function store(text: string): FileTokenStore {
  const f = path.join(mkdtempSync(path.join(os.tmpdir(), 'meshshift-acl-')), 'tokens');
  writeFileSync(f, text);
  return new FileTokenStore(f);
}

describe('tokens file grants', () => {
  it('a line without grants is an operator everywhere (as before roles); grants restrict per namespace', () => {
    const s = store(`old:${T(1)}\nann:${T(2)} viewer=* operator=payments,team-*\nvic:${T(3)} viewer=shop\n`);
    const old = s.identify(T(1))!;
    expect(allows(old, 'anything', 'operate')).toBe(true);
    const ann = s.identify(T(2))!;
    expect(ann.name).toBe('ann');
    expect(allows(ann, 'payments', 'operate')).toBe(true);
    expect(allows(ann, 'team-blue', 'operate')).toBe(true);
    expect(allows(ann, 'shop', 'operate')).toBe(false);
    expect(allows(ann, 'shop', 'read')).toBe(true);
    const vic = s.identify(T(3))!;
    expect(allows(vic, 'shop', 'read')).toBe(true);
    expect(allows(vic, 'shop', 'operate')).toBe(false);
    expect(allows(vic, 'payments', 'read')).toBe(false);
    expect(s.identify('nope-nope-nope-nope')).toBeUndefined();
    expect(s.principal('vic')?.grants).toEqual([{ role: 'viewer', namespaces: ['shop'] }]);
  });

  it('bad grants and Slack ids are refused with the line and the fix', () => {
    expect(() => parseTokens(`a:${T(1)} admin=*`, 'tokens')).toThrow(
      /tokens:1: "admin=\*" is not a grant: write viewer=<namespaces> or operator=<namespaces>/,
    );
    expect(() => parseTokens(`a:${T(1)} slack=alice`, 'tokens')).toThrow(
      /tokens:1: "alice" is not a Slack member id/,
    );
  });

  it('Slack uses the same grants for members listed on a token line', async () => {
    const s = store(`ann:${T(2)} operator=payments slack=U0ANN1\nvic:${T(3)} viewer=* slack=U0VIC1\n`);
    const auth = new SlackAuthorizer({ principals: s });
    expect(await auth.decide('U0ANN1', 'payments', 'promote')).toEqual({
      ok: true,
      via: 'tokens file (ann)',
    });
    expect((await auth.decide('U0ANN1', 'shop', 'promote')).ok).toBe(false);
    expect((await auth.decide('U0VIC1', 'payments', 'abort')).ok).toBe(false);
  });
});

describe('dashboard sessions', () => {
  it('random ids, expiry, an HttpOnly SameSite=Strict cookie scoped to /ui', () => {
    const s = new SessionStore(1000);
    const a = s.create('ann', 0);
    const b = s.create('ann', 0);
    expect(a.id).not.toBe(b.id);
    expect(a.id.length).toBeGreaterThanOrEqual(43);
    expect(s.get(a.id, 999)?.user).toBe('ann');
    expect(s.get(a.id, 1000)).toBeUndefined();
    expect(sessionCookie('x', { maxAgeS: 60, secure: false })).toBe(
      'meshshift_session=x; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=60',
    );
    expect(cookieValue('a=1; meshshift_session=abc; b=2', 'meshshift_session')).toBe('abc');
    expect(sameSecret(undefined, 'x')).toBe(false);
    expect(sameSecret('xy', 'x')).toBe(false);
    expect(sameSecret('x', 'x')).toBe(true);
  });
});

describe('chart data', () => {
  const sample = (errors: number, p99: number) => ({
    source: { requests: 100, errors: 0, latencyMs: { p50: 10, p99: 40 } },
    target: { requests: 100, errors, latencyMs: { p50: 12, p99 } },
    windowMs: 60000,
    queries: 2,
  });
  const h: ChartEntry[] = [
    {
      type: 'submitted',
      at: 1000,
      by: 'ann',
      plan: 'cart',
      namespace: 'shop',
      policy: 'default',
      steps: [5, 100],
    },
    { type: 'weight', at: 2000, weight: 5, previous: 0, wrote: true, attempts: 1 },
    {
      type: 'verdict',
      at: 3000,
      outcome: 'pass',
      weight: 5,
      summary: 'ok',
      checks: [],
      sample: sample(0, 50),
    },
    {
      type: 'verdict',
      at: 4000,
      outcome: 'fail',
      weight: 5,
      summary: 'errors',
      checks: [{ name: 'error-rate', outcome: 'fail', observed: 0.2, threshold: 0.01 }],
      sample: sample(20, 90),
    },
    { type: 'weight', at: 4500, weight: 0, previous: 5, wrote: true, attempts: 1, rollback: true },
    { type: 'command', at: 4600, command: 'ABORT', by: 'web:ann', accepted: true, reason: 'pager' },
  ];
  it('weight as a step series, both sides from samples, markers for verdicts, the rollback and commands', () => {
    const d = chartData(h);
    expect(d.x).toEqual([1, 2, 3, 4, 4.5]);
    expect(d.weight).toEqual([0, 5, 5, 5, 0]);
    expect(d.targetErrorPct).toEqual([null, null, 0, 20, null]);
    expect(d.sourceP99).toEqual([null, null, 40, 40, null]);
    expect(d.targetP99).toEqual([null, null, 50, 90, null]);
    expect(pointCounts(d)).toEqual({ source: 4, target: 4 });
    expect(d.markers.map((m) => m.kind)).toEqual(['pass', 'fail', 'rollback', 'command']);
    expect(d.markers[1]!.label).toBe('fail at 5 %: errors — error-rate fail (0.2 vs 0.01)');
    expect(d.markers[3]!.label).toBe('ABORT by web:ann (pager)');
    expect(
      verdictLine({
        type: 'verdict',
        at: 0,
        outcome: 'pass',
        weight: 1,
        summary: 's',
        checks: [{ name: 'p99', outcome: 'skipped' }],
      }),
    ).toBe('pass at 1 %: s — p99 skipped');
  });
});
