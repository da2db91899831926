/**
 * mulberry32: a tiny, fast, seedable PRNG returning numbers in [0, 1) — the same sequence for the same seed on
 * every platform. The simulator's traffic and latencies, the chaos soak's fault schedule and the tests' generated
 * inputs all draw from it.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal draw from uniform draws `u` (Box–Muller). */
export function normalFrom(u: () => number): number {
  return Math.sqrt(-2 * Math.log(u() || 1e-12)) * Math.cos(2 * Math.PI * u());
}

/** A Poisson draw with the given mean: by inversion for small means, the normal approximation above 50. */
export function poissonFrom(u: () => number, mean: number): number {
  if (!(mean > 0)) return 0;
  if (mean > 50) return Math.max(0, Math.round(mean + Math.sqrt(mean) * normalFrom(u)));
  let k = 0;
  let p = Math.exp(-mean);
  let c = p;
  const x = u();
  while (x > c) {
    k++;
    p *= mean / k;
    c += p;
  }
  return k;
}
