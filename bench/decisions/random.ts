/** Seeded random numbers for the traffic model: uniform, normal, Poisson, binomial. Deterministic per seed. */

export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = (seed * 2654435761) >>> 0 || 1;
  }

  /** mulberry32: uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  normal(): number {
    const u = Math.max(this.next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  poisson(lambda: number): number {
    if (!(lambda > 0)) return 0;
    if (lambda < 30) {
      const limit = Math.exp(-lambda);
      let k = 0;
      let p = this.next();
      while (p > limit) {
        k++;
        p *= this.next();
      }
      return k;
    }
    return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * this.normal()));
  }

  binomial(n: number, p: number): number {
    if (n <= 0 || p <= 0) return 0;
    if (p >= 1) return n;
    if (n < 40) {
      let k = 0;
      for (let i = 0; i < n; i++) if (this.next() < p) k++;
      return k;
    }
    const mean = n * p;
    if (p > 0.5) return n - this.binomial(n, 1 - p);
    if (mean < 15) return Math.min(n, this.poisson(mean));
    const k = Math.round(mean + Math.sqrt(mean * (1 - p)) * this.normal());
    return Math.min(n, Math.max(0, k));
  }

  /** Splits n draws across categories with the given probabilities (summing to ≤ 1; the rest is the last). */
  multinomial(n: number, probs: readonly number[]): number[] {
    const out: number[] = [];
    let left = n;
    let mass = 1;
    for (const p of probs) {
      const k = mass > 0 ? this.binomial(left, Math.min(1, p / mass)) : 0;
      out.push(k);
      left -= k;
      mass -= p;
    }
    out.push(left);
    return out;
  }
}
