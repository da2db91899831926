import { describe, expect, it } from 'vitest';
import type { SideSample, Verdict } from '../../src/gate/types.js';
import {
  inconclusiveReason,
  initialStory,
  lastNumbers,
  storyLines,
  storyStep,
  summaryLines,
  type StoryEvent,
  type Style,
} from '../../src/sim/demo/story.js';

const side = (requests: number, errors: number, p99: number): SideSample => ({
  requests,
  errors,
  latencyMs: { p99 },
});

function verdict(
  outcome: Verdict['outcome'],
  weight: number,
  summary: string,
  sample?: { source: SideSample; target: SideSample },
): Verdict {
  return {
    outcome,
    at: 0,
    weight,
    summary,
    checks:
      outcome === 'fail'
        ? [
            {
              name: 'error-rate',
              outcome: 'fail',
              failureThreshold: 1,
              message: 'error rate 11.56 % exceeds 1.00 %',
            },
            { name: 'p99', outcome: 'fail', failureThreshold: 2, message: 'p99 900 ms > 500 ms' },
          ]
        : [],
    ...(sample
      ? {
          sample: {
            at: 0,
            windowMs: 6000,
            source: sample.source,
            target: sample.target,
            custom: {},
            queries: 4,
          },
        }
      : {}),
  };
}

const v = (at: number, x: Verdict): StoryEvent => ({ type: 'verdict', at, verdict: x });
const w = (at: number, weight: number, previous: number, rollback = false): StoryEvent => ({
  type: 'weight',
  at,
  weight,
  previous,
  wrote: true,
  attempts: 1,
  ...(rollback ? { rollback } : {}),
});
const ok = { source: side(3211, 3, 94), target: side(385, 0, 98) };

const regression: StoryEvent[] = [
  { type: 'started', at: 0, migration: 'svc-to-k8s', policy: 'default', steps: [1, 5, 10], resumed: false },
  { type: 'preflight', at: 0, ok: true, checks: [], initialWeight: 0 },
  w(0, 1, 0),
  v(500, verdict('inconclusive', 1, 'no requests reached the target in the window')),
  v(1000, verdict('inconclusive', 1, 'no requests reached the target in the window')),
  v(1500, verdict('pass', 1, 'error rate 0.00 % ≤ 1.00 %', ok)),
  w(6000, 5, 1),
  v(6500, verdict('pass', 5, 'fine', ok)),
  v(7000, verdict('pass', 5, 'fine', ok)),
  w(12000, 10, 5),
  { type: 'fault', at: 12001, description: 'the containers now fail 20 % of requests' },
  v(12500, verdict('pass', 10, 'fine', ok)),
  v(14000, verdict('fail', 10, 'error rate 11.56 % exceeds 1.00 % (≥ 7.61 % at 99 %)', ok)),
  {
    type: 'phase',
    at: 14000,
    phase: 'rollingBack',
    weight: 10,
    reason: 'error-rate failed 1× in a row at 10 %',
  },
  w(14001, 0, 10, true),
  {
    type: 'finished',
    at: 14002,
    phase: 'rolledBack',
    weight: 0,
    reason: 'error-rate failed',
    durationMs: 14002,
  },
];

describe('demo story', () => {
  it('tells one line per step, every non-pass verdict once in full, the fault and the rollback', () => {
    const lines = storyLines(regression);
    expect(lines).toEqual([
      '  migration svc-to-k8s, policy default: steps 1 → 5 → 10 %',
      '  preflight passed (0 checks)',
      '      ? inconclusive: too little traffic — too few requests reached the target to judge it: the step holds (at 1 %: no requests reached the target in the window)',
      '  step 1/3     1 %   6.0 s  1 analysis passed, 2 inconclusive: too little traffic; last: target 0.00 % errors, p99 98 ms (385 req) | source 0.09 % errors, p99 94 ms (3,211 req)',
      '  step 2/3     5 %   6.0 s  2 analyses passed; last: target 0.00 % errors, p99 98 ms (385 req) | source 0.09 % errors, p99 94 ms (3,211 req)',
      '  ⚡ FAULT INJECTED: the containers now fail 20 % of requests',
      '      ✗ FAIL at 10 %: error rate 11.56 % exceeds 1.00 % (≥ 7.61 % at 99 %)',
      '        p99: p99 900 ms > 500 ms',
      '  step 3/3    10 %   2.0 s  1 analysis passed, 1 failed; last: target 0.00 % errors, p99 98 ms (385 req) | source 0.09 % errors, p99 94 ms (3,211 req)',
      '  ⟲ ROLLBACK at 10 %: error-rate failed 1× in a row at 10 %',
      '  weight back to 0 % target: 100 % on the source',
      '  ⟲ rolled back: 100 % on the source after 14.0 s',
    ]);
  });

  it('a healthy migration: one line per step, inconclusive analyses summed per step, each reason explained once', () => {
    const steps = [1, 5, 10, 25, 50, 100];
    const undecided = (weight: number, i: number) =>
      verdict('inconclusive', weight, `error rate 0.${i}1 % vs 0.00 % on the source (allowed +0.00 %)`, ok);
    const events: StoryEvent[] = [
      { type: 'started', at: 0, migration: 'svc-to-k8s', policy: 'default', steps, resumed: false },
      { type: 'preflight', at: 0, ok: true, checks: [], initialWeight: 0 },
    ];
    steps.forEach((weight, k) => {
      const t0 = k * 6000;
      events.push(w(t0, weight, steps[k - 1] ?? 0));
      if (k === 0)
        events.push(
          v(t0 + 100, verdict('inconclusive', weight, 'no requests reached the target in the window')),
        );
      for (let i = 0; i < 4; i++) events.push(v(t0 + 500 + i * 500, undecided(weight, i)));
      for (let i = 0; i < 6; i++) events.push(v(t0 + 3000 + i * 400, verdict('pass', weight, 'fine', ok)));
    });
    events.push({ type: 'finished', at: 36_000, phase: 'completed', weight: 100, durationMs: 36_000 });
    const lines = storyLines(events);
    expect(lines.length).toBeLessThanOrEqual(15);
    expect(lines.filter((l) => /^ {2}step \d\/6 /.test(l))).toHaveLength(6);
    expect(lines.filter((l) => l.includes('? inconclusive: '))).toEqual([
      '      ? inconclusive: too little traffic — too few requests reached the target to judge it: the step holds (at 1 %: no requests reached the target in the window)',
      '      ? inconclusive: waiting for evidence — the numbers are not yet enough to tell pass from fail: the step holds until they are (at 1 %: error rate 0.01 % vs 0.00 % on the source (allowed +0.00 %))',
    ]);
    expect(lines.find((l) => l.startsWith('  step 1/6'))).toContain(
      '6 analyses passed, 5 inconclusive: too little traffic ×1, waiting for evidence ×4;',
    );
    expect(lines.find((l) => l.startsWith('  step 3/6'))).toContain(
      '6 analyses passed, 4 inconclusive: waiting for evidence;',
    );
    // each message once
    expect(new Set(lines).size).toBe(lines.length);
    // --verbose: the full line of every analysis comes back
    const verbose = storyLines(events, { verbose: true });
    expect(verbose.filter((l) => /^ {6}inconclusive at/.test(l))).toHaveLength(25);
  });

  it('names the reason of an inconclusive analysis from its checks', () => {
    const with1 = (message: string): Verdict => ({
      ...verdict('inconclusive', 5, 'x'),
      checks: [{ name: 'c', outcome: 'inconclusive', failureThreshold: 1, message }],
    });
    expect(inconclusiveReason(with1('metrics unavailable: timeout'))).toBe('metrics unavailable');
    expect(inconclusiveReason(with1('only 12 requests to the target since the step started (need 50)'))).toBe(
      'too little traffic',
    );
    expect(inconclusiveReason(with1('p99 latency of the target is unknown (no histogram data)'))).toBe(
      'no data',
    );
    expect(inconclusiveReason(with1('error rate 0.51 % vs 0.00 % on the source (allowed +0.00 %)'))).toBe(
      'waiting for evidence',
    );
  });

  it('--verbose keeps one line per analysis as well', () => {
    const quiet = storyLines(regression);
    const verbose = storyLines(regression, { verbose: true, analysisLine: (e) => `A ${e.verdict.outcome}` });
    const analyses = regression.filter((e) => e.type === 'verdict').length;
    expect(verbose.filter((l) => l.startsWith('A '))).toHaveLength(analyses);
    // The step lines, the fault and the rollback are all still there.
    for (const l of quiet.filter((x) => /step \d|FAULT|ROLLBACK/.test(x))) expect(verbose).toContain(l);
  });

  it('highlights through the style, keeping plain-text markers', () => {
    const style: Style = {
      bold: (s) => `<b>${s}</b>`,
      dim: (s) => s,
      red: (s) => `<r>${s}</r>`,
      green: (s) => s,
      yellow: (s) => s,
    };
    const lines = storyLines(regression, { style });
    expect(lines).toContain('<b><r>  ⚡ FAULT INJECTED: the containers now fail 20 % of requests</r></b>');
    expect(lines.some((l) => l.startsWith('<b><r>  ⟲ ROLLBACK'))).toBe(true);
  });

  it('streams: the step line comes when the step ends, not before', () => {
    const st = initialStory();
    expect(storyStep(st, regression[0]!)).toHaveLength(1);
    expect(storyStep(st, w(0, 1, 0))).toEqual([]);
    expect(storyStep(st, v(500, verdict('pass', 1, 'fine', ok)))).toEqual([]);
    expect(storyStep(st, w(6000, 5, 1))[0]).toMatch(/^ {2}step 1\/3 +1 % +6\.0 s {2}1 analysis passed;/);
    expect(st.reached).toEqual([1, 5]);
  });

  it('prints a repeated verdict with the same numbers once and counts it in the step line', () => {
    const fail = verdict('fail', 100, 'p99 971 ms > 500 ms', ok);
    const lines = storyLines([
      w(0, 100, 50),
      v(500, fail),
      v(1000, fail),
      v(1500, verdict('fail', 100, 'p99 866 ms > 500 ms', ok)),
      w(6000, 0, 100, true),
    ]);
    expect(lines.filter((l) => l.includes('✗ FAIL'))).toEqual([
      '      ✗ FAIL at 100 %: p99 971 ms > 500 ms',
      '      ✗ FAIL at 100 %: p99 866 ms > 500 ms',
    ]);
    expect(lines.find((l) => l.includes('100 %   6.0 s'))).toContain('0 analyses passed, 3 failed;');
  });

  it('says a failed rollback write in full', () => {
    const st = initialStory();
    expect(
      storyStep(st, { type: 'rollbackRetry', at: 1000, attempt: 2, retryAt: 3000, error: 'HTTP 500' }),
    ).toEqual([
      '  ⟲ ROLLBACK WRITE FAILED (attempt 2): HTTP 500; traffic is still on the target, retrying in 2.0 s',
    ]);
  });

  it('says so when a side had no traffic or no sample', () => {
    expect(lastNumbers(undefined)).toBe('no analysis yet');
    expect(
      lastNumbers(verdict('pass', 100, 'ok', { source: side(0, 0, NaN), target: side(10, 1, 50) })),
    ).toBe('last: target 10.00 % errors, p99 50 ms (10 req) | source no traffic');
    expect(lastNumbers(verdict('pass', 1, 'error rate 0.00 %'))).toBe('last: error rate 0.00 %');
  });

  it('summarises steps reached, time, reason, both sides and the fault', () => {
    const lines = summaryLines({
      title: 'regression',
      phase: 'rolledBack',
      reason: 'error-rate failed 1× in a row at 10 %',
      durationMs: 14_200,
      reached: [1, 5, 10],
      steps: [1, 5, 10, 25, 50, 100],
      source: { requests: 10_049, errors: 14 },
      target: { requests: 339, errors: 27 },
      fault: { description: 'the containers fail 20 %', detectMs: 2011, failedRequests: 27 },
    });
    expect(lines).toEqual([
      'regression: rolledBack in 14.2 s; steps reached 1 → 5 → 10 % (3/6)',
      '    source 10,049 requests, 14 errors (0.14 %); target 339 requests, 27 errors (7.96 %)',
      '    rollback reason: error-rate failed 1× in a row at 10 %',
      '    fault: the containers fail 20 %; rolled back 2.0 s after the fault; 27 failed requests reached the target meanwhile',
    ]);
  });
});
