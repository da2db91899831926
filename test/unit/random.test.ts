import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../src/sim/random.js';

describe('mulberry32', () => {
  it('repeats the sequence seeded fixtures and fault schedules were made with', () => {
    const r = mulberry32(42);
    expect([r(), r(), r()]).toEqual([0.6011037519201636, 0.44829055899754167, 0.8524657934904099]);
  });

  it('stays in [0, 1) and differs between seeds', () => {
    const r = mulberry32(7);
    const xs = Array.from({ length: 10_000 }, () => r());
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(mulberry32(8)()).not.toBe(mulberry32(7)());
  });
});
