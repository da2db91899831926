/** Seeded random numbers for the traffic model: uniform, normal, Poisson, binomial. Deterministic per seed. */

/** murmur3's 32-bit finalizer: every input bit reaches every output bit. */
function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * One stream's seed from its parts (integers and names): `streamSeed(seed, scenario, 'traffic')`. Each part is
 * hashed in, exactly in 32-bit arithmetic, so streams of different scenarios, purposes, keys or slots are
 * unrelated; arithmetic like `seed * 1_000_003 + slot` overflows 2^53 and lets nearby seeds share stretches of
 * one stream.
 */
export function streamSeed(...parts: ReadonlyArray<number | string>): number {
  let h = 0x811c9dc5;
  for (const part of parts) {
    if (typeof part === 'string') for (let i = 0; i < part.length; i++) h = fmix32(h ^ part.charCodeAt(i));
    else h = fmix32(h ^ (part >>> 0)) ^ fmix32(Math.floor(part / 4294967296) >>> 0);
    h = fmix32(Math.imul(h, 0x9e3779b1) + 0x7f4a7c15);
  }
  return h;
}

export class Rng {
  private state: number;

  /** `seed`: any integer; use streamSeed to derive one per purpose. */
  constructor(seed: number) {
    this.state = fmix32(Math.imul(seed, 0x9e3779b1) ^ 0x5bd1e995) || 1;
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
