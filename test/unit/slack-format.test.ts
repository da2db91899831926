import { describe, expect, it } from 'vitest';
import type { RouteName } from '../../src/engine/route-label.js';
import type { MigrationView } from '../../src/engine/view.js';
import { parseHistoryRecord, type HistoryEntry, type VerdictRecord } from '../../src/engine/history.js';
import {
  entryMessages,
  listMessage,
  parentMessage,
  statusMessage,
  verdictText,
  who,
  type EntryContext,
} from '../../src/slack/format.js';

const view = (o: Partial<MigrationView> = {}): MigrationView => ({
  id: 'cart-1a2b3c',
  name: 'cart',
  namespace: 'shop',
  route: { kind: 'VirtualService', namespace: 'shop', name: 'cart' },
  phase: 'shifting',
  weight: 25,
  steps: [1, 5, 10, 25, 50, 100],
  policy: 'default',
  possible: ['PROMOTE', 'PAUSE', 'ABORT'],
  createdAt: '2026-11-29T00:00:00.000Z',
  createdBy: 'slack:U123ABC',
  updatedAt: '2026-11-29T00:10:00.000Z',
  heldByWindow: false,
  seq: 7,
  ...o,
});
/** An entry as the notifier reads it back: parsed into the typed union (a weight write wrote, in one attempt). */
const entry = (o: Record<string, unknown>): HistoryEntry => {
  const r = parseHistoryRecord({
    at: 1_700_000_000_000,
    ...(o.type === 'weight' ? { wrote: true, attempts: 1 } : {}),
    ...o,
  });
  if (r.type === 'unreadable') throw new Error(r.error);
  return { ...r, id: '1-0', seq: 1 };
};
const verdictOf = (e: HistoryEntry): VerdictRecord => {
  if (e.type !== 'verdict') throw new Error(`not a verdict: ${e.type}`);
  return e;
};
const VIRTUAL_SERVICE: RouteName = { kind: 'VirtualService', namespace: 'shop', name: 'productcatalog' };
const HTTP_ROUTE: RouteName = { kind: 'HTTPRoute', namespace: 'shop', name: 'productcatalog' };
const ctx = (route: RouteName = VIRTUAL_SERVICE): EntryContext => ({
  id: 'cart-1a2b3c',
  route,
  verdicts: 'changes',
});

describe('Slack formatting', () => {
  it('mentions Slack users and quotes anything else', () => {
    expect(who('slack:U123ABC')).toBe('<@U123ABC>');
    expect(who('ci-bot')).toBe('`ci-bot`');
    expect(who(undefined)).toBe('`someone`');
  });

  it('the parent message shows phase, weight bar, steps and escapes names', () => {
    const m = parentMessage(view({ name: '<b>&', reason: 'x < y' }));
    expect(m.text).toBe('meshshift cart-1a2b3c: shifting at 25 % (x < y)');
    const body = JSON.stringify(m.blocks);
    expect(body).toContain('&lt;b&gt;&amp;');
    expect(body).toContain('25 %* on Kubernetes ███░░░░░░░');
    expect(body).toContain('1 → 5 → 10 → 25 → 50 → 100');
  });

  it('status says what is possible now, from the view (the engine), not from a copy of the rules', () => {
    expect(statusMessage(view(), [])).toMatch(/possible now: promote, pause, abort/);
    expect(statusMessage(view({ phase: 'paused', possible: ['RESUME', 'ABORT'] }), [])).toMatch(
      /possible now: resume, abort/,
    );
    expect(statusMessage(view({ phase: 'completed', possible: [] }), [])).toMatch(
      /the migration has finished/,
    );
  });

  it('verdicts keep their numbers: checks with limits and both sides’ requests', () => {
    const text = verdictText(
      verdictOf(
        entry({
          type: 'verdict',
          outcome: 'fail',
          weight: 10,
          summary: 'error rate 5.00 % exceeds 1.00 %',
          checks: [{ name: 'error-rate', outcome: 'fail', observed: 0.05, threshold: 0.01 }],
          sample: {
            source: { requests: 9000, errors: 9 },
            target: { requests: 1000, errors: 50 },
            windowMs: 120_000,
          },
        }),
      ),
    );
    expect(text).toContain('at 10 %');
    expect(text).toContain('`error-rate`');
    expect(text).toMatch(/requests over 120 s: VMs 9000 req \/ 9 err · Kubernetes 1000 req \/ 50 err/);
  });

  it('offers approval buttons once per gate, and says loudly when a rollback write fails', () => {
    const c = ctx();
    const gate = entryMessages(entry({ type: 'phase', phase: 'awaitingApproval', weight: 50 }), c);
    expect(gate).toHaveLength(1);
    expect(JSON.stringify(gate[0]!.blocks)).toContain('meshshift:promote');
    expect(entryMessages(entry({ type: 'phase', phase: 'awaitingApproval', weight: 50 }), c)).toEqual([]);
    const loud = entryMessages(
      entry({ type: 'rollbackRetry', attempt: 3, retryAt: 1_700_000_004_000, error: 'HTTP 500' }),
      c,
    );
    expect(loud[0]!.text).toMatch(/Rollback write failed\* \(attempt 3\): HTTP 500/);
  });

  it('a failed preflight names each failed check by its id, with the fix (issue 22)', () => {
    const checks = [
      { id: 'virtualservice', ok: false, message: 'shop/productcatalog not found', fix: 'create it first' },
      { id: 'prometheus', ok: true, message: 'reachable' },
    ];
    const [m] = entryMessages(entry({ type: 'preflight', ok: false, checks, initialWeight: 0 }), ctx());
    expect(m!.text).toContain('Preflight failed');
    expect(m!.text).toContain('• virtualservice: shop/productcatalog not found — create it first');
    expect(m!.text).not.toContain('?');
    expect(m!.text).not.toContain('prometheus');
  });

  it('a preflight that found an existing split says the weight is inherited', () => {
    const [m] = entryMessages(entry({ type: 'preflight', ok: true, checks: [], initialWeight: 20 }), ctx());
    expect(m!.text).toMatch(/starting weight 20 %, inherited/);
  });

  describe.each([
    ['HTTPRoute', HTTP_ROUTE],
    ['VirtualService', VIRTUAL_SERVICE],
  ])('names the route it shifts: %s', (kind, route) => {
    const label = `${kind} shop/productcatalog`;
    const texts = (e: Record<string, unknown>) => entryMessages(entry(e), ctx(route)).map((m) => m.text);

    it('in the parent message, the status and the list', () => {
      expect(JSON.stringify(parentMessage(view({ route })).blocks)).toContain(`cart on ${label}`);
      expect(statusMessage(view({ route }), [])).toContain(`cart on ${label} — `);
      expect(listMessage([view({ route })])).toContain(`\`cart-1a2b3c\` ${label} — `);
    });

    it('in each step, the rollback and the outcome', () => {
      expect(texts({ type: 'weight', previous: 5, weight: 10 })).toEqual([
        `:arrow_right: *Step* of ${label}: weight 5 % → *10 %* on Kubernetes`,
      ]);
      expect(texts({ type: 'weight', previous: 10, weight: 0, rollback: true })[0]).toContain(
        `*Rollback* of ${label}: weight 10 % → 0 %`,
      );
      expect(texts({ type: 'phase', phase: 'completed', weight: 100 })).toEqual([
        `:tada: *Completed*: ${label} sends 100 % of the traffic to Kubernetes.`,
      ]);
      for (const phase of ['rolledBack', 'aborted'])
        expect(texts({ type: 'phase', phase, weight: 0, reason: 'why' })[0]).toContain(
          `: why. ${label} sends all traffic to the VMs.`,
        );
    });

    it('and never the other kind', () => {
      const other = kind === 'HTTPRoute' ? 'VirtualService' : 'HTTPRoute';
      const all = [
        JSON.stringify(parentMessage(view({ route })).blocks),
        statusMessage(view({ route }), []),
        ...texts({ type: 'weight', previous: 5, weight: 10 }),
        ...texts({ type: 'phase', phase: 'completed', weight: 100 }),
      ];
      for (const t of all) expect(t).not.toContain(other);
    });
  });

  it('escapes the route as any name', () => {
    const route: RouteName = { kind: 'HTTPRoute', namespace: 'a<b', name: 'c&d' };
    expect(statusMessage(view({ route }), [])).toContain('HTTPRoute a&lt;b/c&amp;d');
  });

  it('lists migrations, or says there are none', () => {
    expect(listMessage([])).toBe('No migrations yet.');
    expect(listMessage([view(), view({ id: 'b', weight: 100, phase: 'completed' })])).toMatch(
      /2 most recent migrations/,
    );
  });
});
