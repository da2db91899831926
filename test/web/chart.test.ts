/** The dashboard's chart scales, time labels, legend values and step label (pure), and where `serve` says it is. */
import { describe, expect, it } from 'vitest';
import { dashboardNote } from '../../src/serve/start.js';
import {
  elapsedLabel,
  maxOf,
  niceCeil,
  rangeOf,
  tickLabel,
  timeUnitOf,
  valueAtOrBefore,
  valueLabel,
  weightRange,
} from '../../src/web/chart-scale.js';
import { chartData, quantileOfBuckets } from '../../src/web/chart-data.js';
import { stepLabel } from '../../src/engine/step-label.js';

describe('chart scales', () => {
  it('each axis is scaled to its data, with headroom, on nice numbers', () => {
    expect(niceCeil(0.37, 0.1)).toBe(0.4);
    expect(niceCeil(21.3, 0.1)).toBe(25);
    expect(niceCeil(88, 10)).toBe(100);
    expect(niceCeil(0, 10)).toBe(10);
    expect(niceCeil(Number.NaN, 1)).toBe(1);
    // Errors at 0.1 % and 0.2 %: the axis ends at 0.25 %, not at 1 % or 100 %.
    expect(rangeOf([[0.1, null, 0.2], [null]], 0.1)).toEqual([0, 0.25]);
    expect(rangeOf([[null], [null]], 0.1)).toEqual([0, 0.1]);
    expect(
      maxOf([
        [0.1, null],
        [3, 2],
      ]),
    ).toBe(3);
    expect(maxOf([[null]])).toBe(0);
    expect(rangeOf([[20, 80], [95]], 10)).toEqual([0, 125]); // 104.5 → 125
  });

  it('the weight axis ends at the highest weight written (a rollback at 5 % reads on 0–5 %), 100 from 50 on', () => {
    expect(weightRange([0, 1, 5, 0])).toEqual([0, 5]);
    expect(weightRange([0, 1])).toEqual([0, 1]);
    expect(weightRange([0, 10, 25])).toEqual([0, 25]);
    expect(weightRange([0, 50])).toEqual([0, 100]);
    expect(weightRange([null, 0])).toEqual([0, 1]);
  });

  it('time reads in minutes for a real-duration run, in seconds for a compressed one', () => {
    expect(timeUnitOf(40)).toBe('s');
    expect(timeUnitOf(299)).toBe('s');
    expect(timeUnitOf(35 * 60)).toBe('min');
    expect(tickLabel(15, 's')).toBe('15 s');
    expect(tickLabel(600, 'min')).toBe('10 min');
    expect(tickLabel(5400, 'min')).toBe('1 h 30 min');
    expect(tickLabel(7200, 'min')).toBe('2 h');
    expect(elapsedLabel(754)).toBe('+12:34');
    expect(elapsedLabel(3723)).toBe('+1:02:03');
    expect(elapsedLabel(-3)).toBe('+0:00');
  });

  it('the legend shows the last sample at or before the cursor, with its unit', () => {
    const v = [null, 0.5, null, null, 2];
    expect(valueAtOrBefore(v, 0)).toBeNull();
    expect(valueAtOrBefore(v, 3)).toBe(0.5);
    expect(valueAtOrBefore(v, 4)).toBe(2);
    expect(valueAtOrBefore(v, 99)).toBe(2);
    expect(valueLabel(null, '%')).toBe('–');
    expect(valueLabel(0, '%')).toBe('0 %');
    expect(valueLabel(0.123, '%')).toBe('0.12 %');
    expect(valueLabel(1.234, '%')).toBe('1.23 %');
    expect(valueLabel(21.43, '%')).toBe('21.4 %');
    expect(valueLabel(87.4, 'ms')).toBe('87 ms');
    expect(valueLabel(412.6, 'ms')).toBe('413 ms');
  });
});

describe('latency of a sequential sample (no quantiles: the step’s histogram)', () => {
  it('reads p50/p99 from cumulative buckets as histogram_quantile does', () => {
    const bounds = [10, 25, 50, 100];
    expect(quantileOfBuckets([0, 40, 90, 100], 100, 0.5, bounds)).toBe(30);
    expect(quantileOfBuckets([0, 40, 90, 100], 100, 0.99, bounds)).toBe(95);
    expect(quantileOfBuckets([0, 0, 0, 10], 20, 0.99, bounds)).toBe(100); // in +Inf: the highest bound
    expect(quantileOfBuckets([], 0, 0.5, bounds)).toBeNull();
    // Istio's default bounds when the side has no bounds of its own.
    expect(quantileOfBuckets([0, 0, 0, 0, 0, 100], 100, 0.5)).toBe(37.5);
    const d = chartData([
      {
        type: 'verdict',
        at: 1000,
        outcome: 'pass',
        weight: 10,
        summary: 'ok',
        checks: [],
        sample: {
          windowMs: 60_000,
          queries: 1,
          source: {
            requests: 100,
            errors: 1,
            latencyMs: {},
            buckets: [0, 40, 90, 100],
            latencyCount: 100,
            bounds,
          },
          target: { requests: 10, errors: 0, latencyMs: { p50: 12, p99: 40 } },
        },
      },
    ]);
    expect([d.sourceP50, d.sourceP99, d.targetP50, d.targetP99]).toEqual([[30], [95], [12], [40]]);
  });
});

describe('step label', () => {
  const steps = [1, 5, 10, 25, 50, 100];
  it('says which step a rolled-back or aborted migration was rolled back from', () => {
    expect(stepLabel({ phase: 'rolledBack', weight: 0, steps, stepsReached: 2 })).toBe('2/6 (rolled back)');
    expect(stepLabel({ phase: 'rollingBack', weight: 5, steps, stepsReached: 2 })).toBe('2/6 (rolling back)');
    expect(stepLabel({ phase: 'aborted', weight: 0, steps, stepsReached: 4 })).toBe('4/6 (aborted)');
    expect(stepLabel({ phase: 'failed', weight: 0, steps, stepsReached: 0 })).toBe('0/6 (failed)');
    expect(stepLabel({ phase: 'shifting', weight: 10, steps, stepsReached: 3 })).toBe('3/6');
    expect(stepLabel({ phase: 'completed', weight: 100, steps, stepsReached: 6 })).toBe('6/6');
    // A view from before stepsReached counts the steps at or below the weight.
    expect(stepLabel({ phase: 'paused', weight: 25, steps })).toBe('4/6');
  });
});

describe('serve says where the dashboard is, or why it is off', () => {
  it('names the URL, or the missing tokens file, or the role', () => {
    expect(dashboardNote('all', true, 'http://127.0.0.1:8080')).toEqual({
      url: 'http://127.0.0.1:8080/ui/',
      message: 'dashboard at http://127.0.0.1:8080/ui/ (sign in with a token from --tokens-file)',
    });
    expect(dashboardNote('api', false, 'http://127.0.0.1:8080').message).toBe(
      'dashboard off: no --tokens-file (people sign in to the dashboard with a token from that file)',
    );
    expect(dashboardNote('worker', true, 'http://x').message).toMatch(/^dashboard off: --role worker/);
    expect(dashboardNote('controller', true, 'http://x').url).toBeUndefined();
  });
});
