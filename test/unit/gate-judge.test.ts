/**
 * The judge on scripted evidence (issue 15, items 2 and 3): noisy but healthy analyses must not pause a
 * migration, and one error among a few dozen requests — however increase() extrapolates it — must not roll back.
 */
import { describe, expect, it } from 'vitest';
import { freshMemory, judge, nextStep, type Decision, type JudgeConfig } from '../../src/gate/judge.js';
import type { GateSample, SideSample } from '../../src/gate/types.js';
import { evaluate } from '../../src/gate/checks/verdict.js';
import { goldenSignalsQuery } from '../../src/gate/input/promql.js';
import { loadPolicy } from '../../src/plan/load.js';
import type { PolicySpec } from '../../src/plan/policy-schema.js';

const sequential = loadPolicy('default').spec;
expect(sequential.analysis.method).toBe('sequential');
/** The window method with the margin the issue's run used (0.1 point over the VMs). */
const windowed: PolicySpec = {
  ...sequential,
  analysis: { ...sequential.analysis, method: 'window' },
  slo: { ...sequential.slo, errorRate: { ...sequential.slo.errorRate!, maxIncreaseOverSource: 0.001 } },
};

const cfg = (p: PolicySpec): JudgeConfig => ({
  windowMs: p.analysis.window,
  intervalMs: p.analysis.interval,
  stepDurationMs: p.stepDuration,
  minPassesPerStep: p.analysis.minPassesPerStep,
  inconclusiveLimit: p.analysis.inconclusiveLimit,
  inconclusiveAction: p.analysis.inconclusiveAction,
});

const side = (requests: number, errors: number): SideSample => ({
  requests,
  errors,
  latencyMs: { p50: 20, p99: 80 },
});

/**
 * Errors per 10-second interval on each side, 30 requests each (a quiet service at 25 %): about 0.3 % on both
 * sides, but any one 2-minute window may show one or two errors on the target and none on the VMs.
 */
const TARGET_ERRORS = [
  0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0,
];
const SOURCE_ERRORS = [
  0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
];
const PER_INTERVAL = 30;

function scriptedRun(policy: PolicySpec): { decisions: Decision[]; summaries: string[] } {
  const t0 = 1_700_000_000_000;
  let memory = freshMemory();
  const decisions: Decision[] = [];
  const summaries: string[] = [];
  const windowIntervals = policy.analysis.window / 10_000;
  for (let i = 1; i <= TARGET_ERRORS.length; i++) {
    const at = t0 + i * 10_000;
    const sum = (xs: number[], from: number) => xs.slice(from, i).reduce((a, b) => a + b, 0);
    const from = policy.analysis.method === 'sequential' ? 0 : Math.max(0, i - windowIntervals);
    const n = (i - from) * PER_INTERVAL;
    // The sequential method's evidence: 30-second bins (three intervals each, the last one partial).
    const bins = Array.from({ length: Math.ceil(i / 3) }, (_, b) => {
      const [lo, hi] = [b * 3, Math.min(i, b * 3 + 3)];
      const count = (xs: number[]) => xs.slice(lo, hi).reduce((a, x) => a + x, 0);
      const bin = (k: number) => ({
        requests: (hi - lo) * PER_INTERVAL,
        errors: k,
        buckets: [],
        latencyCount: 0,
      });
      return {
        start: t0 + lo * 10_000,
        end: t0 + hi * 10_000,
        source: bin(count(SOURCE_ERRORS)),
        target: bin(count(TARGET_ERRORS)),
      };
    });
    const sample: GateSample = {
      at,
      windowMs: policy.analysis.window,
      source: side(n, sum(SOURCE_ERRORS, from)),
      target: side(n, sum(TARGET_ERRORS, from)),
      custom: {},
      queries: 1,
      ...(policy.analysis.method === 'sequential' ? { since: t0, evidenceSince: t0, batches: bins } : {}),
    };
    const verdict = evaluate(policy, sample, 25);
    const r = judge(cfg(policy), memory, verdict, { startedAt: t0, weight: 25, guarding: false });
    memory = r.memory;
    decisions.push(r.decision);
    summaries.push(`${verdict.outcome}: ${verdict.summary}`);
  }
  return { decisions, summaries };
}

describe('judge on scripted evidence (issue 15)', () => {
  it('2: noisy windows were inconclusive one by one under the window method', () => {
    const { summaries } = scriptedRun(windowed);
    const inconclusive = summaries.filter((s) => s.startsWith('inconclusive'));
    expect(inconclusive.length).toBeGreaterThanOrEqual(6);
    expect(
      inconclusive.filter((x) => /vs 0\.00 % on the source \(allowed \+0\.10 %\)/.test(x)).length,
    ).toBeGreaterThanOrEqual(6);
  });

  it('2: the same noisy but healthy run neither pauses nor rolls back, and advances after the bake', () => {
    const { decisions, summaries } = scriptedRun(sequential);
    expect(decisions.filter((d) => d.kind === 'pause' || d.kind === 'rollback')).toEqual([]);
    expect(decisions.some((d) => d.kind === 'advance')).toBe(true);
    expect(summaries.at(-1)).toMatch(/^pass: error rate .* vs SLO 1\.00 % \(evidence/);
  });

  it('3: one error among 21 requests (extrapolated by increase() to 1.46) is not a rollback', () => {
    const extrapolated: GateSample = {
      at: 0,
      windowMs: 60_000,
      source: side(40_000, 20),
      target: side(21, 1.46),
      custom: {},
      queries: 1,
    };
    const old = evaluate(
      { ...windowed, slo: { ...windowed.slo, errorRate: { max: 0.01, failureThreshold: 1 } } },
      extrapolated,
      1,
    );
    expect(old.outcome).not.toBe('fail');
    expect(old.summary).toMatch(/1\/21|only 21 requests/);
    const exact = evaluate(
      sequential,
      { ...extrapolated, target: side(21, 1), since: 0, evidenceSince: 0 },
      1,
    );
    expect(exact.checks.filter((c) => c.outcome === 'fail')).toEqual([]);
    const r = judge(cfg(sequential), freshMemory(), exact, { startedAt: 0, weight: 1, guarding: false });
    expect(r.decision.kind).not.toBe('rollback');
  });

  it('a regression the evidence shows is rolled back at once, with its numbers — but not on one bin alone', () => {
    const bin = (n: number, k: number) => ({ requests: n, errors: k, buckets: [], latencyCount: 0 });
    const bad: GateSample = {
      at: 60_000,
      windowMs: 60_000,
      since: 0,
      evidenceSince: 0,
      source: side(40_000, 200),
      target: side(400, 24),
      batches: [
        { source: bin(20_000, 100), target: bin(200, 12) },
        { source: bin(20_000, 100), target: bin(200, 12) },
      ],
      custom: {},
      queries: 1,
    };
    // The same counts in one 30-s bin: one burst never decides alone.
    const oneBin = evaluate(
      sequential,
      { ...bad, batches: [{ source: bin(40_000, 200), target: bin(400, 24) }] },
      1,
    );
    expect(oneBin.outcome).not.toBe('fail');
    const v = evaluate(sequential, bad, 1);
    const r = judge(cfg(sequential), freshMemory(), v, { startedAt: 0, weight: 1, guarding: false });
    expect(r.decision).toMatchObject({ kind: 'rollback', cause: 'regression' });
    expect((r.decision as { reason: string }).reason).toMatch(/error rate 6\.00 % \(24\/400.*evidence/);
  });

  it('Flagger semantics: failed checks add up across passes, and no data is a failed check', () => {
    const flagger = loadPolicy('flagger-defaults').spec;
    let memory = freshMemory();
    let last: Decision = { kind: 'hold' };
    const samples = [
      side(100, 2),
      side(100, 0),
      side(100, 3),
      side(0, 0),
      side(100, 0),
      side(100, 2),
      side(100, 5),
    ];
    samples.forEach((target, i) => {
      const v = evaluate(
        flagger,
        { at: i * 60_000, windowMs: 60_000, source: side(0, 0), target, custom: {}, queries: 1 },
        10,
      );
      const r = judge(cfg(flagger), memory, v, { startedAt: 0, weight: 10, guarding: false });
      memory = r.memory;
      if (r.decision.kind === 'rollback' && last.kind !== 'rollback') last = r.decision;
    });
    // Failures at 0, 2, 3 (no data), 5, 6: the fifth failed check rolls back although passes came between.
    expect(last).toMatchObject({ kind: 'rollback' });
    const decided = last as Decision;
    expect(decided.kind === 'rollback' && decided.reason).toMatch(/^analysis failed/);
  });

  it('Flagger semantics: one counter for the analysis — two checks failing together count once', () => {
    const flagger = loadPolicy('flagger-defaults').spec;
    let memory = freshMemory();
    const kinds: string[] = [];
    for (let i = 0; i < 5; i++) {
      // Errors and p99 both fail in each of these analyses: Flagger counts one failed analysis each time.
      const slow = { requests: 100, errors: 5, latencyMs: { p99: 900 } };
      const v = evaluate(
        flagger,
        { at: i * 60_000, windowMs: 60_000, source: side(0, 0), target: slow, custom: {}, queries: 1 },
        10,
      );
      expect(v.checks.filter((c) => c.outcome === 'fail').map((c) => c.name)).toEqual([
        'error-rate',
        'p99',
        'analysis',
      ]);
      const r = judge(cfg(flagger), memory, v, { startedAt: 0, weight: 10, guarding: false });
      memory = r.memory;
      kinds.push(r.decision.kind);
    }
    expect(kinds).toEqual(['hold', 'hold', 'hold', 'hold', 'rollback']);
  });

  it('Flagger semantics: its success rate counts HTTP 5xx only (gRPC failures under HTTP 200 pass)', () => {
    expect(loadPolicy('flagger-defaults').spec.slo.errorRate?.codes).toBe('5xx');
    expect(goldenSignalsQuery({ source: {}, target: {} }, 'destination', 60_000, [], false)).not.toMatch(
      /grpc_response_status/,
    );
    expect(goldenSignalsQuery({ source: {}, target: {} }, 'destination', 60_000, [])).toMatch(
      /grpc_response_status/,
    );
  });
});

describe('waiting holds, it does not pause (issue 19)', () => {
  const base: JudgeConfig = { ...cfg(sequential), maxBakeMs: 20 * 60_000, postPromotionWatchMs: 10 * 60_000 };
  const verdict = (at: number, waiting: boolean): Parameters<typeof judge>[2] => ({
    outcome: 'inconclusive',
    at,
    weight: 50,
    summary: 'holding: promotion to 100 % waits …',
    checks: [
      { name: 'error-rate', outcome: 'pass', failureThreshold: 1, message: 'ok' },
      {
        name: 'error-rate-vs-source',
        outcome: 'inconclusive',
        failureThreshold: 1,
        message: 'holding',
        ...(waiting ? { waiting } : {}),
      },
    ],
  });

  it('an hour of waiting analyses holds until maxBake, then pauses saying why', () => {
    let memory = freshMemory();
    const kinds: string[] = [];
    for (let t = 10_000; t <= 25 * 60_000; t += 10_000) {
      const r = judge(base, memory, verdict(t, true), { startedAt: 0, weight: 50, guarding: false });
      memory = r.memory;
      kinds.push(r.decision.kind);
      if (r.decision.kind === 'pause') {
        expect(t).toBe(20 * 60_000);
        expect(r.decision.reason).toMatch(
          /held 20m at 50 % waiting for the evidence to promote, the policy's maxBake/,
        );
        break;
      }
    }
    expect(kinds.filter((k) => k === 'hold').length).toBe(119);
  });

  it('missing evidence (not waiting) still pauses after inconclusiveLimit windows', () => {
    let memory = freshMemory();
    let paused = 0;
    for (let t = 10_000; t <= 20 * 60_000 && !paused; t += 10_000) {
      const r = judge(base, memory, verdict(t, false), { startedAt: 0, weight: 50, guarding: false });
      memory = r.memory;
      if (r.decision.kind === 'pause') paused = t;
    }
    expect(paused).toBeGreaterThan(0);
    expect(paused).toBeLessThan(20 * 60_000);
  });

  it('the 100 % step bakes for the post-promotion watch', () => {
    const pass = (at: number) => ({
      ...verdict(at, false),
      outcome: 'pass' as const,
      weight: 100,
      checks: [],
    });
    const step = { startedAt: 0, weight: 100, guarding: false };
    let memory = judge(base, freshMemory(), pass(60_000), step).memory;
    expect(judge(base, memory, pass(5 * 60_000), step).decision.kind).toBe('hold');
    memory = judge(base, memory, pass(5 * 60_000), step).memory;
    expect(judge(base, memory, pass(10 * 60_000), step).decision.kind).toBe('advance');
  });
});

describe('suspect evidence holds the step (holdWhileSuspect)', () => {
  const base: JudgeConfig = { ...cfg(sequential), suspectHoldMs: 6 * 60_000 };
  const verdict = (at: number, suspect: boolean): Parameters<typeof judge>[2] => ({
    outcome: 'pass',
    at,
    weight: 25,
    summary: 'pass',
    checks: [
      {
        name: 'error-rate-vs-source',
        outcome: 'pass',
        failureThreshold: 1,
        message: 'evidence 30, rolls back at 500; a third of the way to a rollback',
        ...(suspect ? { suspect } : {}),
      },
    ],
  });
  const firstAdvance = (cfgUsed: JudgeConfig, suspectUntil: number): number | undefined => {
    let memory = freshMemory();
    for (let t = 10_000; t <= 20 * 60_000; t += 10_000) {
      const r = judge(cfgUsed, memory, verdict(t, t <= suspectUntil), {
        startedAt: 0,
        weight: 25,
        guarding: false,
      });
      memory = r.memory;
      expect(r.decision.kind).not.toBe('pause');
      if (r.decision.kind === 'advance') return t;
    }
    return undefined;
  };

  it('a suspect check holds a baked step until it clears', () => {
    expect(firstAdvance(base, 0)).toBe(3 * 60_000);
    expect(firstAdvance(base, 5 * 60_000)).toBe(5 * 60_000 + 10_000);
  });

  it('holds at most holdWhileSuspect past the bake, then advances on its evidence', () => {
    expect(firstAdvance(base, Infinity)).toBe(9 * 60_000);
  });

  it('a step ready only late (waiting for the power to promote) is held from when it is ready, not from its bake', () => {
    const waitingUntil = 12 * 60_000;
    let memory = freshMemory();
    let advancedAt: number | undefined;
    for (let t = 10_000; t <= 30 * 60_000 && advancedAt === undefined; t += 10_000) {
      const v = verdict(t, true);
      const waiting: typeof v = {
        ...v,
        outcome: 'inconclusive',
        checks: v.checks.map((c) => ({ ...c, outcome: 'inconclusive' as const, waiting: true })),
      };
      const r = judge(base, memory, t < waitingUntil ? waiting : v, {
        startedAt: 0,
        weight: 50,
        guarding: false,
      });
      memory = r.memory;
      expect(r.decision.kind).not.toBe('pause');
      if (r.decision.kind === 'advance') advancedAt = t;
    }
    // Ready at the second pass after the wait (minPassesPerStep 2), held 6 minutes from there.
    expect(memory.readyAt).toBe(waitingUntil + 10_000);
    expect(advancedAt).toBe(waitingUntil + 10_000 + 6 * 60_000);
    expect(nextStep(memory).readyAt).toBeUndefined();
  });

  it('without the setting, a baked step advances whatever its evidence leans to', () => {
    const { suspectHoldMs: _unset, ...plain } = base;
    expect(firstAdvance(plain, Infinity)).toBe(3 * 60_000);
  });
});

describe('a failure at 100 % steps back once (the VMs serve nothing there to compare with)', () => {
  const base = cfg(sequential);
  const failing = (at: number, weight: number): Parameters<typeof judge>[2] => ({
    outcome: 'fail',
    at,
    weight,
    summary: 'p99-vs-source failed',
    checks: [
      {
        name: 'p99-vs-source',
        outcome: 'fail',
        failureThreshold: 1,
        message: '2.4 % of target requests over 127 ms = 1.2× the VMs’ p99',
      },
    ],
  });

  it('steps back to the previous weight with the reason, then rolls back on a second failure at 100 %', () => {
    const watch = { startedAt: 0, weight: 100, guarding: false, previousWeight: 50 };
    const first = judge(base, freshMemory(), failing(60_000, 100), watch);
    expect(first.decision.kind).toBe('stepBack');
    const reason = first.decision.kind === 'stepBack' ? first.decision.reason : '';
    expect(reason).toMatch(/p99-vs-source failed at 100 %: 2\.4 %/);
    expect(reason).toMatch(/back to 50 % to compare them like for like/);
    expect(first.memory.steppedBack).toBe(60_000);
    // The step back keeps the mark across steps: promoted again, a second failure at 100 % rolls back.
    const again = nextStep(nextStep(first.memory));
    const second = judge(base, again, failing(30 * 60_000, 100), { ...watch, startedAt: 25 * 60_000 });
    expect(second.decision.kind).toBe('rollback');
  });

  it('below 100 %, held, or with no step before, a failure rolls back as always', () => {
    const decide = (weight: number, guarding: boolean, previousWeight?: number) =>
      judge(base, freshMemory(), failing(60_000, weight), {
        startedAt: 0,
        weight,
        guarding,
        ...(previousWeight !== undefined ? { previousWeight } : {}),
      }).decision.kind;
    expect(decide(50, false, 25)).toBe('rollback');
    expect(decide(100, true, 50)).toBe('rollback');
    expect(decide(100, false)).toBe('rollback');
  });
});
