import { describe, expect, it } from 'vitest';
import { Rng, streamSeed } from '../../bench/decisions/random.js';
import { slotFactor } from '../../bench/decisions/noise.js';

const draws = (seed: number, n: number) => {
  const r = new Rng(seed);
  return Array.from({ length: n }, () => r.next());
};

describe('decisions bench random streams', () => {
  it('are deterministic per (seed, scenario, purpose) and differ across them', () => {
    expect(streamSeed(16280, 'healthy')).toBe(streamSeed(16280, 'healthy'));
    expect(draws(streamSeed(16280, 'healthy'), 5)).toEqual(draws(streamSeed(16280, 'healthy'), 5));
    const seen = new Set<number>();
    for (const scenario of ['healthy', 'scrape-phase', 'bursty-side-200'])
      for (let seed = 16001; seed <= 16400; seed++) seen.add(streamSeed(seed, scenario));
    expect(seen.size).toBe(1200);
  });

  it('give two scenarios on one seed no common stretch of draws', () => {
    // The bench once seeded every scenario's request stream from the seed alone; streams that consume draws
    // differently drift apart and realign, so scenarios shared luck (healthy vs scrape-phase: correlation 0.32).
    for (const seed of [3, 16280, 17001]) {
      const a = new Set(draws(streamSeed(streamSeed(seed, 'healthy'), 'requests'), 20_000));
      const b = draws(streamSeed(streamSeed(seed, 'scrape-phase'), 'requests'), 20_000);
      expect(b.filter((x) => a.has(x)).length).toBeLessThan(5); // ~0.1 expected by chance
    }
  });

  it('keeps nearby seeds and slots apart, which seed arithmetic beyond 2^53 did not', () => {
    // Before: new Rng(seed * 1_000_003 + slot) multiplied past 2^53, zeroing the state's low bits.
    const states = new Set<number>();
    for (let slot = 0; slot < 5000; slot++) states.add(new Rng(streamSeed(16280, 'slot', 1, slot)).next());
    expect(states.size).toBe(5000);
  });

  it('slot factors: mean 1, the log-normal spread, no correlation from slot to slot', () => {
    const sigma = 0.8;
    const stream = streamSeed(17001, 'bursty-side-200');
    const logs: number[] = [];
    let sum = 0;
    const n = 20_000;
    for (let slot = 0; slot < n; slot++) {
      const f = slotFactor(stream, 1, slot, sigma);
      sum += f;
      logs.push(Math.log(f) + (sigma * sigma) / 2);
    }
    const sd = Math.sqrt(logs.reduce((a, x) => a + x * x, 0) / n);
    let lag = 0;
    for (let i = 1; i < n; i++) lag += logs[i]! * logs[i - 1]!;
    expect(sum / n).toBeGreaterThan(0.97);
    expect(sum / n).toBeLessThan(1.03);
    expect(Math.abs(sd - sigma)).toBeLessThan(0.02);
    expect(Math.abs(lag / (n - 1) / (sigma * sigma))).toBeLessThan(0.03); // SE ≈ 0.007
  });
});
