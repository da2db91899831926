/** A sequential check flags evidence a third of the way to a rollback or more (in ln): the judge holds the step on it. */
import { describe, expect, it } from 'vitest';
import { SUSPECT_SHARE, toCheck, type Test } from '../../src/gate/checks/sequential-common.js';

const test = (logE: number, ready = true): Test => ({
  name: 'error-rate-vs-source',
  logE,
  level: Math.log(500),
  observed: 0.01,
  threshold: 0.005,
  numbers: 'error rate 1.00 % vs 0.50 % on the VMs',
  ready,
  notReady: 'waiting',
  notReadyOutcome: 'inconclusive',
});

describe('suspect evidence', () => {
  const third = SUSPECT_SHARE * Math.log(500);

  it('passes without a flag below a third of the way', () => {
    const c = toCheck(test(third - 0.01));
    expect(c.outcome).toBe('pass');
    expect(c.suspect).toBeUndefined();
    expect(c.message).not.toMatch(/a third of the way/);
  });

  it('flags a pass a third of the way and says the step holds', () => {
    const c = toCheck(test(third));
    expect(c).toMatchObject({ outcome: 'pass', suspect: true });
    expect(c.message).toMatch(
      /evidence 7\.9, rolls back at 5\.0e\+2; a third of the way to a rollback: a step ready to advance holds until it clears/,
    );
  });

  it('flags a check that is not ready yet too (it still holds once ready)', () => {
    expect(toCheck(test(third + 1, false))).toMatchObject({ outcome: 'inconclusive', suspect: true });
  });

  it('a crossing fails, whatever the flag', () => {
    expect(toCheck(test(Math.log(500))).outcome).toBe('fail');
  });
});
