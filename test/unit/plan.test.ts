import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { ValidationError, formatFieldError } from '../../src/plan/errors.js';
import { listPolicies, loadPolicy, parsePlan, scalePolicy } from '../../src/plan/load.js';
import { parseDuration, formatDuration } from '../../src/plan/duration.js';
import { GOOD_PLAN as GOOD } from '../harness/plan-fixtures.js';

function errorsOf(text: string): string[] {
  try {
    parsePlan(text, 'plan.yaml');
  } catch (err) {
    if (err instanceof ValidationError) return err.errors.map((e) => formatFieldError('plan.yaml', e));
    throw err;
  }
  return [];
}

describe('durations', () => {
  it('parses and formats', () => {
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('30 sec')).toBeUndefined();
    expect(parseDuration('')).toBeUndefined();
    expect(formatDuration(90_000)).toBe('1m30s');
    expect(formatDuration(1500)).toBe('1500ms');
  });
});

describe('plan validation', () => {
  it('accepts a good plan and resolves its policy', () => {
    const p = parsePlan(GOOD, 'plan.yaml');
    expect(p.mode).toBe('subsets');
    expect(p.policyName).toBe('default');
    expect(p.policy.steps).toEqual([1, 5, 10, 25, 50, 100]);
    expect(p.policy.analysis.interval).toBe(10_000);
  });

  it('names every bad field with its line and a fix', () => {
    const bad = GOOD.replace('    subset: vm\n', '    subnet: vm\n')
      .replace('namespace: shop', 'namespace: Shop_1')
      .replace(
        'policy: default',
        'policy:\n    steps: [5, 1, 100]\n    stepDuration: 30 sec\n    analysis: { interval: 10s, window: 5s }\n    slo: { errorRate: { max: 1.5 } }',
      );
    const errs = errorsOf(bad);
    expect(errs).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^plan\.yaml:11:5 spec\.source\.subnet: unknown field; did you mean "subset"\?/,
        ),
        expect.stringMatching(/^plan\.yaml:6:\d+ spec\.namespace: namespace must be a DNS-1123 label/),
        expect.stringMatching(/spec\.policy\.steps: steps must strictly increase/),
        expect.stringMatching(
          /spec\.policy\.stepDuration: expected a positive duration such as "30s", "1m" or "1m30s", got "30 sec"/,
        ),
        expect.stringMatching(/spec\.policy\.slo\.errorRate\.max: .*write 0\.01 for 1 %/),
      ]),
    );
  });

  it('cross-field rules: window shorter than interval, approval gate not on a step', () => {
    const errs = errorsOf(
      GOOD.replace(
        'policy: default',
        'policy:\n    steps: [5, 100]\n    stepDuration: 30s\n    analysis: { interval: 10s, window: 5s }\n    slo: { errorRate: { max: 0.01 } }\n    approvals: [{ atWeight: 50 }]',
      ),
    );
    expect(errs.join('\n')).toMatch(
      /spec\.policy\.analysis\.window: window must be at least as long as interval/,
    );
    expect(errs.join('\n')).toMatch(
      /spec\.policy\.approvals\[0\]\.atWeight: approval gate at 50 % is not one of the steps \[5, 100\]/,
    );
  });

  it('requires subsets when both sides share a host, and explains the alternative', () => {
    const errs = errorsOf(GOOD.replace('    subset: k8s\n', ''));
    expect(errs.join('\n')).toMatch(
      /spec\.target\.subset: both sides use host .* target\.subset is required .* or give target\.host/,
    );
  });

  it('accepts a two-host plan', () => {
    const p = parsePlan(
      GOOD.replace('    subset: vm\n', '').replace(
        '    subset: k8s\n',
        '    host: productcatalogservice-k8s.shop.svc.cluster.local\n',
      ),
      'plan.yaml',
    );
    expect(p.mode).toBe('hosts');
    expect(p.target.destination).toEqual({ host: 'productcatalogservice-k8s.shop.svc.cluster.local' });
  });

  it('unknown policy names list the available ones', () => {
    expect(errorsOf(GOOD.replace('policy: default', 'policy: defualt')).join()).toMatch(
      /spec\.policy: policy "defualt" not found .*available: argo-defaults, cautious, default, flagger-defaults/,
    );
  });

  it('missing required fields are named', () => {
    const errs = errorsOf(GOOD.replace('    deployment: productcatalogservice\n', ''));
    expect(errs.join()).toMatch(/spec\.target\.deployment: is required/);
  });

  it('YAML syntax errors carry the line', () => {
    expect(errorsOf('apiVersion: x\n  bad: [\n')[0]).toMatch(
      /^plan\.yaml:\d+:\d+ \(document\): YAML syntax error/,
    );
  });

  it('wrong kind / apiVersion are explicit', () => {
    expect(errorsOf(GOOD.replace('kind: MigrationPlan', 'kind: Plan')).join()).toMatch(
      /kind: kind must be "MigrationPlan"/,
    );
  });
});

describe('shipped policies', () => {
  it('all validate', () => {
    expect(listPolicies()).toEqual(expect.arrayContaining(['cautious', 'default', 'flagger-defaults']));
    for (const name of listPolicies()) expect(loadPolicy(name).spec.steps.at(-1)).toBe(100);
  });
  it('flagger-defaults reproduces Flagger’s documented defaults', () => {
    const f = loadPolicy('flagger-defaults').spec;
    expect(f.steps).toEqual([10, 20, 30, 40, 50, 100]);
    expect(f.analysis.interval).toBe(60_000);
    expect(f.slo.errorRate).toMatchObject({ max: 0.01, failureThreshold: 5 });
    expect(f.slo.latency?.p99).toMatchObject({ maxMs: 500, failureThreshold: 5 });
    expect(readFileSync(loadPolicy('flagger-defaults').file, 'utf8')).toMatch(/threshold 5/);
  });
  it('scalePolicy compresses time and per-window request minimums together', () => {
    const d = loadPolicy('default').spec;
    const s = scalePolicy(d, 0.05);
    expect(s.analysis.window).toBe(6000);
    expect(s.stepDuration).toBe(d.stepDuration * 0.05);
    expect(s.analysis.minRequests).toBe(3);
  });
});

describe('honest settings (issue 19)', () => {
  const withPolicy = (policy: string) =>
    GOOD.replace(
      'policy: default',
      `policy:
    steps: [10, 100]
    stepDuration: 1m
    analysis: { interval: 10s, window: 1m, method: sequential${policy.includes('confidence') ? ', confidence: 0.9' : ''} }
    slo:
      errorRate: { max: 0.01${policy.includes('failureThreshold') ? ', failureThreshold: 2' : ''} }
      latency: { p50: { maxRatioToSource: 1.25${policy.includes('minDeltaMs') ? ', minDeltaMs: 10' : ''} } }`,
    );

  it('a field the sequential method ignores is refused, naming it and why', () => {
    for (const field of ['confidence', 'failureThreshold', 'minDeltaMs']) {
      let err: unknown;
      try {
        parsePlan(withPolicy(field), 'p.yaml');
      } catch (e) {
        err = e;
      }
      expect(err, field).toBeInstanceOf(ValidationError);
      expect(String((err as Error).message)).toMatch(
        new RegExp(`${field} is not used with analysis.method sequential`),
      );
    }
    expect(() => parsePlan(withPolicy(''), 'p.yaml')).not.toThrow();
  });

  it('a field only the sequential method reads is refused with the window method, naming it', () => {
    for (const [field, yaml] of [
      ['maxBake', 'maxBake: 1h'],
      ['holdWhileSuspect', 'holdWhileSuspect: 6m'],
      ['detectBeforePromotion', 'detectBeforePromotion: { errorRatio: 1.5 }'],
    ] as const) {
      const plan = withPolicy('').replace('method: sequential', `method: window, ${yaml}`);
      expect(() => parsePlan(plan, 'p.yaml'), field).toThrow(
        new RegExp(
          `${field} is only used with analysis.method sequential .*set method: sequential or remove it`,
        ),
      );
      expect(() => parsePlan(plan.replace('method: window', 'method: sequential'), 'p.yaml')).not.toThrow();
    }
  });

  it('the shipped default policy sets no field its method ignores, and its new settings', () => {
    const p = loadPolicy('default').spec;
    expect(p.analysis.holdWhileSuspect).toBe(360_000);
    expect(p.analysis.maxBake).toBe(7200_000);
    expect(p.analysis.postPromotionWatch).toBe(600_000);
    expect(scalePolicy(p, 0.05).analysis.postPromotionWatch).toBe(30_000);
  });
});
