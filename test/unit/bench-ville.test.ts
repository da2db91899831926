/** The decisions bench's Ville check (pure): how often healthy runs' evidence reached 20 and 100. */
import { describe, expect, it } from 'vitest';
import type { CheckResult } from '../../src/gate/types.js';
import type { RunRow } from '../../bench/decisions/results.js';
import { formatVille, recordEvidence, villeRows, type MaxEvidence } from '../../bench/decisions/ville.js';

const check = (name: string, logEvidence?: number): CheckResult => ({
  name,
  outcome: 'pass',
  failureThreshold: 1,
  message: '',
  ...(logEvidence !== undefined ? { logEvidence, logLevel: 6.2 } : {}),
});

const run = (seed: number, maxEvidence: MaxEvidence | undefined, family: RunRow['family'] = 'healthy') =>
  ({
    scenario: 'bursty',
    family,
    policy: 'default',
    seed,
    ...(maxEvidence ? { maxEvidence } : {}),
  }) as RunRow;

const at = (e: number) => ({ logE: Math.log(e), level: 6.2 });

describe('Ville check', () => {
  it('keeps the highest evidence each check reached, ignoring checks without one (window method)', () => {
    const max: MaxEvidence = {};
    recordEvidence(max, [check('error-rate', 0.5), check('p99', 2), check('window-only')]);
    recordEvidence(max, [check('error-rate', 1.5), check('p99', -1)]);
    expect(max).toEqual({ 'error-rate': { logE: 1.5, level: 6.2 }, p99: { logE: 2, level: 6.2 } });
  });

  it('counts the runs whose evidence reached 20 and 100, per check and for any check', () => {
    const rows = [
      ...Array.from({ length: 80 }, (_, i) => run(i, { 'error-rate': at(1), p99: at(2) })),
      ...Array.from({ length: 15 }, (_, i) => run(100 + i, { 'error-rate': at(30), p99: at(1) })),
      ...Array.from({ length: 5 }, (_, i) => run(200 + i, { 'error-rate': at(150), p99: at(25) })),
      run(300, undefined),
      run(301, { 'error-rate': at(1000) }, 'regression'),
    ];
    const [v] = villeRows(rows);
    expect(v).toMatchObject({ scenario: 'bursty', runs: 100, worst: 'error-rate' });
    expect(v!.reached.map((r) => r.k)).toEqual([20, 5]);
    expect(v!.anyReached.map((r) => r.k)).toEqual([20, 5]);
    // 20 in 100 reached 20: the lower bound (13.5 %) is above Ville's 5 %, so the guarantee is broken here.
    expect(v!.reached[0]!.low).toBeGreaterThan(0.05);
    expect(formatVille(rows)).toMatch(/Guarantee broken .* in: bursty \(default\)/);
  });

  it('judges every check at every mark, not only the one that most often reached 20', () => {
    // error-rate reaches 20 most often (9 runs, within 5 % by its lower bound); p99 reaches 100 in 8 of 100.
    const rows = Array.from({ length: 100 }, (_, i) =>
      run(i, { 'error-rate': at(i < 9 ? 25 : 2), p99: at(i >= 90 && i < 98 ? 150 : 1) }),
    );
    const [v] = villeRows(rows);
    expect(v!.worst).toBe('error-rate');
    expect(v!.reached[0]!.low).toBeLessThan(0.05);
    expect(v!.broken).toBe(true);
    expect(formatVille(rows)).toMatch(/Guarantee broken .* in: bursty \(default\)/);
  });

  it('says the guarantee held when no check beats the bound, and prints nothing without recorded evidence', () => {
    const rows = Array.from({ length: 100 }, (_, i) => run(i, { 'error-rate': at(i < 3 ? 25 : 2) }));
    expect(villeRows(rows)[0]!.reached[0]!.k).toBe(3);
    expect(formatVille(rows)).toMatch(/No cell shows/);
    expect(formatVille([run(1, undefined)])).toBe('');
  });
});
