/** Log-normal latency sampling for the simulated backends; behaviour validation. */
import { mulberry32 } from '../random.js';
import type { BackendBehavior } from './types.js';

/** z-score of the 99th percentile of the standard normal distribution. */
const Z99 = 2.3263;

/**
 * Stand-alone latency sampler (same algorithm as the backends use), handy for
 * tests and for picking behaviour parameters.
 */
export function createLatencySampler(seed: number, latency: BackendBehavior['latency']): () => number {
  const s = new LatencySampler(mulberry32(seed));
  s.configure(latency);
  return () => s.sample();
}

export class LatencySampler {
  private mu = 0;
  private sigma = 0;
  private floor = 0;
  private spare: number | undefined;

  constructor(private readonly rng: () => number) {}

  configure(l: BackendBehavior['latency']): void {
    this.mu = Math.log(l.p50Ms);
    this.sigma = Math.log(l.p99Ms / l.p50Ms) / Z99;
    this.floor = l.floorMs ?? 0;
  }

  private normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.rng();
    const v = this.rng();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  sample(): number {
    const x = this.sigma === 0 ? Math.exp(this.mu) : Math.exp(this.mu + this.sigma * this.normal());
    // setTimeout cannot take more than 2^31-1 ms.
    return Math.min(Math.max(x, this.floor), 2_000_000_000);
  }
}

export function validateBehavior(name: string, b: BackendBehavior): void {
  const { p50Ms, p99Ms, floorMs } = b.latency;
  if (!(p50Ms > 0) || !(p99Ms >= p50Ms) || !Number.isFinite(p99Ms)) {
    throw new Error(`backend ${name}: latency needs 0 < p50Ms <= p99Ms (got p50Ms=${p50Ms}, p99Ms=${p99Ms})`);
  }
  if (floorMs !== undefined && !(floorMs >= 0)) {
    throw new Error(`backend ${name}: floorMs must be >= 0`);
  }
  if (!(b.errorRate >= 0 && b.errorRate <= 1)) {
    throw new Error(`backend ${name}: errorRate must be within [0, 1]`);
  }
  const g = b.grpcErrorRate ?? 0;
  if (!(g >= 0 && g <= 1)) throw new Error(`backend ${name}: grpcErrorRate must be within [0, 1]`);
}
